"""The ``Broker`` contract (``core/broker.py``), run against every broker implementation.

The tests are broker-agnostic: what differs between brokers (a listed instrument, how a market
order is made to fill, how a price reaches the tick stream) comes from the ``Market`` handle the
fixtures in ``contract_support.py`` build. A broker that breaks the contract is listed in
``KNOWN_VIOLATIONS``, which marks its case ``xfail(strict=True)`` so it stays visible.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import TypeVar

import pytest

from core.broker import Broker
from core.domain.errors import BrokerError, BrokerRejected, NotFound
from core.domain.ids import CLIENT_ORDER_ID_LENGTH, new_client_order_id
from core.domain.models import (
    Heartbeat,
    OrderReport,
    OrderRequest,
    OrderStatus,
    OrderType,
    Product,
    Side,
    Tick,
)
from tests.brokers.contract_support import CASES, WAIT_S, Case

T = TypeVar("T")
WORKING = {OrderStatus.PENDING_SUBMIT, OrderStatus.OPEN}

# (test name, broker kind) -> why the broker breaks the contract there.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}


@pytest.fixture(params=sorted(CASES))
async def case(request: pytest.FixtureRequest) -> AsyncIterator[Case]:
    kind: str = request.param
    reason = KNOWN_VIOLATIONS.get((request.node.originalname, kind))
    if reason is not None:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    async with CASES[kind]() as built:
        yield built


# --- helpers --------------------------------------------------------------------------------


async def eventually(read: Callable[[], Awaitable[T]], ok: Callable[[T], bool], what: str) -> T:
    """Read until ``ok(value)``; fail after ``WAIT_S`` with the last value seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while True:
        value = await read()
        if ok(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"{what}: still {value!r} after {WAIT_S} s")
        await asyncio.sleep(0.02)


async def last_price(case: Case) -> Decimal:
    iid = case.market.instrument
    return (await case.broker.fetch_quotes([iid]))[iid].last_price


async def place_far_limit(case: Case) -> tuple[OrderRequest, str, OrderReport]:
    """A one-unit BUY limit at about 80 % of the market, so it rests."""
    broker, iid = case.broker, case.market.instrument
    instrument = await broker.fetch_instrument(iid)
    price = instrument.round_price(await last_price(case) * Decimal("0.8"), Side.BUY)
    request = OrderRequest(
        account=broker.account,
        instrument=iid,
        side=Side.BUY,
        quantity=instrument.lot_size,
        order_type=OrderType.LIMIT,
        price=price,
        product=case.market.product,
    )
    client_id = new_client_order_id()
    return request, client_id, await broker.create_order(request, client_id)


# --- identity ---------------------------------------------------------------------------------


async def test_is_a_broker(case: Case) -> None:
    assert isinstance(case.broker, Broker)
    assert isinstance(case.broker.account, str) and case.broker.account


async def test_capabilities_are_sane(case: Case) -> None:
    caps = case.broker.capabilities
    assert caps.order_types and caps.order_types <= set(OrderType)
    assert caps.products and caps.products <= set(Product)
    assert case.broker.default_exchange in caps.exchanges
    assert case.market.instrument.exchange in caps.exchanges
    assert caps.max_client_order_id_length >= CLIENT_ORDER_ID_LENGTH  # our ids must fit
    assert caps.order_rate.requests > 0 and caps.order_rate.per_s > 0
    assert caps.quote_rate.requests > 0 and caps.quote_rate.per_s > 0


# --- instruments ------------------------------------------------------------------------------


async def test_fetch_instrument_of_a_listed_symbol(case: Case) -> None:
    instrument = await case.broker.fetch_instrument(case.market.instrument)
    assert instrument.id == case.market.instrument
    assert instrument.tick_size > 0
    assert instrument.lot_size >= 1


