"""Price feeds for the paper exchange: a seeded random walk, or a CSV file being followed.

A feed produces batches of ``(instrument, price)`` updates and hands each batch to a sink (the
exchange), which plays the updates in order as ticks and stamps them with its own clock. Feeds
also beat: after every step, and at least every ``FILE_HEARTBEAT_S`` while a file is followed,
so a stream that carries no ticks still shows that it is alive. Feeds know nothing about orders.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Protocol

from brokers.paper.config import PaperSettings
from brokers.paper.instruments import InstrumentMaster
from core.domain.models import InstrumentId

log = logging.getLogger(__name__)

PriceUpdate = tuple[InstrumentId, Decimal]
PriceSink = Callable[[Sequence[PriceUpdate]], None]
PriceSource = Callable[[], Mapping[InstrumentId, Decimal]]
Beat = Callable[[], None]

# A 0.05 % standard deviation per step moves a liquid stock by a few ticks at a time, which looks
# alive in a demo without wandering far from realistic prices within a session.
STEP_SIGMA = 0.0005
POLL_INTERVAL_S = 0.025
# Half the one second a watchdog may expect, so a slow poll still beats in time.
FILE_HEARTBEAT_S = 0.5
_MOVE_PLACES = Decimal("1e-10")


class Feed(Protocol):
    async def run(self) -> None:
        """Produce prices until cancelled."""
        ...


class RandomWalk:
    """A seeded Gaussian random walk over every listed instrument; the same seed, the same path.

    The walk keeps its own unrounded prices, so a cheap stock whose steps are smaller than half a
    tick still drifts instead of being rounded back to where it was. When the market price differs
    from what the walk last emitted (someone set a price, or a state was restored), the walk
    continues from the market price.
    """

    def __init__(self, instruments: InstrumentMaster, seed: int, sigma: float = STEP_SIGMA) -> None:
        self._instruments = instruments
        self._rng = random.Random(seed)
        self._sigma = sigma
        self._exact: dict[InstrumentId, Decimal] = {}
        self._emitted: dict[InstrumentId, Decimal] = {}

    def step(self, prices: Mapping[InstrumentId, Decimal]) -> list[PriceUpdate]:
        """One step for every instrument, in id order, from the given current prices."""
        updates = []
        for listing in self._instruments:
            iid, instrument = listing.id, listing.instrument
            market = prices.get(iid, listing.reference_price)
            exact = self._exact.get(iid, market)
            if self._emitted.get(iid) != market:
                exact = market
            move = Decimal(repr(self._rng.gauss(0.0, self._sigma))).quantize(_MOVE_PLACES)
            exact = max(exact * (1 + move), instrument.tick_size)
            price = max(instrument.round_price(exact), instrument.tick_size)
            self._exact[iid] = exact
            self._emitted[iid] = price
            updates.append((iid, price))
        return updates


class RandomWalkFeed:
    """Steps a ``RandomWalk`` every ``interval_s`` seconds, beating once after each step."""

    def __init__(
        self,
        walk: RandomWalk,
        interval_s: float,
        source: PriceSource,
        sink: PriceSink,
        beat: Beat | None = None,
    ) -> None:
        self._walk = walk
        self._interval_s = interval_s
        self._source = source
        self._sink = sink
        self._beat = beat

    async def run(self) -> None:
        """Step until cancelled; the first step comes one interval after the start."""
        while True:
            await asyncio.sleep(self._interval_s)
            self._sink(self._walk.step(self._source()))
            if self._beat is not None:
                self._beat()


class CsvFileFeed:
    """Follows a CSV file of ``EXCHANGE:SYMBOL,PRICE`` lines, like ``tail -f``.

    The lines already there are played at once; lines appended later are picked up by polling
    (every ``poll_s`` seconds). A last line without its newline is held back until the newline
    arrives. Malformed lines and unknown instruments are logged and skipped; blank lines and
    ``#`` comments are ignored. A file that shrinks is read again from the start. The feed beats
    on its first poll and then every ``heartbeat_s`` seconds, whether lines arrive or not.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        instruments: InstrumentMaster,
        sink: PriceSink,
        poll_s: float = POLL_INTERVAL_S,
        beat: Beat | None = None,
        heartbeat_s: float = FILE_HEARTBEAT_S,
    ) -> None:
        self.path = Path(path).expanduser()
        self._instruments = instruments
        self._sink = sink
        self._poll_s = poll_s
        self._beat = beat
        self._heartbeat_s = heartbeat_s
        self._offset = 0
        self._partial = b""
        self._line_no = 0
        self._missing_logged = False

    async def run(self) -> None:
        """Poll until cancelled; file reads run in a worker thread to keep the loop free."""
        loop = asyncio.get_running_loop()
        beat_at = loop.time()
        while True:
            updates = await asyncio.to_thread(self.poll)
            if updates:
                self._sink(updates)
            if self._beat is not None and loop.time() >= beat_at:
                self._beat()
                beat_at = loop.time() + self._heartbeat_s
            await asyncio.sleep(self._poll_s)

    def poll(self) -> list[PriceUpdate]:
        """Read what was appended since the last poll and return its complete, valid lines."""
        data = self._read_new()
        if not data:
            return []
        *lines, self._partial = (self._partial + data).split(b"\n")
        updates = []
        for raw in lines:
            self._line_no += 1
            update = self._parse(raw.decode("utf-8", errors="replace"))
            if update is not None:
                updates.append(update)
        return updates

    def _read_new(self) -> bytes:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            if not self._missing_logged:
                log.warning("paper feed file %s does not exist yet; waiting for it", self.path)
                self._missing_logged = True
            return b""
        self._missing_logged = False
        if size < self._offset:
            log.warning("paper feed file %s shrank; reading it from the start", self.path)
            self._offset, self._partial, self._line_no = 0, b"", 0
        if size == self._offset:
            return b""
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read(size - self._offset)
        self._offset += len(data)
        return data

    def _parse(self, line: str) -> PriceUpdate | None:
        text = line.strip()
        if not text or text.startswith("#"):
            return None
        where = f"{self.path}:{self._line_no}"
        parts = [part.strip() for part in text.split(",")]
        if len(parts) != 2:
            log.warning("%s: skipped %r: expected EXCHANGE:SYMBOL,PRICE", where, text)
            return None
        try:
            iid = InstrumentId.parse(parts[0])
            price = Decimal(parts[1])
        except (ValueError, InvalidOperation):
            log.warning("%s: skipped %r: expected EXCHANGE:SYMBOL,PRICE", where, text)
            return None
        if not price.is_finite() or price <= 0:
            log.warning("%s: skipped %r: the price must be a positive number", where, text)
            return None
        if iid not in self._instruments:
            log.warning("%s: skipped %r: %s is not a paper instrument", where, text, iid)
            return None
        rounded = self._instruments.get(iid).round_price(price)
        if rounded <= 0:
            log.warning("%s: skipped %r: the price rounds to zero", where, text)
            return None
        return iid, rounded


def make_feed(
    settings: PaperSettings,
    instruments: InstrumentMaster,
    source: PriceSource,
    sink: PriceSink,
    beat: Beat | None = None,
) -> Feed:
    """The feed the settings ask for: ``random`` or ``file:PATH``."""
    path = settings.feed_path
    if path is not None:
        return CsvFileFeed(path, instruments, sink, beat=beat)
    walk = RandomWalk(instruments, settings.seed)
    return RandomWalkFeed(walk, settings.tick_interval_s, source, sink, beat)
