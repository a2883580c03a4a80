"""The broker-sessions repository (tokens arrive here already encrypted)."""

from __future__ import annotations

from datetime import datetime

from core.storage.db import Tx, format_time


class SessionRepository:
    async def save(
        self, tx: Tx, account: str, token_encrypted: str, user_id: str, now: datetime
    ) -> None:
        await tx.execute(
            "INSERT OR REPLACE INTO broker_sessions (account, token_encrypted, user_id,"
            " logged_in_at) VALUES (?,?,?,?)",
            (account, token_encrypted, user_id, format_time(now)),
        )

    async def load(self, tx: Tx, account: str) -> str | None:
        row = await tx.fetchone(
            "SELECT token_encrypted FROM broker_sessions WHERE account=?", (account,)
        )
        return None if row is None else str(row[0])
