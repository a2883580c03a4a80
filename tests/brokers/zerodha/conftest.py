"""Fixtures of the Kite tests: the fake server and a client talking to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from brokers.zerodha.client import KiteClient
from tests.brokers.zerodha.kite_support import settings_for, unhurried
from tests.fakes.kite import FakeKite


@pytest.fixture
async def fake() -> AsyncIterator[FakeKite]:
    async with FakeKite() as server:
        yield server


@pytest.fixture
async def kite(fake: FakeKite) -> AsyncIterator[KiteClient]:
    async with KiteClient(settings_for(fake), limits=unhurried()) as client:
        yield client
