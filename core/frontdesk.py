"""What a chat front-end needs from storage besides the desk: where its tickets are, which
alerts each chat already has, and the audit log. Front-ends never touch SQL themselves."""

from __future__ import annotations

from core.domain.clock import Clock
from core.storage.audit import AuditRepository
from core.storage.db import Database
from core.storage.messages import MessageRef, MessageRepository


class FrontDeskStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.messages = MessageRepository()
        self.audit_log = AuditRepository()

    async def remember_ticket(self, ticket_id: str, chat_id: int, message_id: int) -> None:
        async with self.db.transaction() as tx:
            await self.messages.remember_ticket(tx, ticket_id, MessageRef(chat_id, message_id))

    async def link_order(self, ticket_id: str, client_order_id: str) -> None:
        async with self.db.transaction() as tx:
            await self.messages.link_order(tx, ticket_id, client_order_id)

    async def ticket_message(self, ticket_id: str) -> MessageRef | None:
        async with self.db.read() as tx:
            return await self.messages.ticket(tx, ticket_id)

    async def order_message(self, client_order_id: str) -> MessageRef | None:
        async with self.db.read() as tx:
            return await self.messages.for_order(tx, client_order_id)

    async def undelivered(self, chat_id: int, outbox_ids: list[int]) -> list[int]:
        async with self.db.read() as tx:
            done = await self.messages.delivered_to(tx, chat_id, outbox_ids)
        return [i for i in outbox_ids if i not in done]

    async def mark_delivered(self, chat_id: int, outbox_ids: list[int]) -> None:
        async with self.db.transaction() as tx:
            await self.messages.mark_delivered(tx, chat_id, outbox_ids, self.clock.now())

    async def audit(self, user_id: int | None, action: str, detail: str = "") -> None:
        async with self.db.transaction() as tx:
            await self.audit_log.add(tx, self.clock.now(), user_id, action, detail)