async def test_fetch_instrument_of_an_unknown_symbol_raises_not_found(case: Case) -> None:
    with pytest.raises(NotFound):
        await case.broker.fetch_instrument(case.market.unknown)


# --- a resting limit order --------------------------------------------------------------------


async def test_create_order_returns_the_first_report_of_our_order(case: Case) -> None:
    request, client_id, report = await place_far_limit(case)
    assert report.client_order_id == client_id
    assert report.account == case.broker.account
    assert report.broker_order_id
    assert (report.instrument, report.side, report.quantity) == (
        request.instrument,
        request.side,
        request.quantity,
    )
    assert report.status in WORKING
    assert report.filled_quantity == 0


async def test_resting_orders_are_found_by_every_read(case: Case) -> None:
    broker = case.broker
    placed = [await place_far_limit(case) for _ in range(2)]  # each lookup must pick its own

    open_ids = [r.broker_order_id for r in await broker.fetch_open_orders()]
    all_ids = [r.broker_order_id for r in await broker.fetch_orders()]
    for _request, client_id, report in placed:
        oid = report.broker_order_id
        by_id = await broker.fetch_order(oid)
        by_client_id = await broker.fetch_order_by_client_id(client_id)

        assert (by_id.broker_order_id, by_id.client_order_id) == (oid, client_id)
        assert by_id.status in WORKING
        assert by_client_id is not None
        assert (by_client_id.broker_order_id, by_client_id.client_order_id) == (oid, client_id)
        assert oid in open_ids
        assert oid in all_ids


async def test_cancel_order_cancels_and_a_second_cancel_is_rejected(case: Case) -> None:
    broker = case.broker
    _request, _client_id, placed = await place_far_limit(case)
    oid = placed.broker_order_id

    answer = await broker.cancel_order(oid)
    assert answer.broker_order_id == oid
    if answer.status is not OrderStatus.CANCELLED:  # may be PENDING_CANCEL at first
        assert answer.status in (*WORKING, OrderStatus.PENDING_CANCEL), answer
        await eventually(
            lambda: broker.fetch_order(oid), lambda r: r.status is OrderStatus.CANCELLED, oid
        )
    assert (await broker.fetch_order(oid)).status is OrderStatus.CANCELLED
    assert oid not in [r.broker_order_id for r in await broker.fetch_open_orders()]
    assert oid in [r.broker_order_id for r in await broker.fetch_orders()]

    with pytest.raises(BrokerRejected):
        await broker.cancel_order(oid)


async def test_fetch_order_of_an_unknown_id_raises_not_found(case: Case) -> None:
    with pytest.raises(NotFound):
        await case.broker.fetch_order("999999999999999")


async def test_fetch_order_by_an_unknown_client_id_is_none(case: Case) -> None:
    await place_far_limit(case)  # a book with something in it
    assert await case.broker.fetch_order_by_client_id(new_client_order_id()) is None


# --- a filled market order --------------------------------------------------------------------


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
async def test_a_filled_market_order_shows_a_position_and_its_fill(case: Case, side: Side) -> None:
    broker, market = case.broker, case.market
    quantity = 3 * (await broker.fetch_instrument(market.instrument)).lot_size
    request = OrderRequest(
        account=broker.account,
        instrument=market.instrument,
        side=side,
        quantity=quantity,
        product=market.product,
    )
    market.fill_next_market_order(quantity)
    placed = await broker.create_order(request, new_client_order_id())
    oid = placed.broker_order_id
    assert placed.status is not OrderStatus.REJECTED, placed.message

    filled = await eventually(
        lambda: broker.fetch_order(oid), lambda r: r.status is OrderStatus.FILLED, oid
    )
    positions = await broker.fetch_positions()
    fills = [f for f in await broker.fetch_fills() if f.broker_order_id == oid]

    assert filled.filled_quantity == quantity
    assert filled.average_price is not None and filled.average_price > 0
    held = [
        p for p in positions if (p.instrument, p.product) == (market.instrument, market.product)
    ]
    assert [p.quantity for p in held] == [side.sign * quantity], positions
    assert held[0].account == broker.account
    assert fills, "no execution reported for the filled order"
    assert sum(f.quantity for f in fills) == quantity
    assert {(f.instrument, f.side) for f in fills} == {(market.instrument, side)}
    assert all(f.price > 0 for f in fills)


