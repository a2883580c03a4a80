"""The halts and stored-secrets repositories (secrets arrive here already sealed)."""

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


@dataclass(frozen=True, slots=True)
class SecretRow:
    account: str
    name: str
    sealed: str
    updated_at: datetime


class SecretRepository:
    async def put(self, tx: Tx, row: SecretRow) -> None:
        await tx.execute(
            "INSERT OR REPLACE INTO secrets (account, name, sealed, updated_at) VALUES (?,?,?,?)",
            (row.account, row.name, row.sealed, format_time(row.updated_at)),
        )

    async def delete(self, tx: Tx, account: str, name: str) -> int:
        return await tx.execute("DELETE FROM secrets WHERE account=? AND name=?", (account, name))

    async def all(self, tx: Tx) -> list[SecretRow]:
        rows = await tx.fetchall(
            "SELECT account, name, sealed, updated_at FROM secrets ORDER BY account, name"
        )
        return [SecretRow(r[0], r[1], r[2], parse_time(r[3])) for r in rows]
