"""The outbox repository: events waiting to reach people, in the order they happened."""

from __future__ import annotations

import json
from datetime import datetime

from core.domain.alerts import Event, EventKind
from core.storage.db import Statement, Tx, format_time, parse_time


def add_statement(event: Event, now: datetime) -> Statement:
    """The INSERT of one alert into the outbox."""
    return (
        "INSERT INTO outbox (kind, account, payload, created_at) VALUES (?,?,?,?)",
        (event.kind.value, event.account, json.dumps(event.data), format_time(now)),
    )


class OutboxRepository:
    async def add(self, tx: Tx, event: Event, now: datetime) -> None:
        await tx.run(add_statement(event, now))

    async def pending(self, tx: Tx, limit: int = 100) -> list[Event]:
        """Undelivered events, oldest first."""
        rows = await tx.fetchall(
            "SELECT id, kind, account, payload, created_at FROM outbox"
            " WHERE delivered_at IS NULL ORDER BY id LIMIT ?",
            (limit,),
        )
        return [
            Event(
                kind=EventKind(row["kind"]),
                account=row["account"],
                data=json.loads(row["payload"]),
                id=int(row["id"]),
                created_at=parse_time(row["created_at"]),
            )
            for row in rows
        ]

    async def mark_delivered(self, tx: Tx, ids: list[int], now: datetime) -> None:
        marks = ",".join("?" for _ in ids)
        await tx.execute(
            f"UPDATE outbox SET delivered_at=? WHERE id IN ({marks}) AND delivered_at IS NULL",
            [format_time(now), *ids],
        )

    async def mark_attempt(self, tx: Tx, ids: list[int]) -> None:
        marks = ",".join("?" for _ in ids)
        await tx.execute(f"UPDATE outbox SET attempts = attempts + 1 WHERE id IN ({marks})", ids)

    async def count_pending(self, tx: Tx) -> int:
        row = await tx.fetchone("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL")
        return int(row[0]) if row else 0
