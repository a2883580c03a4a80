"""What the ticker tests share: the instruments and tokens, a background stream reader, and a
``KiteStreams`` on the fake ticker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any, Generic, TypeVar

from brokers.zerodha.ticks import KiteStreams
from core.domain.clock import ManualClock
from core.domain.errors import NotFound
from core.domain.models import Heartbeat, InstrumentId, Tick
from tests.fakes.kite_ticker import FakeKiteTicker

T = TypeVar("T")

INFY = InstrumentId("NSE", "INFY")
USDINR = InstrumentId("CDS", "USDINR26JANFUT")  # segment 3: prices / 10,000,000
EURINR = InstrumentId("BCD", "EURINR26JANFUT")  # segment 6: prices / 10,000
NIFTY = InstrumentId("NSE", "NIFTY")  # segment 9: the index layout
TOKENS = {INFY: 408065, USDINR: 412675, EURINR: 1612 << 8 | 6, NIFTY: 256265}
ORDER: dict[str, Any] = {
    "order_id": "260105000000001", "exchange_order_id": "1300000001", "status": "COMPLETE",
    "status_message": None, "exchange": "NSE", "tradingsymbol": "INFY",
    "instrument_token": 408065, "order_type": "LIMIT", "transaction_type": "BUY",
    "product": "CNC", "validity": "DAY", "quantity": 10, "filled_quantity": 10,
    "pending_quantity": 0, "price": 1500.5, "trigger_price": 0, "average_price": 1500.5,
    "order_timestamp": "2026-01-05 09:15:02", "exchange_timestamp": "2026-01-05 09:15:02",
    "tag": "pd0123456789abcdef", "user_id": "AB1234", "unfilled_quantity": 0,
}  # fmt: skip


class Tokens:
    """A day's token map, as ``InstrumentIndex`` answers it."""

    def __init__(self, table: dict[InstrumentId, int]) -> None:
        self.table = table

    def token(self, instrument: InstrumentId) -> int:
        try:
            return self.table[instrument]
        except KeyError:
            raise NotFound(f"Kite does not list {instrument} today") from None


def many(count: int) -> dict[InstrumentId, int]:
    return {InstrumentId("NSE", f"S{n}"): (n + 1) << 8 | 1 for n in range(count)}


class Reader(Generic[T]):
    """Reads a stream in the background, so a test can act on the fake while the stream waits."""

    def __init__(self, stream: AsyncIterator[T]) -> None:
        self.stream = stream
        self.items: asyncio.Queue[T | BaseException | None] = asyncio.Queue()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            async for item in self.stream:
                await self.items.put(item)
        except Exception as err:
            await self.items.put(err)
        else:
            await self.items.put(None)

    async def next(self, kind: type[Any] = object, timeout_s: float = 2.0) -> Any:
        """The next item of ``kind`` (others skipped); the stream's error is raised here."""
        async with asyncio.timeout(timeout_s):
            while True:
                item = await self.items.get()
                if isinstance(item, BaseException):
                    raise item
                if item is None:
                    raise StopAsyncIteration
                if isinstance(item, kind):
                    return item

    async def outcome(self, timeout_s: float = 2.0) -> BaseException | None:
        """How the stream ended: its error, or ``None`` when it simply ended."""
        async with asyncio.timeout(timeout_s):
            while True:
                item = await self.items.get()
                if item is None or isinstance(item, BaseException):
                    return item

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def streams_for(
    fake: FakeKiteTicker, clock: ManualClock, table: dict[InstrumentId, int], **kw: Any
) -> KiteStreams:
    async def load() -> Tokens:
        return Tokens(table)

    return KiteStreams(
        fake.url, fake.api_key, lambda: fake.access_token, load, "z1", clock=clock, **kw
    )


async def ticking(
    streams: KiteStreams, fake: FakeKiteTicker, instruments: Iterable[InstrumentId]
) -> Reader[Tick | Heartbeat]:
    """A tick stream, once the fake has its whole subscription."""
    wanted = list(instruments)
    reader = Reader(streams.ticks(wanted))
    await fake.until(lambda: fake.subscribed(*(TOKENS.get(i, 0) for i in wanted)))
    return reader
