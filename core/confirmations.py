"""Confirmations: an order-changing action waits here until its user presses Confirm.

A confirmation has an opaque random id, belongs to one user and chat, is single use and expires
(60 s by default). It is stored, so a restart neither loses a live one nor brings back a used or
expired one. Deciding is one atomic UPDATE: of two presses, exactly one wins.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from core.domain.clock import Clock
from core.domain.errors import ConfirmationError
from core.storage.audit import AuditRepository
from core.storage.confirmations import ConfirmationRepository, ConfirmationRow
from core.storage.db import Database


class ActionKind(StrEnum):
    PLACE = "place"
    CANCEL = "cancel"
    MODIFY = "modify"
    EXIT = "exit"
    PANIC_ARM = "panic_arm"  # the first of /panic's two confirmations
    PANIC = "panic"  # the second: pressing it flattens everything


class Decision(StrEnum):
    CONFIRM = "USED"
    CANCEL = "CANCELLED"


@dataclass(frozen=True, slots=True)
class Confirmation:
    id: str
    user_id: int
    chat_id: int
    kind: ActionKind
    payload: dict[str, Any]
    created_at: datetime
    expires_at: datetime


def _from_row(row: ConfirmationRow) -> Confirmation:
    return Confirmation(
        id=row.id,
        user_id=row.user_id,
        chat_id=row.chat_id,
        kind=ActionKind(row.action),
        payload=row.payload,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


class ConfirmationService:
    def __init__(self, db: Database, clock: Clock, ttl_s: float = 60.0) -> None:
        self.db = db
        self.clock = clock
        self.ttl = timedelta(seconds=ttl_s)
        self.repo = ConfirmationRepository()
        self.audit = AuditRepository()

    async def create(
        self, user_id: int, chat_id: int, kind: ActionKind, payload: dict[str, Any]
    ) -> Confirmation:
        now = self.clock.now()
        confirmation = Confirmation(
            id=secrets.token_urlsafe(12),
            user_id=user_id,
            chat_id=chat_id,
            kind=kind,
            payload=payload,
            created_at=now,
            expires_at=now + self.ttl,
        )
        async with self.db.transaction() as tx:
            await self.repo.insert(
                tx,
                confirmation_id=confirmation.id,
                user_id=user_id,
                chat_id=chat_id,
                action=kind.value,
                payload=payload,
                created_at=now,
                expires_at=confirmation.expires_at,
            )
        return confirmation

    async def decide(self, confirmation_id: str, user_id: int, decision: Decision) -> Confirmation:
        """Use or cancel a confirmation; raise ``ConfirmationError`` saying why it cannot be."""
        now = self.clock.now()
        async with self.db.transaction() as tx:
            won = await self.repo.decide(tx, confirmation_id, user_id, decision.value, now)
            row = await self.repo.get(tx, confirmation_id)
            if row is not None and row.state == "PENDING" and row.expires_at <= now:
                await self.repo.expire_due(tx, now)
            verdict = "ok" if won else "refused"
            await self.audit.add(
                tx,
                now,
                user_id,
                f"confirmation {decision.name.lower()}",
                f"{confirmation_id} {verdict}",
            )
        if won and row is not None:
            return _from_row(row)
        raise ConfirmationError(_why_not(row, user_id, now))

    async def expire_due(self) -> int:
        async with self.db.transaction() as tx:
            return await self.repo.expire_due(tx, self.clock.now())


def _why_not(row: ConfirmationRow | None, user_id: int, now: datetime) -> str:
    if row is None:
        return "This button is not known (it may be from an old session). Nothing was done."
    if row.user_id != user_id:
        return "This confirmation belongs to someone else. Nothing was done."
    if row.state == "USED":
        return "Already confirmed. Nothing more was done."
    if row.state == "CANCELLED":
        return "This ticket was cancelled. Nothing was done."
    if row.state == "EXPIRED" or row.expires_at <= now:
        return "This ticket expired. Nothing was done; send the command again."
    return "This confirmation cannot be used. Nothing was done."