# --- funds and quotes -------------------------------------------------------------------------


async def test_fetch_balance_names_the_account_and_a_currency(case: Case) -> None:
    balance = await case.broker.fetch_balance()
    assert balance.account == case.broker.account
    assert len(balance.currency) == 3 and balance.currency.isalpha()
    assert balance.currency == balance.currency.upper()


async def test_fetch_quotes_of_a_listed_instrument(case: Case) -> None:
    iid = case.market.instrument
    quotes = await case.broker.fetch_quotes([iid])
    assert list(quotes) == [iid]
    assert quotes[iid].instrument == iid
    assert quotes[iid].last_price > 0


@pytest.mark.parametrize("with_known", [False, True], ids=["alone", "with_a_known_one"])
async def test_fetch_quotes_of_an_unknown_instrument_raises_not_found(
    case: Case, with_known: bool
) -> None:
    wanted = [case.market.instrument] if with_known else []
    with pytest.raises(NotFound):
        await case.broker.fetch_quotes([*wanted, case.market.unknown])


# --- streams and lifecycle --------------------------------------------------------------------


async def test_stream_ticks_yields_a_tick_or_a_heartbeat(case: Case) -> None:
    iid = case.market.instrument
    stream = case.broker.stream_ticks([iid])
    try:
        item = await asyncio.wait_for(anext(stream), WAIT_S)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    assert isinstance(item, Tick | Heartbeat)
    if isinstance(item, Tick):
        assert item.instrument == iid and item.last_price > 0


async def test_stream_ticks_delivers_a_price_move(case: Case) -> None:
    broker, market = case.broker, case.market
    instrument = await broker.fetch_instrument(market.instrument)
    price = await last_price(case) + 10 * instrument.tick_size
    stream = broker.stream_ticks([market.instrument])

    async def first_tick_at_price() -> Tick:
        async for item in stream:
            if isinstance(item, Tick) and item.last_price == price:
                return item
        raise AssertionError("the tick stream ended")

    reader = asyncio.create_task(first_tick_at_price())
    try:
        await market.move_price(market.instrument, price)
        tick = await asyncio.wait_for(reader, WAIT_S)
    finally:
        reader.cancel()
        await stream.aclose()  # type: ignore[attr-defined]
    assert tick.instrument == market.instrument


async def test_close_ends_the_streams_and_leaves_no_running_tasks(case: Case) -> None:
    broker = case.broker
    ticks = broker.stream_ticks([case.market.instrument])
    await asyncio.wait_for(anext(ticks), WAIT_S)  # the stream is really connected

    async def drain(stream: AsyncIterator[object]) -> None:
        try:
            async for _ in stream:
                pass
        except BrokerError:
            pass  # "the connection dropped" is an acceptable way for a stream to end

    readers = [
        asyncio.create_task(drain(ticks)),
        asyncio.create_task(drain(broker.stream_order_updates())),
    ]
    await asyncio.sleep(0.1)  # let the readers subscribe
    await broker.close()

    done, pending = await asyncio.wait(readers, timeout=WAIT_S)
    assert not pending, "a stream did not end when the broker closed"
    for task in done:
        task.result()

    async def running() -> list[str]:
        mine = asyncio.current_task()
        fresh = asyncio.all_tasks() - case.tasks_before - {mine}
        return sorted(t.get_name() for t in fresh if not t.done())

    # Server-side tasks of the fakes may take a loop turn or two to see the sockets close.
    await eventually(running, lambda names: not names, "tasks still running after close")
