"""The order-sync loop: the broker is the source of truth.

Per account: on start-up, settle every order we had in flight (by broker id, or by client order
id when the broker never answered) and only then open the account for trading; afterwards apply
push updates as they arrive and poll the in-flight orders on an interval. An order the broker has
never heard of is searched for a bounded number of times and then declared LOST, with an alert;
it is never sent again automatically.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.alerts.outbox import AlertOutbox
from core.broker import Broker, BrokerRegistry
from core.domain.alerts import Event, EventKind
from core.domain.clock import Clock
from core.domain.errors import AuthenticationFailed
from core.domain.ids import is_own_client_order_id
from core.domain.models import Order, OrderReport, OrderStatus
from core.domain.order_fsm import OrderEvent, OrderEventKind
from core.orders.gate import TradingGate
from core.orders.tracker import OrderTracker

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SyncSettings:
    poll_interval_s: float = 2.0
    submit_grace_s: float = 30.0  # a PENDING_SUBMIT younger than this is still being sent
    lost_after_misses: int = 3
    lost_after_s: float = 60.0
    session_check_s: float = 30.0  # an idle account still asks the broker this often


class OrderSync:
    """Keeps local orders in step with each broker."""

    def __init__(
        self,
        registry: BrokerRegistry,
        tracker: OrderTracker,
        gate: TradingGate,
        alerts: AlertOutbox,
        clock: Clock,
        settings: SyncSettings | None = None,
    ) -> None:
        self.registry = registry
        self.tracker = tracker
        self.gate = gate
        self.alerts = alerts
        self.clock = clock
        self.settings = settings or SyncSettings()
        self.position_checks: list[Callable[[str], Awaitable[None]]] = []
        self._logged_out: set[str] = set()
        self._asked_at: dict[str, float] = {}

    async def run_account(self, account: str) -> None:
        """Settle at start-up (retrying until it succeeds), open trading, then poll forever.

        A dead login closes the account for trading with a "log in again" alert (once); the
        first sync that succeeds afterwards (a new token) opens it again.
        """
        broker = self.registry.get(account)
        delay = self.settings.poll_interval_s
        while True:
            try:
                await self.sync_once(broker, startup=True)
                break
            except Exception as exc:
                await self._failed(account, exc, "the start-up sync failed")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
        self._reopen(account)
        while True:
            await asyncio.sleep(self.settings.poll_interval_s)
            try:
                await self.sync_once(broker)
            except Exception as exc:
                await self._failed(account, exc, "the order poll failed")
                continue
            if not self.gate.is_open(account):
                self._reopen(account)

    def _reopen(self, account: str) -> None:
        self.gate.open(account)
        self._logged_out.discard(account)
        log.info("account %s synced; trading open", account)

    async def _failed(self, account: str, exc: Exception, what: str) -> None:
        if isinstance(exc, AuthenticationFailed):
            self.gate.close(account, f"the broker session has ended ({exc}); log in again")
            if account not in self._logged_out:
                self._logged_out.add(account)
                message = (
                    f"{account}: the broker refused the session ({exc}); "
                    f"log in again with /login {account}"
                )
                await self.alerts.add(Event(EventKind.TOKEN_EXPIRED, account, {"message": message}))
            return
        if what.startswith("the start-up"):
            self.gate.close(account, f"{what} ({exc}); retrying")
        log.warning("%s for %s: %r", what, account, exc)

    async def run_push(self, account: str) -> None:
        """Apply the broker's pushed order updates as they arrive; reconnect when they stop.

        A dead login is reported once (as by the poll loop) and retried slowly; the poll loop
        keeps the orders right meanwhile.
        """
        broker = self.registry.get(account)
        delay = 1.0
        while True:
            try:
                async for update in broker.stream_order_updates():
                    delay = 1.0
                    try:
                        await self.tracker.apply_report(update.report, update.fill)
                    except Exception:
                        log.exception("could not apply an order update from %s", account)
            except AuthenticationFailed as exc:
                await self._failed(account, exc, "the order-update stream failed")
                delay = 30.0
            except Exception as exc:
                log.warning("order updates of %s stopped: %r", account, exc)
            await asyncio.sleep(delay * (0.5 + random.random() / 2))
            delay = min(delay * 2, 60.0)

    async def sync_once(self, broker: Broker, startup: bool = False) -> None:
        """Bring the account's in-flight orders, fills and positions up to the broker's view."""
        asked = await self._sync_orders(broker, startup)
        now = self.clock.monotonic()
        if asked or startup:
            self._asked_at[broker.account] = now
        elif now - self._asked_at.get(broker.account, now) >= self.settings.session_check_s:
            # Nothing in flight, so nothing was asked: check that the session still holds.
            await broker.fetch_balance()
            self._asked_at[broker.account] = now
        if startup:
            await self.tracker.record_fills(broker.account, await broker.fetch_fills())
        for check in self.position_checks:
            await check(broker.account)

    async def _sync_orders(self, broker: Broker, startup: bool) -> bool:
        """Settle in-flight orders; return whether the broker was asked anything."""
        orders = await self.tracker.in_flight(broker.account)
        now = self.clock.now()
        due = [
            o
            for o in orders
            if startup
            or o.status is not OrderStatus.PENDING_SUBMIT
            or (now - o.created_at).total_seconds() >= self.settings.submit_grace_s
        ]
        if not due and not startup:
            return False
        reports = await broker.fetch_orders()
        by_broker_id = {r.broker_order_id: r for r in reports}
        by_client_id = {r.client_order_id: r for r in reports if r.client_order_id}
        if startup:
            await self._adopt_unrecorded(reports)
        for order in due:
            report = self._match(order, by_broker_id, by_client_id)
            if report is None and order.broker_order_id is None:
                report = await broker.fetch_order_by_client_id(order.client_order_id)
            if report is not None:
                await self.tracker.apply_report(report)
            else:
                await self._missed(order)
        return True

    async def _adopt_unrecorded(self, reports: list[OrderReport]) -> None:
        """Orders the broker holds under our client ids that we have no record of.

        Only a lost commit (the machine lost power right after sending) leaves such an order;
        it is tracked from now on, and the owner is told.
        """
        for report in reports:
            coid = report.client_order_id
            if not coid or not is_own_client_order_id(coid):
                continue
            if await self.tracker.get(coid) is not None:
                continue
            order = await self.tracker.adopt(report)
            await self.alerts.add(
                Event(
                    EventKind.SYNC_MISMATCH,
                    report.account,
                    {
                        "message": f"the broker has order {coid} ({report.side.value} "
                        f"{report.quantity} {report.instrument}, {report.status.value}) sent by "
                        "pocketdesk but not recorded here; it is tracked from now on "
                        f"(now {order.status.value})"
                    },
                )
            )

    @staticmethod
    def _match(
        order: Order,
        by_broker_id: dict[str, OrderReport],
        by_client_id: dict[str, OrderReport],
    ) -> OrderReport | None:
        if order.broker_order_id and order.broker_order_id in by_broker_id:
            return by_broker_id[order.broker_order_id]
        return by_client_id.get(order.client_order_id)

    async def _missed(self, order: Order) -> None:
        """The broker does not list the order: count it, and declare it lost past the bound."""
        if order.broker_order_id is not None:
            log.warning(
                "broker does not list order %s (%s)", order.client_order_id, order.broker_order_id
            )
            return
        if order.status is OrderStatus.PENDING_SUBMIT:
            await self.tracker.apply(
                order.client_order_id,
                [
                    OrderEvent(
                        OrderEventKind.OUTCOME_UNKNOWN,
                        message="the broker's answer was never recorded; searching for it",
                    )
                ],
            )
        misses = await self.tracker.count_miss(order.client_order_id)
        age = (self.clock.now() - order.created_at).total_seconds()
        if misses >= self.settings.lost_after_misses and age >= self.settings.lost_after_s:
            await self.tracker.apply(
                order.client_order_id,
                [
                    OrderEvent(
                        OrderEventKind.LOST,
                        message=f"not found at the broker after {misses} searches; not re-sent",
                    )
                ],
            )
