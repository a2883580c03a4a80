"""The notifier drains the outbox to a front-end, in order, and marks what was delivered.

An alert is marked delivered only after the sink accepted it, so a crash or an outage of the
front-end delays alerts and never loses them. A failing sink is retried with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from core.domain.alerts import Event
from core.domain.clock import Clock
from core.storage.db import Database
from core.storage.outbox import OutboxRepository

log = logging.getLogger(__name__)

AlertSink = Callable[[list[Event]], Awaitable[None]]


class Notifier:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        sink: AlertSink,
        *,
        batch: int = 20,
        idle_s: float = 0.25,
        max_backoff_s: float = 60.0,
    ) -> None:
        self.db = db
        self.clock = clock
        self.sink = sink
        self.batch = batch
        self.idle_s = idle_s
        self.max_backoff_s = max_backoff_s
        self.repo = OutboxRepository()
        self._wake = asyncio.Event()
        self._delivering = asyncio.Lock()  # one drain at a time, or an alert could go twice

    def wake(self) -> None:
        """Look at the outbox now instead of at the next idle tick."""
        self._wake.set()

    async def run(self) -> None:
        backoff = 1.0
        while True:
            try:
                delivered = await self.deliver_once()
                backoff = 1.0
            except Exception:
                log.exception("alert delivery failed; retrying in %.0f s", backoff)
                await asyncio.sleep(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            if delivered == 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.idle_s)
                except TimeoutError:
                    pass

    async def deliver_once(self) -> int:
        """Hand one batch of pending alerts to the sink; return how many were delivered."""
        async with self._delivering:
            return await self._deliver_batch()

    async def _deliver_batch(self) -> int:
        async with self.db.read() as tx:
            events = await self.repo.pending(tx, self.batch)
        if not events:
            return 0
        ids = [e.id for e in events if e.id is not None]
        try:
            await self.sink(events)
        except Exception:
            async with self.db.transaction() as tx:
                await self.repo.mark_attempt(tx, ids)
            raise
        async with self.db.transaction() as tx:
            await self.repo.mark_delivered(tx, ids, self.clock.now())
        return len(events)

    async def pending_count(self) -> int:
        async with self.db.read() as tx:
            return await self.repo.count_pending(tx)
