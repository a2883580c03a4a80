"""Pre-trade risk rules: each denies with its rule and numbers; exits and reducing orders pass."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.config import RiskConfig
from core.domain.errors import OrderDenied
from core.domain.market_calendar import MarketCalendar
from core.domain.models import (
    Instrument,
    InstrumentId,
    Order,
    OrderPurpose,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Product,
    Side,
)
from core.risk.service import RiskContext, check_change, check_order, reduces_position

D = Decimal
RELIANCE = InstrumentId("NSE", "RELIANCE")
INSTR_TCS = InstrumentId("NSE", "TCS")
INSTRUMENT = Instrument(RELIANCE, tick_size=D("0.05"))
MONDAY_1000_IST = datetime(2026, 1, 5, 4, 30, tzinfo=UTC)
SATURDAY = datetime(2026, 1, 3, 6, 0, tzinfo=UTC)
CALENDAR = MarketCalendar.bundled()
# Every halting rule on: a kill-switch halt, a crossed daily limit, and one position allowed.
HALTING = {"halt_reason": "stopped by /halt", "day_pnl": D(-60_000)}
HALTING_LIMITS = {"daily_loss_limit": 50_000, "max_open_positions": 1}


def request(**kw: Any) -> OrderRequest:
    base = OrderRequest("paper", RELIANCE, Side.BUY, 10)
    return replace(base, **kw)


def position(quantity: int, instrument: InstrumentId = RELIANCE) -> Position:
    return Position("paper", instrument, Product.CNC, quantity, D(2400), D(2500))


def working(side: Side, quantity: int, purpose: OrderPurpose = OrderPurpose.EXIT) -> Order:
    return Order(
        client_order_id=f"w{side}{quantity}",
        request=request(side=side, quantity=quantity),
        status=OrderStatus.OPEN,
        created_at=MONDAY_1000_IST,
        updated_at=MONDAY_1000_IST,
        purpose=purpose,
    )


def context(
    req: OrderRequest | None = None, limits: dict[str, Any] | None = None, **kw: Any
) -> RiskContext:
    fields: dict[str, Any] = {
        "request": req or request(),
        "instrument": INSTRUMENT,
        "purpose": OrderPurpose.ENTRY,
        "limits": RiskConfig.model_validate(limits or {}),
        "calendar": CALENDAR,
        "now": MONDAY_1000_IST,
        "last_price": D(2500),
    }
    return RiskContext(**{**fields, **kw})


def denied(ctx: RiskContext) -> OrderDenied:
    with pytest.raises(OrderDenied) as caught:
        check_order(ctx)
    return caught.value


def test_the_defaults_let_an_ordinary_order_through() -> None:
    check_order(context())


@pytest.mark.parametrize(
    ("req", "limits", "extra", "rule", "numbers"),
    [
        (
            request(quantity=500),
            {"max_order_value": 1_000_000},
            {},
            "max_order_value",
            ["order value 1,250,000.00 INR", "max_order_value 1,000,000", "account paper"],
        ),
        (
            request(quantity=150_000),
            {"max_order_value": 0},
            {},
            "max_order_quantity",
            ["quantity 150,000", "max_order_quantity 100,000"],
        ),
        (
            request(order_type=OrderType.LIMIT, price=D(2800)),
            {},
            {},
            "price_band_pct",
            ["limit price 2,800.00", "12.00%", "last price 2,500.00", "price_band_pct 10"],
        ),
        (
            request(order_type=OrderType.SL_M, trigger_price=D(2200), side=Side.SELL),
            {"price_band_pct": "5.5"},
            {},
            "price_band_pct",
            ["trigger price 2,200.00", "12.00%", "price_band_pct 5.5"],
        ),
        (request(), {"exchanges": ["bse", "NFO"]}, {}, "exchanges", ["NSE", "BSE, NFO"]),
        (request(), {"symbols": ["INFY", "BSE:RELIANCE"]}, {}, "symbols", ["NSE:RELIANCE"]),
        (request(), {"blocked_symbols": ["reliance"]}, {}, "blocked_symbols", ["NSE:RELIANCE"]),
        (
            request(),
            {"max_open_positions": 2},
            {"positions": (position(5, InstrumentId("NSE", "INFY")), position(-3, INSTR_TCS))},
            "max_open_positions",
            ["2 open positions", "max_open_positions 2"],
        ),
        (
            request(),
            {"daily_loss_limit": 50_000},
            {"day_pnl": D("-50000.5")},
            "daily_loss_limit",
            ["-50,000.50", "daily_loss_limit 50,000", "exits", "still work"],
        ),
        (request(), {}, {"halt_reason": "stopped by /halt"}, "halt", ["stopped by /halt"]),
        (
            request(),
            {},
            {"now": SATURDAY},
            "market_hours",
            ["NSE is closed at Sat 2026-01-03 11:30 IST", "not a trading day", "Mon 2026-01-05"],
        ),
        (
            request(),
            {},
            {"now": datetime(2026, 1, 5, 11, 0, tzinfo=UTC)},
            "market_hours",
            ["16:30 IST", "outside its session 09:15-15:30", "opens Tue 2026-01-06 09:15 IST"],
        ),
        (
            request(instrument=InstrumentId("LSE", "VOD")),
            {},
            {},
            "market_hours",
            ["no market calendar for exchange LSE"],
        ),
    ],
)
def test_each_rule_denies_with_its_name_and_numbers(
    req: OrderRequest, limits: dict[str, Any], extra: dict[str, Any], rule: str, numbers: list[str]
) -> None:
    error = denied(context(req, limits, **extra))
    assert error.rule == rule
    for number in numbers:
        assert number in str(error)


def test_a_rule_set_to_zero_or_empty_is_off() -> None:
    off = {
        "max_order_value": 0,
        "max_order_quantity": 0,
        "price_band_pct": 0,
        "max_open_positions": 0,
        "market_hours": False,
    }
    big = request(quantity=10_000_000, order_type=OrderType.LIMIT, price=D(9000))
    many = tuple(position(1, InstrumentId("NSE", f"S{i}")) for i in range(100))
    check_order(context(big, off, now=SATURDAY, positions=many, day_pnl=D(-(10**9))))


def test_a_symbol_may_be_listed_bare_or_with_its_exchange() -> None:
    check_order(context(limits={"symbols": ["RELIANCE"]}))
    check_order(context(limits={"symbols": ["NSE:RELIANCE"], "exchanges": ["NSE"]}))
    assert denied(context(limits={"blocked_symbols": ["NSE:RELIANCE"]})).rule == "blocked_symbols"


def test_without_a_last_price_value_and_band_cannot_be_checked_so_they_deny() -> None:
    market = denied(context(last_price=None))
    assert market.rule == "max_order_value" and "cannot be checked" in str(market)
    limit = request(order_type=OrderType.LIMIT, price=D(2500))
    band = denied(context(limit, last_price=None))
    assert band.rule == "price_band_pct" and "no last price for NSE:RELIANCE" in str(band)
    check_order(context(limit, {"price_band_pct": 0}, last_price=None))  # value from the price


def test_max_open_positions_counts_working_entries_and_spares_adding_to_a_position() -> None:
    infy = InstrumentId("NSE", "INFY")
    entry = replace(working(Side.BUY, 5, OrderPurpose.ENTRY), request=request(instrument=infy))
    ctx = context(limits={"max_open_positions": 1}, working=(entry,))
    assert denied(ctx).rule == "max_open_positions"
    check_order(replace(ctx, positions=(position(10),), working=()))  # adds to RELIANCE
    unread = denied(replace(ctx, positions=None, working=()))
    assert "cannot be checked" in str(unread)


def test_the_daily_loss_halt_stays_for_the_day_once_crossed() -> None:
    ctx = context(limits={"daily_loss_limit": 50_000}, day_pnl=D(-10_000))
    check_order(ctx)
    error = denied(replace(ctx, loss_halt_pnl=D(-55_000)))
    assert error.rule == "daily_loss_limit" and "-55,000.00" in str(error)


def test_an_unknown_day_pnl_does_not_halt() -> None:
    check_order(context(limits={"daily_loss_limit": 1}, day_pnl=None))


def test_reduces_position_needs_the_opposite_side_and_no_more_than_is_left() -> None:
    sell = request(side=Side.SELL, quantity=10)
    assert reduces_position(sell, [position(10)])
    assert not reduces_position(sell, [position(9)])  # would flip to short
    assert not reduces_position(request(quantity=10), [position(10)])  # adds
    assert reduces_position(request(quantity=3), [position(-3)])  # buys back a short
    assert not reduces_position(sell, [replace(position(10), product=Product.MIS)])
    assert not reduces_position(sell, [position(10)], [working(Side.SELL, 4)])
    assert reduces_position(replace(sell, quantity=6), [position(10)], [working(Side.SELL, 4)])


def test_a_reducing_entry_passes_the_halting_rules_but_not_the_fat_finger_band() -> None:
    sell = request(side=Side.SELL, quantity=10)
    ctx = context(sell, HALTING_LIMITS, positions=(position(10), position(1, INSTR_TCS)), **HALTING)
    check_order(ctx)
    fat = replace(sell, order_type=OrderType.LIMIT, price=D(250))
    assert denied(replace(ctx, request=fat)).rule == "price_band_pct"
    assert denied(replace(ctx, now=SATURDAY)).rule == "market_hours"
    not_reducing = replace(sell, quantity=11)
    assert denied(replace(ctx, request=not_reducing)).rule == "halt"


@given(
    side=st.sampled_from(Side),
    quantity=st.integers(1, 10**9),
    price=st.one_of(st.none(), st.decimals("0.05", "1e7", places=2)),
    last=st.one_of(st.none(), st.decimals("0.05", "1e7", places=2)),
    pnl=st.one_of(st.none(), st.decimals("-1e9", "1e9", places=2)),
    hours_ahead=st.integers(0, 24 * 14),
)
def test_no_rule_ever_blocks_an_exit(
    side: Side,
    quantity: int,
    price: Decimal | None,
    last: Decimal | None,
    pnl: Decimal | None,
    hours_ahead: int,
) -> None:
    kind = OrderType.MARKET if price is None else OrderType.LIMIT
    req = request(side=side, quantity=quantity, order_type=kind, price=price)
    strict = {
        "max_order_value": 1,
        "max_order_quantity": 1,
        "price_band_pct": "0.01",
        "exchanges": ["BSE"],
        "symbols": ["INFY"],
        "blocked_symbols": ["RELIANCE"],
        "max_open_positions": 1,
        "daily_loss_limit": 1,
    }
    ctx = context(
        req,
        strict,
        purpose=OrderPurpose.EXIT,
        last_price=last,
        day_pnl=pnl,
        loss_halt_pnl=D(-5),
        halt_reason="halted",
        positions=None,
        now=SATURDAY + timedelta(hours=hours_ahead),
    )
    check_order(ctx)
    check_change(ctx)


@given(held=st.integers(1, 10_000), data=st.data())
def test_an_entry_that_only_reduces_is_never_stopped_by_a_halting_rule(
    held: int, data: st.DataObject
) -> None:
    short = data.draw(st.booleans())
    quantity = data.draw(st.integers(1, held))
    side = Side.BUY if short else Side.SELL
    req = request(side=side, quantity=quantity)
    others = tuple(position(1, InstrumentId("NSE", f"X{i}")) for i in range(3))
    ctx = context(
        req,
        {**HALTING_LIMITS, "max_order_value": 0, "max_order_quantity": 0},
        positions=(position(-held if short else held), *others),
        loss_halt_pnl=D(-70_000),
        **HALTING,
    )
    check_order(ctx)


def test_a_modified_price_is_held_to_the_band() -> None:
    limit = request(order_type=OrderType.LIMIT, price=D(2800))
    with pytest.raises(OrderDenied) as caught:
        check_change(context(limit))
    error = caught.value
    assert error.rule == "price_band_pct" and "2,800.00" in str(error)
    # A change is held to the size and price rules only: not to halts or the session.
    check_change(context(limit, halt_reason="halted", now=SATURDAY, last_price=D(2700)))
