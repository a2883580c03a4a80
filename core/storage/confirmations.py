"""The confirmations repository. A confirmation leaves PENDING exactly once, atomically."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from core.storage.db import Row, Tx, format_time, parse_time


class ConfirmationRow:
    """A stored confirmation as read back."""

    __slots__ = (
        "action",
        "chat_id",
        "created_at",
        "expires_at",
        "id",
        "payload",
        "state",
        "user_id",
    )

    def __init__(self, row: Row) -> None:
        self.id: str = row["id"]
        self.user_id: int = int(row["user_id"])
        self.chat_id: int = int(row["chat_id"])
        self.action: str = row["action"]
        self.payload: dict[str, Any] = json.loads(row["payload"])
        self.state: str = row["state"]
        self.created_at: datetime = parse_time(row["created_at"])
        self.expires_at: datetime = parse_time(row["expires_at"])


class ConfirmationRepository:
    async def insert(
        self,
        tx: Tx,
        *,
        confirmation_id: str,
        user_id: int,
        chat_id: int,
        action: str,
        payload: dict[str, Any],
        created_at: datetime,
        expires_at: datetime,
    ) -> None:
        await tx.execute(
            "INSERT INTO confirmations (id, user_id, chat_id, action, payload, created_at,"
            " expires_at) VALUES (?,?,?,?,?,?,?)",
            (
                confirmation_id,
                user_id,
                chat_id,
                action,
                json.dumps(payload, sort_keys=True),
                format_time(created_at),
                format_time(expires_at),
            ),
        )

    async def decide(
        self, tx: Tx, confirmation_id: str, user_id: int, state: str, now: datetime
    ) -> bool:
        """Move a live PENDING confirmation of ``user_id`` to ``state``; False if it was not."""
        changed = await tx.execute(
            "UPDATE confirmations SET state=?, decided_at=? WHERE id=? AND user_id=?"
            " AND state='PENDING' AND expires_at > ?",
            (state, format_time(now), confirmation_id, user_id, format_time(now)),
        )
        return changed == 1

    async def get(self, tx: Tx, confirmation_id: str) -> ConfirmationRow | None:
        row = await tx.fetchone("SELECT * FROM confirmations WHERE id=?", (confirmation_id,))
        return None if row is None else ConfirmationRow(row)

    async def expire_due(self, tx: Tx, now: datetime) -> int:
        return await tx.execute(
            "UPDATE confirmations SET state='EXPIRED', decided_at=?"
            " WHERE state='PENDING' AND expires_at <= ?",
            (format_time(now), format_time(now)),
        )
