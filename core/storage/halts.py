"""The halts repository: which accounts are halted, kept across restarts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.storage.db import Tx, format_time, parse_time


@dataclass(frozen=True, slots=True)
class HaltRow:
    account: str  # "*" for every account
    reason: str
    user_id: int | None
    halted_at: datetime


class HaltRepository:
    async def set(self, tx: Tx, row: HaltRow) -> None:
        await tx.execute(
            "INSERT OR REPLACE INTO halts (account, reason, user_id, halted_at) VALUES (?,?,?,?)",
            (row.account, row.reason, row.user_id, format_time(row.halted_at)),
        )

    async def clear(self, tx: Tx, account: str | None) -> int:
        """Remove one account's halt, or every halt when ``account`` is None."""
        if account is None:
            return await tx.execute("DELETE FROM halts")
        return await tx.execute("DELETE FROM halts WHERE account=?", (account,))

    async def all(self, tx: Tx) -> list[HaltRow]:
        rows = await tx.fetchall(
            "SELECT account, reason, user_id, halted_at FROM halts ORDER BY account"
        )
        return [HaltRow(r[0], r[1], r[2], parse_time(r[3])) for r in rows]
