"""The audit log: who did what and when — commands, confirmations, order actions, risk denials,
halts and refused strangers. Owners read it with ``/audit``.

Entries never hold a secret: command text passes through ``redact_command`` first, which keeps
the verb and the account of a ``/login`` but never what was pasted after them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.domain.clock import Clock
from core.storage.audit import MAX_DETAIL, AuditRepository
from core.storage.db import Database


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    user_id: int | None  # None: the desk itself (an automatic exit, a scheduled job)
    action: str
    detail: str


def redact_command(text: str) -> str:
    """A command line fit for the log: what follows ``/login ACCOUNT`` is a credential."""
    words = text.strip().split()
    if words and words[0].lower().partition("@")[0] == "/login" and len(words) > 2:
        return " ".join([*words[:2], "[redacted]"])
    return text.strip()[:MAX_DETAIL]


class AuditLog:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.repo = AuditRepository()

    async def record(self, user_id: int | None, action: str, detail: str = "") -> None:
        async with self.db.transaction() as tx:
            await self.repo.add(tx, self.clock.now(), user_id, action, detail)

    async def recent(self, limit: int = 20) -> list[AuditEntry]:
        async with self.db.read() as tx:
            rows = await self.repo.recent(tx, limit)
        return [AuditEntry(*row) for row in rows]
