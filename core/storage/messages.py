"""Front-end message bookkeeping: ticket messages and per-chat alert deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.storage.db import Tx, format_time


@dataclass(frozen=True, slots=True)
class MessageRef:
    chat_id: int
    message_id: int


class MessageRepository:
    async def remember_ticket(self, tx: Tx, ticket_id: str, ref: MessageRef) -> None:
        await tx.execute(
            "INSERT OR REPLACE INTO ticket_messages (ticket_id, chat_id, message_id)"
            " VALUES (?,?,?)",
            (ticket_id, ref.chat_id, ref.message_id),
        )

    async def link_order(self, tx: Tx, ticket_id: str, client_order_id: str) -> None:
        await tx.execute(
            "UPDATE ticket_messages SET client_order_id=? WHERE ticket_id=?",
            (client_order_id, ticket_id),
        )

    async def ticket(self, tx: Tx, ticket_id: str) -> MessageRef | None:
        row = await tx.fetchone(
            "SELECT chat_id, message_id FROM ticket_messages WHERE ticket_id=?", (ticket_id,)
        )
        return None if row is None else MessageRef(int(row[0]), int(row[1]))

    async def for_order(self, tx: Tx, client_order_id: str) -> MessageRef | None:
        row = await tx.fetchone(
            "SELECT chat_id, message_id FROM ticket_messages WHERE client_order_id=?",
            (client_order_id,),
        )
        return None if row is None else MessageRef(int(row[0]), int(row[1]))

    async def delivered_to(self, tx: Tx, chat_id: int, outbox_ids: list[int]) -> set[int]:
        """Which of these alerts the chat already has."""
        if not outbox_ids:
            return set()
        marks = ",".join("?" for _ in outbox_ids)
        rows = await tx.fetchall(
            f"SELECT outbox_id FROM alert_deliveries WHERE chat_id=? AND outbox_id IN ({marks})",
            [chat_id, *outbox_ids],
        )
        return {int(row[0]) for row in rows}

    async def mark_delivered(
        self, tx: Tx, chat_id: int, outbox_ids: list[int], now: datetime
    ) -> None:
        for outbox_id in outbox_ids:
            await tx.execute(
                "INSERT OR IGNORE INTO alert_deliveries (outbox_id, chat_id, at) VALUES (?,?,?)",
                (outbox_id, chat_id, format_time(now)),
            )
