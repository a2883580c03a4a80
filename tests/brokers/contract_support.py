"""Broker-specific set-up for the broker contract suite (``test_contract.py``).

Each builder connects one broker implementation and hands the suite a ``Case``: the broker, and a
``Market`` handle that knows what the tests may not (a listed instrument, how to make a market
order fill, how to move a price onto the tick stream). Everything broker-specific lives here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal

from brokers.paper import PaperBroker, PaperSettings
from brokers.zerodha.broker import ZerodhaBroker
from brokers.zerodha.config import ZerodhaSettings
from core.broker import Broker
from core.domain.models import InstrumentId, Product
from tests.fakes.kite import TOKENS, FakeKite
from tests.fakes.kite_ticker import FakeKiteTicker

WAIT_S = 5.0  # generous: a bound for waiting, never a speed claim
INFY = InstrumentId("NSE", "INFY")
UNLISTED = InstrumentId("NSE", "NOSUCHSTOCK")


@dataclass
class Market:
    """What a test needs to know about, or do to, the market behind a broker."""

    instrument: InstrumentId  # listed, quoted and tradable
    unknown: InstrumentId  # not listed
    product: Product  # one in which a market SELL may open a short position
    fill_next_market_order: Callable[[int], None]  # the next market order of that size fills
    move_price: Callable[[InstrumentId, Decimal], Awaitable[None]]  # a tick to open streams


@dataclass
class Case:
    """A connected broker, its market, and the tasks that ran before it connected."""

    kind: str
    broker: Broker
    market: Market
    tasks_before: frozenset[asyncio.Task[object]]


def _tasks() -> frozenset[asyncio.Task[object]]:
    return frozenset(asyncio.all_tasks())


@asynccontextmanager
async def paper_case() -> AsyncIterator[Case]:
    """The paper broker on its bundled instruments, stepping prices every 50 ms."""
    broker = PaperBroker("contract-paper", PaperSettings(tick_interval_s=0.05))

    def fill_next_market_order(quantity: int) -> None:
        """Nothing to arrange: each tick's book (500 units) fills a small market order at once."""

    async def move_price(instrument: InstrumentId, price: Decimal) -> None:
        broker.set_price(instrument, price)

    market = Market(INFY, UNLISTED, Product.MIS, fill_next_market_order, move_price)
    before = _tasks()
    await broker.connect()
    try:
        yield Case("paper", broker, market, before)
    finally:
        await broker.close()


@asynccontextmanager
async def zerodha_case() -> AsyncIterator[Case]:
    """A Kite account against the fake REST server and the fake ticker (heartbeats every 0.1 s)."""
    async with FakeKite() as rest, FakeKiteTicker(heartbeat_s=0.1) as ticker:
        settings = ZerodhaSettings(
            api_key=rest.api_key,
            api_secret=rest.api_secret,
            access_token=rest.access_token,
            api_url=rest.api_url,
            ticker_url=ticker.url,
        )
        broker = ZerodhaBroker("contract-kite", settings)

        def fill_next_market_order(quantity: int) -> None:
            rest.script_next_order(quantity, at_once=True)

        async def move_price(instrument: InstrumentId, price: Decimal) -> None:
            token = TOKENS[str(instrument)]
            await ticker.until(lambda: ticker.subscribed(token), WAIT_S)
            assert await ticker.push_ticks(token, price) >= 1

        market = Market(INFY, UNLISTED, Product.MIS, fill_next_market_order, move_price)
        before = _tasks()
        await broker.connect()
        try:
            yield Case("zerodha", broker, market, before)
        finally:
            await broker.close()


CASES: dict[str, Callable[[], AbstractAsyncContextManager[Case]]] = {
    "paper": paper_case,
    "zerodha": zerodha_case,
}
