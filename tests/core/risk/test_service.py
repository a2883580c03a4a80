"""The risk service: what it reads from the broker and P&L, and the alerts it writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from core.config import RiskConfig
from core.domain.alerts import Event, EventKind
from core.domain.clock import ManualClock
from core.domain.errors import OrderDenied
from core.domain.models import (
    InstrumentId,
    OrderPurpose,
    OrderType,
    Position,
    Quote,
    Side,
)
from core.risk.service import RiskService
from tests.core.risk.test_rules import (
    INSTRUMENT,
    MONDAY_1000_IST,
    SATURDAY,
    position,
    request,
    working,
)

D = Decimal


class StubBroker:
    """Just the reads the risk service makes; counts them."""

    account = "paper"

    def __init__(self, last: str = "2500", positions: list[Position] | None = None) -> None:
        self.last = D(last)
        self.positions = positions or []
        self.reads = 0
        self.fail_positions = False

    async def fetch_quotes(self, instruments: list[InstrumentId]) -> dict[InstrumentId, Quote]:
        self.reads += 1
        return {i: Quote(i, self.last, MONDAY_1000_IST) for i in instruments}

    async def fetch_positions(self) -> list[Position]:
        self.reads += 1
        if self.fail_positions:
            raise ConnectionError("down")
        return self.positions


class Alerts:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, event: Event) -> None:
        self.events.append(event)


def service(limits: dict[str, Any], clock: ManualClock, **kw: Any) -> RiskService:
    return RiskService({"paper": RiskConfig.model_validate(limits)}, clock, **kw)


async def test_the_service_denies_on_the_injected_pnl_and_alerts_once_a_day() -> None:
    clock = ManualClock(MONDAY_1000_IST)
    alerts = Alerts()
    pnl = {"paper": D(-10_000)}

    async def day_pnl(account: str, positions: Sequence[Position]) -> Decimal | None:
        return pnl[account]

    risk = service({"daily_loss_limit": 50_000}, clock, alert=alerts, day_pnl=day_pnl)
    broker = StubBroker(positions=[position(10)])
    await risk.check(broker, request(), INSTRUMENT)  # type: ignore[arg-type]
    pnl["paper"] = D(-51_000)
    for _ in range(3):
        with pytest.raises(OrderDenied) as caught:
            await risk.check(broker, request(), INSTRUMENT)  # type: ignore[arg-type]
        assert caught.value.rule == "daily_loss_limit"
    assert not await risk.note_day_pnl("paper", D(-52_000))
    [alert] = alerts.events
    assert alert.kind is EventKind.RISK_HALT and alert.account == "paper"
    assert "-51,000.00" in alert.data["message"] and "exits" in alert.data["message"]

    pnl["paper"] = D(-20_000)  # recovered: still halted for the day
    with pytest.raises(OrderDenied, match=r"-51,000\.00"):
        await risk.check(broker, request(), INSTRUMENT)  # type: ignore[arg-type]
    sell = request(side=Side.SELL, quantity=10)
    await risk.check(broker, sell, INSTRUMENT)  # type: ignore[arg-type]  # reduces: allowed

    clock.advance(24 * 3600)  # the next day
    await risk.check(broker, request(), INSTRUMENT)  # type: ignore[arg-type]
    assert await risk.note_day_pnl("paper", D(-60_000))
    assert len(alerts.events) == 2


async def test_the_service_asks_nothing_of_the_broker_for_an_exit() -> None:
    broker = StubBroker()
    risk = service({}, ManualClock(SATURDAY), halt_reason=lambda account: "halted")
    await risk.check(broker, request(), INSTRUMENT, OrderPurpose.EXIT)  # type: ignore[arg-type]
    assert broker.reads == 0
    with pytest.raises(OrderDenied, match="halted") as caught:
        await risk.check(broker, request(), INSTRUMENT)  # type: ignore[arg-type]
    assert caught.value.rule == "halt"


async def test_the_service_denies_when_the_positions_cannot_be_read() -> None:
    broker = StubBroker()
    broker.fail_positions = True
    risk = service({"market_hours": False}, ManualClock(MONDAY_1000_IST))
    with pytest.raises(OrderDenied, match="cannot be checked") as caught:
        await risk.check(broker, request(), INSTRUMENT)  # type: ignore[arg-type]
    assert caught.value.rule == "max_open_positions"


async def test_the_service_checks_a_modification_against_the_last_price() -> None:
    risk = service({}, ManualClock(MONDAY_1000_IST))
    order = working(Side.BUY, 10, OrderPurpose.ENTRY)
    order = replace(order, request=request(order_type=OrderType.LIMIT, price=D(2450)))
    broker = StubBroker(last="2500")
    await risk.check_modify(broker, order, INSTRUMENT, price=D(2300))  # type: ignore[arg-type]
    with pytest.raises(OrderDenied) as caught:
        await risk.check_modify(broker, order, INSTRUMENT, price=D(3000))  # type: ignore[arg-type]
    assert caught.value.rule == "price_band_pct"
    with pytest.raises(OrderDenied) as caught:
        await risk.check_modify(broker, order, INSTRUMENT, quantity=500)  # type: ignore[arg-type]
    assert caught.value.rule == "max_order_value"
    exit_order = replace(order, purpose=OrderPurpose.EXIT)
    await risk.check_modify(broker, exit_order, INSTRUMENT, price=D(9000))  # type: ignore[arg-type]


def test_an_account_calendar_file_is_read_once_at_start(tmp_path: Any) -> None:
    path = tmp_path / "cal.toml"
    path.write_text("[exchanges.NSE]\nholidays = [2026-01-05]\n")
    limits = {"calendar_file": str(path)}
    risk = service(limits, ManualClock(MONDAY_1000_IST))
    assert not risk.calendar_for("paper").is_trading_day("NSE", MONDAY_1000_IST.date())
    assert risk.calendar_for("other").is_trading_day("NSE", MONDAY_1000_IST.date())


async def test_the_loss_limit_reads_the_day_pnl_from_the_checks_own_positions() -> None:
    given: list[Sequence[Position]] = []

    async def day_pnl(account: str, positions: Sequence[Position]) -> Decimal | None:
        given.append(positions)
        return D(0)

    risk = service({"daily_loss_limit": 1}, ManualClock(MONDAY_1000_IST), day_pnl=day_pnl)
    broker = StubBroker(positions=[position(10)])
    await risk.check(broker, request(), INSTRUMENT)  # type: ignore[arg-type]
    assert broker.reads == 2  # one quote, one read of the positions: not a second for the P&L
    assert given == [(position(10),)]
    broker.fail_positions = True
    with pytest.raises(OrderDenied):  # max_open_positions cannot be checked
        await risk.check(broker, request(), INSTRUMENT)  # type: ignore[arg-type]
    assert len(given) == 1  # and an unknown P&L is not asked for
