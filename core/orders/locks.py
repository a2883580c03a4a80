"""Per-position execution locks: one actor at a time per (account, instrument).

Manual commands wait for the lock; the automatic exit path only *tries* it and stands aside when
someone else is already acting, so a stop and a racing ``/exit`` place one exit between them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from core.domain.models import InstrumentId

PositionKey = tuple[str, InstrumentId]


class PositionLocks:
    """A lock per position key, created on first use and dropped when free."""

    def __init__(self) -> None:
        self._locks: dict[PositionKey, asyncio.Lock] = {}
        self._users: dict[PositionKey, int] = {}

    def is_held(self, account: str, instrument: InstrumentId) -> bool:
        lock = self._locks.get((account, instrument))
        return lock is not None and lock.locked()

    @asynccontextmanager
    async def hold(self, account: str, instrument: InstrumentId) -> AsyncIterator[None]:
        """Wait for the position's lock and hold it for the block."""
        key = (account, instrument)
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._release_user(key)

    @asynccontextmanager
    async def try_hold(self, account: str, instrument: InstrumentId) -> AsyncIterator[bool]:
        """Hold the lock if it is free at once; yields ``False`` (holding nothing) otherwise."""
        key = (account, instrument)
        lock = self._locks.setdefault(key, asyncio.Lock())
        if lock.locked():
            yield False
            return
        self._users[key] = self._users.get(key, 0) + 1
        await lock.acquire()
        try:
            yield True
        finally:
            lock.release()
            self._release_user(key)

    def _release_user(self, key: PositionKey) -> None:
        remaining = self._users.get(key, 1) - 1
        if remaining <= 0:
            self._users.pop(key, None)
            lock = self._locks.get(key)
            if lock is not None and not lock.locked():
                del self._locks[key]
        else:
            self._users[key] = remaining
