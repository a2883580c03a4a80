"""Automatic exits end to end: arm on fill, fire on a crossing, settle, never twice."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.app import Service
from bot.handlers import handle_button, handle_text
from brokers.paper import PaperBroker
from core.domain.exit_rules import RuleState
from core.domain.models import InstrumentId, OrderPurpose, OrderRequest, OrderStatus, Product, Side
from tests.support import AlertLog, paper_config, running_service
from tests.test_flows import OWNER, confirm_data

INFY = InstrumentId("NSE", "INFY")


def paper(service: Service) -> PaperBroker:
    broker = service.registry.get("paper")
    assert isinstance(broker, PaperBroker)
    return broker


async def buy(service: Service, line: str) -> None:
    [ticket] = await handle_text(service.desk, OWNER, line)
    assert ticket.buttons, ticket.html
    await handle_button(service.desk, OWNER, confirm_data(ticket))


async def open_position(
    service: Service, alerts: AlertLog, line: str, price: str = "1500"
) -> PaperBroker:
    """INFY at ``price``, ``line`` (a buy with exit options) confirmed, its exits armed."""
    broker = paper(service)
    broker.set_price(INFY, price)
    await buy(service, line)
    await alerts.wait_for("exit_armed")
    return broker


async def rules(service: Service) -> list[Any]:
    return await service.desk.exit_rules().list_rules("paper")


async def until(service: Service, check: Any, timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not await check():
            await service.tracker.wait_for_change(0.05)


async def position(service: Service, instrument: InstrumentId = INFY) -> int:
    return sum(
        p.quantity for p in await paper(service).fetch_positions() if p.instrument == instrument
    )


async def exit_orders(service: Service) -> list[Any]:
    return [o for o in await service.tracker.recent() if o.purpose is OrderPurpose.EXIT]


async def test_a_stop_loss_set_with_the_order_fires_when_the_price_crosses(tmp_path: Path) -> None:
    alerts = AlertLog()
    async with running_service(paper_config(tmp_path), alerts=alerts) as service:
        await open_position(service, alerts, "/buy INFY 10 sl=1450 tp=1600")
        armed = await rules(service)
        assert sorted((r.kind.value, r.trigger, r.quantity) for r in armed) == [
            ("stop_loss", Decimal("1450"), 10),
            ("target", Decimal("1600"), 10),
        ]
        paper(service).set_price(INFY, "1460")
        paper(service).set_price(INFY, "1449")
        [triggered] = await alerts.wait_for("exit_triggered")
        assert "stop-loss hit at 1449" in triggered.data["message"]
        await alerts.wait_for("order_filled", 2)
        assert await position(service) == 0
        await until(service, lambda: _no_live_rules(service))
        [exit_order] = await exit_orders(service)
        assert exit_order.status is OrderStatus.FILLED and exit_order.request.side is Side.SELL


async def _no_live_rules(service: Service) -> bool:
    return await rules(service) == []


async def test_a_one_tick_spike_inside_the_buffer_sells_nothing(tmp_path: Path) -> None:
    from core.autoexit import AutoExitSettings
    from core.domain.exit_rules import SpikeBuffer
    from tests.support import FAST_EXITS

    settings = AutoExitSettings(monitor=FAST_EXITS.monitor, buffer=SpikeBuffer(dwell_s=0.3))
    alerts = AlertLog()
    async with running_service(paper_config(tmp_path), alerts=alerts, exits=settings) as svc:
        await open_position(svc, alerts, "/buy INFY 10 sl=1450")
        paper(svc).set_price(INFY, "1300")  # one bad print
        paper(svc).set_price(INFY, "1500")
        await asyncio.sleep(0.5)
        paper(svc).set_price(INFY, "1501")
        await asyncio.sleep(0.1)
        assert await exit_orders(svc) == []
        assert await position(svc) == 10
        [rule] = await rules(svc)
        assert rule.state is RuleState.ARMED


async def test_partial_fills_arm_the_filled_quantity(tmp_path: Path) -> None:
    alerts = AlertLog()
    config = paper_config(tmp_path, book_size=4)
    async with running_service(config, alerts=alerts) as service:
        await open_position(service, alerts, "/buy INFY 10 sl=1400")
        [rule] = await rules(service)
        assert rule.quantity == 4
        paper(service).set_price(INFY, "1501")
        await alerts.wait_for("order_partially_filled", 2)
        await until(service, lambda: _rule_quantity(service, 8))
        paper(service).set_price(INFY, "1502")
        await alerts.wait_for("order_filled")
        await until(service, lambda: _rule_quantity(service, 10))


async def _rule_quantity(service: Service, quantity: int) -> bool:
    return [r.quantity for r in await rules(service)] == [quantity]


async def test_an_externally_closed_position_disarms_and_places_no_exit(tmp_path: Path) -> None:
    alerts = AlertLog()
    async with running_service(paper_config(tmp_path), alerts=alerts) as service:
        broker = await open_position(service, alerts, "/buy INFY 10 sl=1450")
        # The trader sells in the broker's own app: pocketdesk never sees the order placed.
        outside = OrderRequest("paper", INFY, Side.SELL, 10, product=Product.CNC)
        await broker.create_order(outside, "placed-by-hand")
        [disarmed] = await alerts.wait_for("exit_disarmed")
        assert "outside pocketdesk" in disarmed.data["message"]
        broker.set_price(INFY, "1400")
        await asyncio.sleep(0.3)
        assert await exit_orders(service) == []
        assert len(await broker.fetch_orders()) == 2


async def test_rules_set_by_command_on_an_open_position(tmp_path: Path) -> None:
    alerts = AlertLog()
    async with running_service(paper_config(tmp_path), alerts=alerts) as service:
        paper(service).set_price(INFY, "1500")
        await buy(service, "/buy INFY 10")
        await alerts.wait_for("order_filled")
        [reply] = await handle_text(service.desk, OWNER, "/sl INFY 2%")
        assert "stop-loss 1,470.00" in reply.html
        [reply] = await handle_text(service.desk, OWNER, "/trail INFY 20")
        assert "trailing stop 1,480.00" in reply.html
        [bad] = await handle_text(service.desk, OWNER, "/tp INFY 1400")
        assert bad.error and "fire at once" in bad.html
        [listing] = await handle_text(service.desk, OWNER, "/exits")
        assert "stop-loss" in listing.html and "trailing" in listing.html
        paper(service).set_price(INFY, "1550")  # the trail follows: trigger 1530
        await asyncio.sleep(0.1)
        paper(service).set_price(INFY, "1529")
        [fired] = await alerts.wait_for("exit_triggered")
        assert "trailing stop hit at 1529" in fired.data["message"]
        await alerts.wait_for("order_filled", 2)
        [cleared] = await handle_text(service.desk, OWNER, "/exits clear INFY")
        assert "No armed exit rules" in cleared.html  # the fill already retired them
        assert await position(service) == 0


async def test_a_new_stop_is_not_judged_by_the_price_from_before_it_was_watched(
    tmp_path: Path,
) -> None:
    """Regression: a stop armed on an instrument that was watched earlier fired at once on
    the last price seen back then."""
    alerts = AlertLog()
    async with running_service(paper_config(tmp_path), alerts=alerts) as service:
        broker = await open_position(service, alerts, "/buy INFY 10 sl=1450")
        broker.set_price(INFY, "1400")
        await alerts.wait_for("order_filled", 2)
        broker.set_price(INFY, "1600")
        await buy(service, "/buy INFY 10 sl=1550")
        await alerts.wait_for("exit_armed", 2)
        await asyncio.sleep(0.3)
        assert len(await alerts.wait_for("exit_triggered")) == 1
        assert await position(service) == 10


async def test_a_rule_can_carry_its_own_spike_buffer(tmp_path: Path) -> None:
    alerts = AlertLog()
    async with running_service(paper_config(tmp_path), alerts=alerts) as service:
        paper(service).set_price(INFY, "1500")
        await buy(service, "/buy INFY 10")
        await alerts.wait_for("order_filled")
        [reply] = await handle_text(service.desk, OWNER, "/sl INFY 1450 band=1% dwell=0.2s")
        assert "buffer 1% / 0.2 s" in reply.html
        paper(service).set_price(INFY, "1440")  # beyond the trigger, inside the 1% band
        await asyncio.sleep(0.3)
        assert await exit_orders(service) == []
        paper(service).set_price(INFY, "1430")  # beyond the band: the dwell starts
        await asyncio.sleep(0.25)
        paper(service).set_price(INFY, "1429")  # still beyond after the dwell: fire
        await alerts.wait_for("exit_triggered")
