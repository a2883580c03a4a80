"""The writer of alerts that are not tied to an order's transition.

A transition's alerts are written by the order tracker inside the transition's own transaction.
Everything else a person must be told (a login, a halt, a job's report, a feed falling back to
polling, a component that failed) goes through ``AlertOutbox.add``: one committed row in the
outbox, which the notifier delivers.
"""

from __future__ import annotations

from core.domain.alerts import Event
from core.domain.clock import Clock
from core.storage.db import Database
from core.storage.outbox import OutboxRepository


class AlertOutbox:
    """Adds standalone alerts to the outbox, each in its own transaction."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.repo = OutboxRepository()

    async def add(self, alert: Event) -> None:
        """Store ``alert`` for delivery; it is safe once this returns."""
        async with self.db.transaction() as tx:
            await self.repo.add(tx, alert, self.clock.now())
