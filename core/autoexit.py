"""Automatic exits: arming rules from fills, firing them from the monitor, settling them.

Firing an exit, in order: try the position's lock (if someone holds it, stand aside); re-read the
live position from the broker and size the exit to it, less any exit already in flight; then, in
the one transaction that stores the exit order's intent, compare-and-set the rule from ARMED to
TRIGGERED and write the "exit triggered" alert; then send. The rule is DONE when the exit fills,
and ARMED again (with an alert) when the broker rejects or cancels it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.alerts.outbox import AlertOutbox
from core.broker import BrokerRegistry
from core.domain.alerts import Event, EventKind
from core.domain.clock import Clock
from core.domain.errors import OrderDenied, PocketdeskError
from core.domain.exit_rules import (
    ExitRule,
    RuleKind,
    RuleState,
    SpikeBuffer,
)
from core.domain.models import (
    InstrumentId,
    Order,
    OrderPurpose,
    OrderRequest,
    OrderType,
    Product,
    Side,
)
from core.domain.order_fsm import OrderEvent, OrderEventKind
from core.exit_bookkeeping import RuleBookkeeping, rule_data
from core.monitor import AccountFeed, MonitorSettings
from core.orders.execution import ExecutionService
from core.orders.locks import PositionLocks
from core.orders.tracker import OrderTracker
from core.rule_index import FireCallback, RuleIndex
from core.storage.db import Database, execute_now
from core.storage.exits import ExitRuleRepository, trigger_statement
from core.storage.outbox import OutboxRepository, add_statement

log = logging.getLogger(__name__)


class RuleChanged(PocketdeskError):
    """The rule was no longer armed when its exit was about to be stored."""


@dataclass(frozen=True, slots=True)
class AutoExitSettings:
    monitor: MonitorSettings = field(default_factory=MonitorSettings)
    buffer: SpikeBuffer = field(default_factory=lambda: SpikeBuffer(dwell_s=1.0))
    retry_after_s: float = 3.0  # a firing that could not go ahead is tried again after this
    max_rejections: int = 3  # refused exits in a row before a rule gives up (no order spam)
    save_trails_every_s: float = 1.0


class AutoExits:
    """Owns the armed-rule indexes and feeds of every account, and the firing of exits."""

    def __init__(
        self,
        db: Database,
        registry: BrokerRegistry,
        execution: ExecutionService,
        tracker: OrderTracker,
        alerts: AlertOutbox,
        locks: PositionLocks,
        clock: Clock,
        settings: AutoExitSettings | None = None,
        buffers: dict[str, SpikeBuffer] | None = None,
    ) -> None:
        self.alerts = alerts
        self.db = db
        self.registry = registry
        self.execution = execution
        self.tracker = tracker
        self.locks = locks
        self.clock = clock
        self.settings = settings or AutoExitSettings()
        self.buffers = buffers or {}
        self.rules = ExitRuleRepository()
        self.outbox = OutboxRepository()
        self.indexes: dict[str, RuleIndex] = {}
        self.feeds: dict[str, AccountFeed] = {}
        self.fired = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.hold_until: dict[int, float] = {}  # rule id -> monotonic time it may fire again
        for account in registry.names():
            index = RuleIndex(self._firer(account))
            self.indexes[account] = index
            self.feeds[account] = AccountFeed(
                registry.get(account), index, clock, self._alert, self.settings.monitor
            )
        tracker.add_transition_hook(RuleBookkeeping(self).on_transition)
        tracker.subscribe(self._after_transition)

    def buffer_for(self, account: str) -> SpikeBuffer:
        return self.buffers.get(account, self.settings.buffer)

    # --- loading and reloading the in-memory index ------------------------------------------

    async def load(self) -> None:
        """Index every armed rule (at start-up)."""
        async with self.db.read() as tx:
            rules = await self.rules.live(tx)
        by_key: dict[tuple[str, InstrumentId], list[ExitRule]] = {}
        for rule in rules:
            if rule.state is RuleState.ARMED and rule.account in self.indexes:
                by_key.setdefault((rule.account, rule.instrument), []).append(rule)
        for (account, instrument), armed in by_key.items():
            self.indexes[account].replace_instrument(instrument, armed)
        for feed in self.feeds.values():
            feed.instruments_changed()

    async def reload(self, account: str, instrument: InstrumentId) -> None:
        """Refresh one instrument's armed rules from storage."""
        if account not in self.indexes:
            return
        async with self.db.read() as tx:
            live = await self.rules.live(tx, account, instrument)
        now = self.clock.monotonic()
        armed = [r for r in live if r.state is RuleState.ARMED]
        held = [self.hold_until[r.id] - now for r in armed if self.hold_until.get(r.id, 0) > now]
        armed = [r for r in armed if self.hold_until.get(r.id, 0) <= now]
        if held:
            self._spawn(self._reload_later(account, instrument, max(held)), "exit-rules hold")
        self.indexes[account].replace_instrument(instrument, armed)
        feed = self.feeds[account]
        feed.instruments_changed()
        if armed:
            feed.recheck(instrument)  # a rule armed beyond the price fires now, not next tick

    async def _reload_later(self, account: str, instrument: InstrumentId, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        await self.reload(account, instrument)

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def new_rule(
        self,
        account: str,
        instrument: InstrumentId,
        product: Product,
        kind: RuleKind,
        direction: int,
        trigger: Decimal,
    ) -> ExitRule:
        now = self.clock.now()
        return ExitRule(
            id=0,
            account=account,
            instrument=instrument,
            product=product,
            kind=kind,
            direction=direction,
            trigger=trigger,
            quantity=0,
            state=RuleState.ARMED,
            created_at=now,
            updated_at=now,
            buffer=self.buffer_for(account),
        )

    def _after_transition(self, before: Order, after: Order, event: OrderEvent) -> None:
        if event.kind is OrderEventKind.FILL or after.purpose is OrderPurpose.EXIT:
            self._spawn(
                self.reload(after.account, after.instrument),
                f"exit-rules reload {after.instrument}",
            )

    # --- firing -----------------------------------------------------------------------------

    def _firer(self, account: str) -> FireCallback:
        return lambda rule, price: self._on_fire(account, rule, price)

    def _on_fire(self, account: str, rule: ExitRule, price: Decimal) -> None:
        """Called by the index on a crossing: act outside the tick path."""
        self._spawn(self.fire(rule, price), f"exit {rule.kind.value} {rule.instrument}")

    async def fire(self, rule: ExitRule, price: Decimal) -> Order | None:
        """Fire one rule at ``price``; return the exit order, or None when none was placed."""
        try:
            async with self.locks.try_hold(rule.account, rule.instrument) as got:
                if not got:
                    self._retry_later(rule)  # someone is acting on this position right now
                    return None
                return await self._fire_locked(rule, price)
        except RuleChanged:
            return None
        except OrderDenied as exc:
            log.warning("exit of rule %d not placed: %s", rule.id, exc)
            self._retry_later(rule)
            return None
        except Exception:
            log.exception("firing rule %d failed", rule.id)
            self._retry_later(rule)
            return None

    async def _fire_locked(self, rule: ExitRule, price: Decimal) -> Order | None:
        held, pending = await self._exposure(rule)
        if held <= 0:
            await self.disarm([rule], "the position is already closed; no exit was placed")
            return None
        available = held - pending
        if available <= 0:
            self._retry_later(rule)  # an exit is already working; it decides
            return None
        quantity = min(rule.quantity, available) if rule.quantity > 0 else available
        request = OrderRequest(
            account=rule.account,
            instrument=rule.instrument,
            side=Side.SELL if rule.direction > 0 else Side.BUY,
            quantity=quantity,
            order_type=OrderType.MARKET,
            product=rule.product,
        )

        now = self.clock.now()
        message = (
            f"{rule.kind.label} hit at {price} (trigger {rule.trigger}): "
            f"{request.side.value} {quantity} {rule.instrument} at market"
        )
        alert = Event(
            EventKind.EXIT_TRIGGERED,
            rule.account,
            rule_data(rule, message=message, price=str(price)),
        )

        def mark_triggered(conn: sqlite3.Connection, order: Order) -> None:
            # In the intent's own transaction: no exit order is stored unless the rule was
            # still armed, and the alert is stored with it.
            if execute_now(conn, trigger_statement(rule.id, order.client_order_id, now)) != 1:
                raise RuleChanged(f"rule {rule.id} is no longer armed")
            execute_now(conn, add_statement(alert, now))

        order = await self.execution.place_locked(
            request, OrderPurpose.EXIT, with_intent=mark_triggered
        )
        self.fired += 1
        return order

    async def _exposure(self, rule: ExitRule) -> tuple[int, int]:
        """(quantity held in the rule's direction, quantity of exits already working)."""
        positions = await self.registry.get(rule.account).fetch_positions()
        held = sum(
            p.quantity * rule.direction
            for p in positions
            if p.instrument == rule.instrument and p.product == rule.product
        )
        exit_side = Side.SELL if rule.direction > 0 else Side.BUY
        pending = await self.execution.pending_exit_quantity(
            rule.account, rule.instrument, rule.product, exit_side
        )
        return held, pending

    def _retry_later(self, rule: ExitRule) -> None:
        async def later() -> None:
            await asyncio.sleep(self.settings.retry_after_s)
            await self.reload(rule.account, rule.instrument)

        self._spawn(later(), f"exit retry {rule.id}")

    async def disarm(self, rules: Iterable[ExitRule], reason: str) -> None:
        now = self.clock.now()
        touched: set[tuple[str, InstrumentId]] = set()
        async with self.db.transaction() as tx:
            for rule in rules:
                await self.rules.set_state(tx, rule.id, RuleState.DONE, reason, now)
                message = f"{rule.kind.label} of {rule.instrument} disarmed: {reason}"
                data = rule_data(rule, message=message)
                await self.outbox.add(tx, Event(EventKind.EXIT_DISARMED, rule.account, data), now)
                touched.add((rule.account, rule.instrument))
        for account, instrument in touched:
            await self.reload(account, instrument)

    async def close(self) -> None:
        """Stop firings and reloads still under way (at shutdown)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    async def run_housekeeping(self) -> None:
        """Persist moved trailing stops now and then (a restart resumes from there)."""
        while True:
            await asyncio.sleep(self.settings.save_trails_every_s)
            await self.save_trails()

    async def save_trails(self) -> None:
        moved = [rule for index in self.indexes.values() for rule in index.take_moved()]
        if not moved:
            return
        now = self.clock.now()
        async with self.db.transaction() as tx:
            for rule in moved:
                if rule.anchor is not None:
                    await self.rules.move_trail(tx, rule.id, rule.trigger, rule.anchor, now)

    async def _alert(self, event: Event) -> None:
        await self.alerts.add(event)
