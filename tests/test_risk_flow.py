"""Pre-trade risk checks end to end: /buy -> desk -> risk service -> (nothing) paper broker."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.app import Service
from bot.handlers import handle_button, handle_text
from bot.replies import Reply, to_plain
from core.domain.clock import ManualClock
from core.domain.models import OrderStatus
from core.risk.service import RiskService
from tests.support import AlertLog, paper_config, running_service
from tests.test_flows import OWNER, confirm_data, paper

SATURDAY = datetime(2026, 1, 3, 6, 0, tzinfo=UTC)  # 11:30 IST


def risk(service: Service) -> RiskService:
    assert service.execution.risk is not None
    return service.execution.risk


async def refused(service: Service, line: str) -> str:
    """Send a command that must be refused; return the refusal's text."""
    [reply] = await handle_text(service.desk, OWNER, line)
    assert reply.error and not reply.buttons, reply.html
    return to_plain(reply.html)


async def sends_nothing(service: Service) -> None:
    assert await paper(service).fetch_orders() == []
    assert await service.tracker.recent() == []


async def placed(service: Service, line: str) -> Reply:
    [ticket] = await handle_text(service.desk, OWNER, line)
    assert ticket.buttons, ticket.html
    [result] = await handle_button(service.desk, OWNER, confirm_data(ticket))
    assert not result.error, result.html
    return result


@pytest.mark.parametrize(
    ("limits", "line", "fragments"),
    [
        (
            {"max_order_value": 10_000},
            "/buy RELIANCE 10",
            ["order value 15,000.00 INR is above max_order_value 10,000 for account paper"],
        ),
        (
            {"max_order_quantity": 5},
            "/buy RELIANCE 10",
            ["quantity 10 is above max_order_quantity 5 for account paper"],
        ),
        (
            {},
            "/buy RELIANCE 10 @1800",
            ["limit price 1,800.00 is 20.00% from the last price 1,500.00", "price_band_pct 10"],
        ),
        (
            {"price_band_pct": 3},
            "/sell RELIANCE 10 trigger=1400",
            ["trigger price 1,400.00 is 6.67% from", "price_band_pct 3"],
        ),
        ({"exchanges": ["BSE"]}, "/buy RELIANCE 1", ["NSE is not in exchanges (BSE)"]),
        ({"symbols": ["INFY", "TCS"]}, "/buy RELIANCE 1", ["not in symbols (INFY, TCS)"]),
        ({"blocked_symbols": ["RELIANCE"]}, "/buy RELIANCE 1", ["in blocked_symbols"]),
    ],
)
async def test_each_rule_refuses_a_buy_with_its_reason_and_sends_nothing(
    tmp_path: Path, limits: dict[str, Any], line: str, fragments: list[str]
) -> None:
    async with running_service(paper_config(tmp_path, risk=limits)) as service:
        paper(service).set_price("NSE:RELIANCE", "1500")
        text = await refused(service, line)
        for fragment in fragments:
            assert fragment in text
        await sends_nothing(service)


async def test_a_closed_market_refuses_a_buy_and_says_when_it_opens(tmp_path: Path) -> None:
    config = paper_config(tmp_path, risk={"market_hours": True})
    async with running_service(config, clock=ManualClock(SATURDAY)) as service:
        text = await refused(service, "/buy RELIANCE 1")
        assert "NSE is closed at Sat 2026-01-03 11:30 IST (not a trading day)" in text
        assert "opens Mon 2026-01-05 09:15 IST (market_hours for account paper)" in text
        await sends_nothing(service)


async def test_max_open_positions_refuses_a_new_position_but_not_adding(tmp_path: Path) -> None:
    async with running_service(paper_config(tmp_path, risk={"max_open_positions": 1})) as svc:
        await placed(svc, "/buy INFY 2")
        text = await refused(svc, "/buy RELIANCE 1")
        assert "has 1 open positions" in text and "max_open_positions 1" in text
        await placed(svc, "/buy INFY 1")  # adds to the open position
        assert [o.instrument.symbol for o in await paper(svc).fetch_orders()] == ["INFY", "INFY"]


async def test_a_halt_after_the_ticket_refuses_the_confirm_and_records_nothing(
    tmp_path: Path,
) -> None:
    async with running_service(paper_config(tmp_path)) as service:
        [ticket] = await handle_text(service.desk, OWNER, "/buy RELIANCE 1")
        risk(service).halt_reason = lambda account: "stopped by /halt"
        [reply] = await handle_button(service.desk, OWNER, confirm_data(ticket))
        assert reply.error
        assert "new entries on account paper are halted: stopped by /halt" in to_plain(reply.html)
        await sends_nothing(service)


async def test_a_modify_beyond_the_band_is_refused_and_the_order_unchanged(
    tmp_path: Path,
) -> None:
    async with running_service(paper_config(tmp_path)) as service:
        paper(service).set_price("NSE:INFY", "1500")
        result = await placed(service, "/buy INFY 5 @1450")
        ref = to_plain(result.html).split()[1].rstrip(":")
        [modify] = await handle_text(service.desk, OWNER, f"/modify {ref} price=1000")
        [reply] = await handle_button(service.desk, OWNER, confirm_data(modify))
        assert reply.error and "limit price 1,000.00 is 33.33% from" in to_plain(reply.html)
        [report] = await paper(service).fetch_orders()
        assert report.price == Decimal(1450) and report.status is OrderStatus.OPEN


async def test_the_daily_loss_limit_halts_entries_alerts_once_and_exits_still_work(
    tmp_path: Path,
) -> None:
    alerts = AlertLog()
    config = paper_config(tmp_path, risk={"daily_loss_limit": 1000})
    async with running_service(config, alerts=alerts) as service:
        broker = paper(service)
        # The day's P&L comes from the desk's own P&L service: its first reading (flat) is
        # the day's baseline.
        assert await service.pnl.day_pnl("paper") == 0
        broker.set_price("NSE:RELIANCE", "1500")
        await placed(service, "/buy RELIANCE 10")
        broker.set_price("NSE:RELIANCE", "1340")  # P&L -1,600

        text = await refused(service, "/buy INFY 1")
        assert "today's P&L reached -1,600.00, beyond the daily_loss_limit 1,000" in text
        [halt] = await alerts.wait_for("risk_halt")
        assert "New entries are halted" in halt.data["message"]
        assert "exits" in halt.data["message"]

        await placed(service, "/sell RELIANCE 4")  # reduces the position: allowed
        [exit_ticket] = await handle_text(service.desk, OWNER, "/exit RELIANCE")
        assert "SELL 6" in to_plain(exit_ticket.html)
        await handle_button(service.desk, OWNER, confirm_data(exit_ticket))
        [positions] = await handle_text(service.desk, OWNER, "/positions")
        assert "flat" in to_plain(positions.html)

        await refused(service, "/buy RELIANCE 1")  # still halted for the day
        assert await service.settle(5)
        sides = [(o.side.value, o.quantity) for o in await broker.fetch_orders()]
        assert sides == [("BUY", 10), ("SELL", 4), ("SELL", 6)]
    assert alerts.kinds().count("risk_halt") == 1
