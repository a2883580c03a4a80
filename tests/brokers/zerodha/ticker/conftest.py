"""Fixtures of the ticker tests: the fake ticker (in place of the REST fake of the parent
folder), a clock, and ``KiteStreams`` on the fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from brokers.zerodha.ticks import KiteStreams
from core.domain.clock import ManualClock
from tests.brokers.zerodha.ticker.support import TOKENS, streams_for
from tests.fakes.kite_ticker import FakeKiteTicker


@pytest.fixture
async def fake() -> AsyncIterator[FakeKiteTicker]:
    async with FakeKiteTicker(heartbeat_s=0.2) as server:
        yield server


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 5, 4, 0, tzinfo=UTC))


@pytest.fixture
async def streams(fake: FakeKiteTicker, clock: ManualClock) -> AsyncIterator[KiteStreams]:
    async with streams_for(fake, clock, TOKENS) as kite:
        yield kite
