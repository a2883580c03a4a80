"""What the exit benchmarks share: the account, tick rounding, and a paper broker that notes when
an order reaches it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from brokers.paper import PaperBroker, PaperSettings, validate_settings
from brokers.paper.instruments import InstrumentMaster
from core.broker import BrokerKind
from core.domain.clock import SystemClock
from core.domain.models import OrderRequest, Side

Row = tuple[str, float, str]
ACCOUNT = "paper"
TICK = Decimal("0.05")


def round_to_tick(price: Decimal) -> Decimal:
    """``price`` rounded to the nearest multiple of ``TICK``."""
    return (price / TICK).quantize(Decimal(1)) * TICK


class TimedPaperBroker(PaperBroker):
    """The paper broker, noting when ``create_order`` is entered (before anything else runs)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiter: asyncio.Future[float] | None = None
        self.sells: list[float] = []

    async def create_order(self, request: OrderRequest, client_order_id: str) -> Any:
        entered = time.perf_counter()
        if request.side is Side.SELL:
            self.sells.append(entered)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(entered)
        return await super().create_order(request, client_order_id)


def timed_kind(instruments: InstrumentMaster | None = None) -> BrokerKind:
    """A ``paper`` broker kind building ``TimedPaperBroker`` (optionally on other instruments)."""

    def factory(account: str, settings: Mapping[str, Any]) -> TimedPaperBroker:
        return TimedPaperBroker(
            account,
            PaperSettings.model_validate(dict(settings)),
            clock=SystemClock(),
            instruments=instruments,
        )

    return BrokerKind(name="paper", factory=factory, validate_settings=validate_settings)


def percentile(samples: list[float], fraction: float) -> float:
    """The sample at ``fraction`` (0.99 for p99) of the sorted samples, nearest rank."""
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, int(len(ordered) * fraction + 0.5) - 1))]
