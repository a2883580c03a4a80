"""The stored-secrets repository: broker secrets, which arrive here already sealed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.storage.db import Tx, format_time, parse_time


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
