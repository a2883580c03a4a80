"""Fault injection for the paper broker: the failures of a real broker connection, on demand.

Tests and demos switch faults on through ``PaperBroker.faults``; the account's ``faults``
settings switch two on from the configuration (a stall cycle, every Nth order rejected). Each
fault shows the caller what a real broker would:

* a stalled stream goes silent (no ticks, no heartbeats) while the market keeps moving, and what
  it missed is never replayed;
* a dropped stream raises ``BrokerUnavailable`` on its next read; calling ``stream_ticks`` again
  is the reconnect, which ``fail_connect`` can make fail;
* a rejected order is a normal REJECTED order at the exchange, as a risk system's refusal is;
  "rejected after placed" is first accepted (OPEN) and then rejected before it can fill;
* a timeout after acceptance places the order and loses the answer (``OutcomeUnknown``).

The exchange has no notion of faults and stays the only one to change its records: the orders a
fault decides go through its ``record_rejected``, ``record_accepted`` and ``reject``, which book
them without its checks or matching, and everything else goes through ``PaperExchange`` unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from brokers.paper.config import PaperSettings
from brokers.paper.exchange import PaperExchange
from core.domain.errors import (
    AuthenticationFailed,
    BrokerError,
    BrokerRejected,
    BrokerUnavailable,
    OutcomeUnknown,
)
from core.domain.models import Heartbeat, OrderReport, OrderRequest, Tick

log = logging.getLogger(__name__)

RMS_REASON = "RMS: simulated rejection"
STOP_TIMEOUT_S = 5.0
_MANUAL, _CYCLE = "manual", "cycle"


class TickStreams(Protocol):
    """What faults do to the open tick streams (``FanOut`` in ``broker.py``)."""

    def end_all(self, error: Callable[[], BrokerError] | None = None) -> None:
        """End every current stream; with ``error``, each raises a fresh one on its next read."""
        ...

    def discard_queued(self) -> None:
        """Throw away what the streams received but their readers have not read yet."""
        ...


class FailedStream:
    """A tick stream whose connection failed: its first read raises, later reads end it."""

    def __init__(self, error: BrokerError) -> None:
        self._error: BrokerError | None = error

    def __aiter__(self) -> AsyncIterator[Tick | Heartbeat]:
        return self

    async def __anext__(self) -> Tick | Heartbeat:
        error, self._error = self._error, None
        if error is None:
            raise StopAsyncIteration
        raise error

    async def aclose(self) -> None:
        """Nothing to release; here so every tick stream can be closed alike."""
        self._error = None


class PaperFaults:
    """The fault switchboard of one paper account; ``clear()`` switches everything off.

    ``stall_every_s``, ``stall_for_s`` and ``reject_every`` start from the account's settings
    and may be changed; the stall cycle reads them when it is started (by ``connect``). The
    exchange stamps and saves the orders a fault decides, as it does all others.
    """

    def __init__(
        self,
        settings: PaperSettings,
        exchange: PaperExchange,
        ticks: TickStreams,
    ) -> None:
        self.stall_every_s = settings.faults.stall_every_s
        self.stall_for_s = settings.faults.stall_for_s
        self.reject_every = settings.faults.reject_every
        self._latency_s = settings.latency_s
        self._exchange = exchange
        self._ticks = ticks
        self._name = exchange.account
        self._stalls: set[str] = set()
        self._delay_s: float | None = None
        self._connect_failures = 0
        self._auth_expired = False
        self._rejections: deque[str] = deque()
        self._late_rejections: deque[str] = deque()
        self._timeouts = 0
        self._quote_failures = 0
        self._cancel_failures: deque[str] = deque()
        self._orders_seen = 0
        self._accepted: list[tuple[str, str]] = []  # (order id, reason): awaiting rejection
        self._cycle: asyncio.Task[None] | None = None

    # ----------------------------------------------------------------------------- switches

    def stall_stream(self) -> None:
        """Silence every tick stream, present and future, until ``resume_stream``.

        What the streams had queued but not delivered is lost, like everything sent meanwhile;
        prices, matching and order updates carry on.
        """
        self._stall(_MANUAL)

    def resume_stream(self) -> None:
        """Let ticks and heartbeats flow again (whatever stalled them), from the next one on."""
        self._stalls.clear()

    def drop_stream(self) -> None:
        """Make every open tick stream raise ``BrokerUnavailable`` on its next read."""
        self._ticks.end_all(lambda: BrokerUnavailable("connection dropped"))

    def fail_connect(self, n: int = 1, *, auth: bool = False) -> None:
        """Fail the next ``n`` ``stream_ticks`` calls at their first read.

        With ``auth`` they raise ``AuthenticationFailed``, and keep doing so, whatever ``n``,
        until ``clear()``: an expired token does not heal by reconnecting.
        """
        if auth:
            self._auth_expired = True
        else:
            self._connect_failures += _count(n)

    def reject_next(self, n: int = 1, reason: str = RMS_REASON) -> None:
        """Reject the next ``n`` orders on arrival: a REJECTED report carrying ``reason``."""
        self._rejections.extend([reason] * _count(n))

    def reject_after_accept(self, n: int = 1, reason: str = RMS_REASON) -> None:
        """Accept the next ``n`` orders (OPEN) and reject them right after, before any fill."""
        self._late_rejections.extend([reason] * _count(n))

    def timeout_after_accept(self, n: int = 1) -> None:
        """Place the next ``n`` orders normally, then raise ``OutcomeUnknown`` for the answer."""
        self._timeouts += _count(n)

    def delay_orders(self, seconds: float) -> None:
        """Answer creates, modifies and cancels after ``seconds`` instead of ``latency_s``."""
        if not seconds >= 0:
            raise ValueError("the delay must be zero or a positive number of seconds")
        self._delay_s = seconds

    def fail_quotes(self, n: int = 1) -> None:
        """Make the next ``n`` ``fetch_quotes`` calls raise ``BrokerUnavailable``."""
        self._quote_failures += _count(n)

    def refuse_cancels(self, n: int = 1, reason: str = "RMS: cancel refused") -> None:
        """Refuse the next ``n`` cancels with ``BrokerRejected`` carrying ``reason``."""
        self._cancel_failures.extend([reason] * _count(n))

    def check_cancel(self) -> None:
        """Raise ``BrokerRejected`` when a cancel refusal is armed (using it up)."""
        if self._cancel_failures:
            raise BrokerRejected(self._cancel_failures.popleft())

    def clear(self) -> None:
        """Back to normal: every fault off, the stall cycle stopped, the stream flowing.

        Orders already accepted for a late rejection are rejected now rather than left to fill.
        """
        self.settle()
        if self._cycle is not None:
            self._cycle.cancel()
        self.stall_every_s = self.reject_every = None
        self._stalls.clear()
        self._delay_s = None
        self._connect_failures = self._timeouts = self._quote_failures = 0
        self._auth_expired = False
        self._rejections.clear()
        self._late_rejections.clear()
        self._cancel_failures.clear()

    # ----------------------------------------------------------------------------- hooks

    @property
    def stalled(self) -> bool:
        """Whether tick streams are silenced now."""
        return bool(self._stalls)

    @property
    def order_delay_s(self) -> float:
        """How long a write waits before it is answered."""
        return self._latency_s if self._delay_s is None else self._delay_s

    def take_connect_error(self) -> BrokerError | None:
        """The error a new tick stream fails with, if a connect fault is armed (using it up)."""
        if self._auth_expired:
            return AuthenticationFailed("token expired")
        if self._connect_failures:
            self._connect_failures -= 1
            return BrokerUnavailable("connection refused")
        return None

    def check_quotes(self) -> None:
        """Raise ``BrokerUnavailable`` when a quote failure is armed (using it up)."""
        if self._quote_failures:
            self._quote_failures -= 1
            raise BrokerUnavailable("quote service unavailable")

    def create_order(self, request: OrderRequest, client_order_id: str) -> OrderReport:
        """Create the order at the exchange with the armed order faults applied.

        A rejection fault decides the order's fate; a timeout fault, independently, loses the
        answer. An unknown instrument or a used client id raise as without faults, and use up
        no fault.
        """
        self.settle()
        exchange = self._exchange
        fresh = exchange.state.by_client_id(client_order_id) is None
        if request.instrument not in exchange.instruments or not fresh:
            return exchange.create_order(request, client_order_id)
        self._orders_seen += 1
        if self._rejections:
            report = exchange.record_rejected(request, client_order_id, self._rejections.popleft())
        elif self._late_rejections:
            report = self._accept_for_rejection(
                request, client_order_id, self._late_rejections.popleft()
            )
        elif self.reject_every and self._orders_seen % self.reject_every == 0:
            report = exchange.record_rejected(request, client_order_id, RMS_REASON)
        else:
            report = exchange.create_order(request, client_order_id)
        if self._timeouts:
            self._timeouts -= 1
            raise OutcomeUnknown("read timeout")
        return report

    def settle(self) -> None:
        """Reject the orders accepted for a late rejection.

        Runs on the next loop iteration after the acceptance, and before anything else can
        touch those orders (a price, a modify, a cancel, another order), so none of them fills.
        """
        accepted, self._accepted = self._accepted, []
        for order_id, reason in accepted:
            if self._exchange.state.find(order_id).is_open:
                self._exchange.reject(order_id, reason)

    # ----------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start the stall cycle if the settings ask for one and it is not running."""
        if self.stall_every_s is None or (self._cycle is not None and not self._cycle.done()):
            return
        self._cycle = asyncio.create_task(
            self._stall_cycle(self.stall_every_s, self.stall_for_s),
            name=f"paper[{self._name}] stall cycle",
        )
        self._cycle.add_done_callback(self._cycle_stopped)

    async def stop(self) -> None:
        """Stop the stall cycle; a stall it caused ends with it."""
        task, self._cycle = self._cycle, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
            if not task.done():
                log.warning("paper[%s]: the stall cycle did not stop in time", self._name)

    # ----------------------------------------------------------------------------- internals

    def _stall(self, reason: str) -> None:
        if not self._stalls:
            self._ticks.discard_queued()
        self._stalls.add(reason)

    async def _stall_cycle(self, every_s: float, for_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            self._stall(_CYCLE)
            try:
                await asyncio.sleep(for_s)
            finally:
                # Only the cycle's own stall: a manual one outlives it.
                self._stalls.discard(_CYCLE)

    def _cycle_stopped(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("paper[%s]: the stall cycle failed", self._name, exc_info=task.exception())

    def _accept_for_rejection(
        self, request: OrderRequest, client_order_id: str, reason: str
    ) -> OrderReport:
        report = self._exchange.record_accepted(request, client_order_id)
        self._accepted.append((report.broker_order_id, reason))
        asyncio.get_running_loop().call_soon(self.settle)
        return report


def _count(n: int) -> int:
    if n < 0:
        raise ValueError(f"a fault count must be zero or more, not {n}")
    return n
