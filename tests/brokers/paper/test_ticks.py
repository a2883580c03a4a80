"""Price feeds: the seeded random walk and the CSV file follower."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from brokers.paper import PaperBroker
from brokers.paper.instruments import bundled_instruments
from brokers.paper.ticks import (
    FILE_HEARTBEAT_S,
    POLL_INTERVAL_S,
    CsvFileFeed,
    PriceUpdate,
    RandomWalk,
    RandomWalkFeed,
)
from core.domain.clock import ManualClock
from core.domain.models import Heartbeat, OrderStatus, OrderType, Tick
from tests.brokers.paper import AAA, ACCOUNT, BBB, quiet_settings, request, small_master

D = Decimal
WAIT_S = 5.0  # generous: a bound for waiting, never a speed claim


def walk_path(seed: int, steps: int) -> list[list[PriceUpdate]]:
    master = bundled_instruments()
    walk = RandomWalk(master, seed)
    prices = {listing.id: listing.reference_price for listing in master}
    path = []
    for _ in range(steps):
        step = walk.step(prices)
        prices.update(step)
        path.append(step)
    return path


def test_random_walk_is_the_same_for_the_same_seed_and_differs_for_another() -> None:
    assert walk_path(7, 50) == walk_path(7, 50)
    assert walk_path(7, 50) != walk_path(8, 50)


def test_random_walk_prices_stay_positive_on_the_tick_and_cover_every_instrument() -> None:
    master = bundled_instruments()

    path = walk_path(7, 200)

    assert all(len(step) == len(master) for step in path)
    for iid, price in (update for step in path for update in step):
        instrument = master.get(iid)
        assert price > 0 and instrument.is_on_tick(price)
    first, last = dict(path[0]), dict(path[-1])
    assert sum(first[iid] != last[iid] for iid in master.ids) > len(master) // 2


def test_random_walk_continues_from_a_price_set_from_outside() -> None:
    master = small_master()
    walk = RandomWalk(master, 7, sigma=0.0)

    walk.step({AAA: D("100.00")})
    step = dict(walk.step({AAA: D("150.00")}))

    assert step[AAA] == D("150.00")


async def test_brokers_with_the_same_seed_see_the_same_random_ticks() -> None:
    async def first_ticks(seed: int) -> list[Tick]:
        broker = PaperBroker(ACCOUNT, quiet_settings(tick_interval_s=0.01, seed=seed))
        ticks = broker.stream_ticks(bundled_instruments().ids)
        await broker.connect()
        try:
            return await asyncio.wait_for(_take(ticks, 80), WAIT_S)
        finally:
            await broker.close()

    one, two = await first_ticks(3), await first_ticks(3)

    assert [(t.instrument, t.last_price) for t in one] == [
        (t.instrument, t.last_price) for t in two
    ]


async def _take(stream: AsyncIterator[Tick | Heartbeat], count: int) -> list[Tick]:
    """The next ``count`` ticks; the heartbeats between them are skipped."""
    ticks: list[Tick] = []
    while len(ticks) < count:
        item = await anext(stream)
        if isinstance(item, Tick):
            ticks.append(item)
    return ticks


# ------------------------------------------------------------------------------ CSV follower


def feed_for(path: Path) -> tuple[CsvFileFeed, list[list[PriceUpdate]]]:
    batches: list[list[PriceUpdate]] = []
    return CsvFileFeed(path, small_master(), lambda batch: batches.append(list(batch))), batches


def test_csv_feed_plays_the_existing_lines_in_one_batch(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("NSE:AAA,101\n# a comment\n\nNSE:BBB,202.5\nNSE:AAA,101.02\n")
    feed, _ = feed_for(path)

    assert feed.poll() == [(AAA, D("101.00")), (BBB, D("202.50")), (AAA, D("101.00"))]
    assert feed.poll() == []


def test_csv_feed_waits_for_the_newline_of_a_partial_last_line(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("NSE:AAA,10")
    feed, _ = feed_for(path)

    assert feed.poll() == []
    with path.open("a") as out:
        out.write("5\r\n")

    assert feed.poll() == [(AAA, D("105.00"))]


def test_csv_feed_skips_and_logs_malformed_lines(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(
        "garbage\nNSE:AAA\nNSE:AAA,abc\nNSE:AAA,-3\nNSE:AAA,1,2\nNSE:ZZZ,10\nNSE:BBB,199\n"
    )
    feed, _ = feed_for(path)

    with caplog.at_level(logging.WARNING, logger="brokers.paper.ticks"):
        updates = feed.poll()

    assert updates == [(BBB, D("199.00"))]
    skipped = [r.getMessage() for r in caplog.records]
    assert len(skipped) == 6
    assert "prices.csv:6" in skipped[5] and "not a paper instrument" in skipped[5]


def test_csv_feed_reads_a_file_that_appears_later_and_one_that_shrinks(tmp_path: Path) -> None:
    path = tmp_path / "later.csv"
    feed, _ = feed_for(path)
    assert feed.poll() == []

    path.write_text("NSE:AAA,101\nNSE:AAA,102\n")
    assert len(feed.poll()) == 2
    path.write_text("NSE:BBB,1\n")

    assert feed.poll() == [(BBB, D("1.00"))]


async def test_broker_follows_a_csv_file_and_fills_on_its_ticks(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("NSE:AAA,101\nbad line\nNSE:BBB,205\n")
    broker = PaperBroker(
        ACCOUNT,
        quiet_settings(feed=f"file:{path}"),
        clock=ManualClock(),
        instruments=small_master(),
    )
    ticks = broker.stream_ticks([AAA, BBB])
    await broker.connect()
    try:
        initial = await asyncio.wait_for(_take(ticks, 2), WAIT_S)
        assert [(t.instrument, t.last_price) for t in initial] == [
            (AAA, D("101.00")),
            (BBB, D("205.00")),
        ]
        await broker.create_order(request(order_type=OrderType.LIMIT, price="99.00"), "l")

        with path.open("a") as out:
            out.write("NSE:AAA,98.5\n")
        [appended] = await asyncio.wait_for(_take(ticks, 1), WAIT_S)
    finally:
        await broker.close()

    assert (appended.instrument, appended.last_price) == (AAA, D("98.50"))
    assert (await broker.fetch_order("P000001")).status is OrderStatus.FILLED


# ------------------------------------------------------------------------------ heartbeats


class Recorder:
    """Records feed events and wakes the test once ``wanted`` beats have come."""

    def __init__(self, wanted: int) -> None:
        self.events: list[str] = []
        self.enough = asyncio.Event()
        self._wanted = wanted

    def step(self, batch: object) -> None:
        self.events.append("step")

    def beat(self) -> None:
        self.events.append("beat")
        if self.events.count("beat") >= self._wanted:
            self.enough.set()


async def run_until_enough(feed: RandomWalkFeed | CsvFileFeed, recorder: Recorder) -> None:
    task = asyncio.create_task(feed.run(), name="test feed")
    try:
        await asyncio.wait_for(recorder.enough.wait(), WAIT_S)
    finally:
        task.cancel()
        await asyncio.wait({task})


async def test_random_walk_feed_beats_once_after_every_step() -> None:
    recorder = Recorder(wanted=3)
    feed = RandomWalkFeed(RandomWalk(small_master(), 7), 0.01, dict, recorder.step, recorder.beat)

    await run_until_enough(feed, recorder)

    assert recorder.events == ["step", "beat"] * (len(recorder.events) // 2)


async def test_csv_feed_beats_while_no_line_arrives(tmp_path: Path) -> None:
    path = tmp_path / "quiet.csv"
    path.write_text("")
    recorder = Recorder(wanted=3)
    feed = CsvFileFeed(
        path, small_master(), recorder.step, poll_s=0.005, beat=recorder.beat, heartbeat_s=0.01
    )

    await run_until_enough(feed, recorder)

    assert set(recorder.events) == {"beat"}  # no line, no step, and still alive


def test_the_csv_feed_beats_well_within_a_second_by_default() -> None:
    assert FILE_HEARTBEAT_S + POLL_INTERVAL_S < 1.0
