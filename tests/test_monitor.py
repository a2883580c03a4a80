"""The tick monitor under faults: silent streams, drops, dead tokens, late rejections."""

from __future__ import annotations

import asyncio
from pathlib import Path

from core.domain.exit_rules import RuleState
from core.domain.models import OrderStatus
from tests.support import AlertLog, paper_config, running_service
from tests.test_autoexit import INFY, buy, exit_orders, open_position, paper, position, rules


async def test_a_stalled_stream_falls_back_to_polling_and_the_stop_still_fires(
    tmp_path: Path,
) -> None:
    alerts = AlertLog()
    config = paper_config(tmp_path, tick_interval_s=0.05)
    async with running_service(config, alerts=alerts) as service:
        broker = await open_position(service, alerts, "/buy INFY 10 sl=1000")
        broker.faults.stall_stream()  # the socket goes silent; the market keeps moving
        [fallback] = await alerts.wait_for("feed_fallback")
        assert "polling NSE:INFY" in fallback.data["message"]
        broker.set_price(INFY, "990")
        await alerts.wait_for("exit_triggered")
        await alerts.wait_for("order_filled", 2)
        assert await position(service) == 0
        broker.faults.resume_stream()
        # The stop is done, so nothing is watched any more: no recovery alert is owed.
        assert service.autoexits.feeds["paper"].stalls_detected >= 1


async def test_polling_stops_when_the_stream_is_healthy_again(tmp_path: Path) -> None:
    alerts = AlertLog()
    config = paper_config(tmp_path, tick_interval_s=0.02)
    async with running_service(config, alerts=alerts) as service:
        broker = await open_position(service, alerts, "/buy INFY 10 sl=100")
        broker.faults.stall_stream()
        await alerts.wait_for("feed_fallback")
        broker.faults.resume_stream()
        [recovered] = await alerts.wait_for("feed_recovered")
        assert "NSE:INFY" in recovered.data["message"]
        assert service.autoexits.feeds["paper"].polled == set()


async def test_a_dropped_connection_is_reconnected(tmp_path: Path) -> None:
    alerts = AlertLog()
    config = paper_config(tmp_path, tick_interval_s=0.02)
    async with running_service(config, alerts=alerts) as service:
        broker = await open_position(service, alerts, "/buy INFY 10 sl=1400")
        feed = service.autoexits.feeds["paper"]
        broker.faults.drop_stream()
        await asyncio.sleep(0.1)
        broker.set_price(INFY, "1390")
        await alerts.wait_for("exit_triggered")
        assert not feed.auth_failed


async def test_a_dead_token_stops_reconnecting_and_asks_to_log_in(tmp_path: Path) -> None:
    alerts = AlertLog()
    config = paper_config(tmp_path, tick_interval_s=0.02)
    async with running_service(config, alerts=alerts) as service:
        broker = paper(service)
        broker.set_price(INFY, "1500")
        broker.faults.fail_connect(auth=True)
        broker.faults.drop_stream()
        await buy(service, "/buy INFY 10 sl=1400")
        [expired] = await alerts.wait_for("token_expired")
        assert "log in again" in expired.data["message"]
        feed = service.autoexits.feeds["paper"]
        assert feed.auth_failed
        await asyncio.sleep(0.2)
        assert len(await alerts.wait_for("token_expired")) == 1  # one alert, no retry storm


async def test_a_late_rejection_of_the_exit_rearms_the_rule_and_alerts(tmp_path: Path) -> None:
    alerts = AlertLog()
    async with running_service(paper_config(tmp_path), alerts=alerts) as service:
        broker = await open_position(service, alerts, "/buy INFY 10 sl=1450")
        broker.faults.reject_after_accept(1, "RMS: exposure limit")
        broker.set_price(INFY, "1440")
        [rearmed] = await alerts.wait_for("exit_rearmed")
        assert "RMS: exposure limit" in rearmed.data["message"]
        [rejected_exit] = await exit_orders(service)
        assert rejected_exit.status is OrderStatus.REJECTED
        [rule] = await rules(service)
        assert rule.state is RuleState.ARMED
        # Armed again, the rule fires on the next crossing, and this time the exit fills.
        broker.set_price(INFY, "1439")
        await alerts.wait_for("exit_triggered", 2)
        await alerts.wait_for("order_filled", 2)
        assert await position(service) == 0


async def test_a_broker_that_keeps_refusing_the_exit_gets_no_stream_of_orders(
    tmp_path: Path,
) -> None:
    alerts = AlertLog()
    async with running_service(paper_config(tmp_path), alerts=alerts) as service:
        broker = await open_position(service, alerts, "/buy INFY 10 sl=1450")
        broker.faults.reject_next(100, "RMS: blocked")
        broker.set_price(INFY, "1440")
        [gave_up] = await alerts.wait_for("exit_disarmed")
        assert "3 times in a row" in gave_up.data["message"]
        await asyncio.sleep(0.4)  # well past the pause: nothing more is sent
        assert len(await exit_orders(service)) == 3
        assert len(await alerts.wait_for("exit_rearmed", 2)) == 2
        assert await rules(service) == []
        assert await position(service) == 10
