"""Per-position locks: one actor at a time on an (account, instrument)."""

from __future__ import annotations

import asyncio

from core.domain.models import InstrumentId
from core.orders.locks import PositionLocks

INFY = InstrumentId("NSE", "INFY")
TCS = InstrumentId("NSE", "TCS")


async def test_try_hold_stands_aside_while_someone_acts() -> None:
    locks = PositionLocks()
    async with locks.hold("a", INFY):
        async with locks.try_hold("a", INFY) as got:
            assert got is False
        async with locks.try_hold("a", TCS) as other:
            assert other is True
        async with locks.try_hold("b", INFY) as other_account:
            assert other_account is True
    async with locks.try_hold("a", INFY) as got:
        assert got is True


async def test_hold_serialises_actors_on_one_position() -> None:
    locks = PositionLocks()
    inside = 0
    most = 0

    async def actor() -> None:
        nonlocal inside, most
        async with locks.hold("a", INFY):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(actor() for _ in range(25)))
    assert most == 1
    assert not locks.is_held("a", INFY)
    assert locks._locks == {}  # free locks are dropped, so memory does not grow per symbol
