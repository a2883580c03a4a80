"""Exactly one exit per position: storms of crossings, racing /exit, restarts mid-exit."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brokers.paper import PaperBroker, PaperSettings, validate_settings
from core.broker import BrokerKind, OrderUpdate
from core.domain.errors import UserError
from core.domain.exit_rules import RuleKind
from core.domain.models import OrderReport, OrderRequest, Position, Product, Side
from core.orders.sync import SyncSettings
from tests.support import AlertLog, paper_config, running_service
from tests.test_autoexit import INFY, open_position, paper, rules
from tests.test_restart import Crash

ACTIONS = st.sampled_from(["stop_loss", "target", "trailing", "manual", "tick"])


async def _storm(plan: list[tuple[str, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        alerts = AlertLog()
        async with running_service(paper_config(Path(tmp)), alerts=alerts) as service:
            broker = await open_position(service, alerts, "/buy INFY 10 sl=1450 tp=1600 trail=1%")
            armed = {rule.kind.value: rule for rule in await rules(service)}
            assert len(armed) == 3
            position = Position("paper", INFY, Product.CNC, 10, Decimal(0), Decimal(0))

            async def act(kind: str, delay: int) -> None:
                for _ in range(delay):
                    await asyncio.sleep(0)
                if kind == "manual":
                    try:
                        await service.execution.exit_position("paper", position)
                    except UserError:
                        pass  # flat already, or an exit is working: nothing more to do
                elif kind == "tick":
                    broker.set_price(INFY, "1400")
                else:
                    await service.autoexits.fire(armed[kind], Decimal("1400"))

            await asyncio.gather(*(act(kind, delay) for kind, delay in plan))
            await asyncio.sleep(0.2)  # let any retry or stray firing have its chance
            assert await service.settle(5)
            sells = [o for o in await broker.fetch_orders() if o.side is Side.SELL]
            assert len(sells) == 1, sells
            assert sells[0].filled_quantity == 10
            assert sum(p.quantity for p in await broker.fetch_positions()) == 0


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(plan=st.lists(st.tuples(ACTIONS, st.integers(0, 4)), min_size=2, max_size=8))
def test_exactly_one_exit_under_a_storm_of_crossings_and_manual_exits(
    plan: list[tuple[str, int]],
) -> None:
    asyncio.run(_storm(plan))


class CrashOnExit(PaperBroker):
    """The process dies right after the broker accepted an exit: nothing else runs."""

    async def create_order(self, request: OrderRequest, client_order_id: str) -> OrderReport:
        report = await super().create_order(request, client_order_id)
        if request.side is Side.SELL:
            raise Crash
        return report

    async def _silence(self) -> AsyncIterator[OrderUpdate]:
        await asyncio.Event().wait()
        yield  # type: ignore[misc]  # pragma: no cover - never reached

    def stream_order_updates(self) -> AsyncIterator[OrderUpdate]:
        return self._silence()  # a dead process reads no pushes


def crash_kind() -> BrokerKind:
    def factory(account: str, values: Mapping[str, Any]) -> PaperBroker:
        return CrashOnExit(account, PaperSettings.model_validate(dict(values)))

    return BrokerKind("paper", factory, validate_settings)


async def test_a_restart_in_the_middle_of_an_exit_settles_it_without_a_second_order(
    tmp_path: Path,
) -> None:
    config = paper_config(tmp_path)
    alerts = AlertLog()
    slow_sync = SyncSettings(poll_interval_s=60)
    async with running_service(
        config, kinds=[crash_kind()], alerts=alerts, sync=slow_sync
    ) as service:
        paper(service).set_price(INFY, "1500")
        await service.desk.execution.place(
            OrderRequest("paper", INFY, Side.BUY, 10, product=Product.CNC)
        )
        await service.desk.exit_rules().set_rule(
            "paper", INFY, RuleKind.STOP_LOSS, Decimal(1450), False
        )
        paper(service).set_price(INFY, "1440")
        await alerts.wait_for("exit_triggered")
        await asyncio.sleep(0.1)
        [rule] = await rules(service)
        assert rule.state.value == "TRIGGERED"

    alerts = AlertLog()
    async with running_service(config, alerts=alerts) as service:
        broker = paper(service)
        broker.set_price(INFY, "1430")  # still beyond the stop: must not sell again
        await asyncio.sleep(0.3)
        assert await service.settle(5)
        sells = [o for o in await broker.fetch_orders() if o.side is Side.SELL]
        assert len(sells) == 1
        assert await rules(service) == []
        assert sum(p.quantity for p in await broker.fetch_positions()) == 0
