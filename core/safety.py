"""The kill switch: ``/halt`` and ``/resume`` for new entries, and ``/panic`` to go flat.

A halt stops new entries only. Exits, armed stops and orders that reduce a position keep
working: a halted desk must still be able to get out. Halts are stored, so a restart keeps them.

``/panic`` halts every account, cancels every open order the broker reports (placed by
pocketdesk or not), waits briefly for the cancels to settle, then closes every position at
market, and reports per account what worked and what did not. Each account is handled on its
own: one broker failing never stops another account from going flat.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from core.access.audit import AuditLog
from core.alerts.outbox import AlertOutbox
from core.broker import Broker, BrokerRegistry
from core.domain.alerts import Event, EventKind
from core.domain.clock import Clock
from core.domain.errors import PocketdeskError
from core.domain.models import OrderReport, OrderStatus, Position
from core.orders.execution import ExecutionService
from core.orders.tracker import OrderTracker
from core.storage.db import Database
from core.storage.halts import HaltRepository, HaltRow

log = logging.getLogger(__name__)

EVERY_ACCOUNT = "*"


class KillSwitch:
    """Which accounts are halted for new entries, and why."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        registry: BrokerRegistry,
        alerts: AlertOutbox,
        audit: AuditLog,
    ) -> None:
        self.db = db
        self.clock = clock
        self.registry = registry
        self.alerts = alerts
        self.audit = audit
        self.repo = HaltRepository()
        self._halts: dict[str, HaltRow] = {}

    async def load(self) -> None:
        """Read the halts stored before a restart."""
        async with self.db.read() as tx:
            self._halts = {row.account: row for row in await self.repo.all(tx)}

    def reason(self, account: str) -> str | None:
        """Why new entries on ``account`` are refused, or None when they are allowed."""
        row = self._halts.get(account) or self._halts.get(EVERY_ACCOUNT)
        return None if row is None else row.reason

    def halted(self) -> list[HaltRow]:
        return sorted(self._halts.values(), key=lambda row: row.account)

    async def halt(self, account: str | None, user_id: int | None, reason: str) -> list[str]:
        """Halt one account (or every account); return the accounts now halted by this call."""
        target = EVERY_ACCOUNT if account is None else self.registry.get(account).account
        row = HaltRow(target, reason, user_id, self.clock.now())
        async with self.db.transaction() as tx:
            await self.repo.set(tx, row)
        self._halts[target] = row
        names = self.registry.names() if account is None else [target]
        await self.audit.record(user_id, "halt", f"{', '.join(names)}: {reason}")
        where = "every account" if account is None else target
        await self.alerts.add(
            Event(
                EventKind.RISK_HALT,
                "" if account is None else target,
                {"message": f"new entries stopped on {where} ({reason}); exits still work"},
            )
        )
        return names

    async def resume(self, account: str | None, user_id: int | None) -> list[str]:
        """Lift the halt of one account (or every halt); return the accounts it freed."""
        before = {name for name in self.registry.names() if self.reason(name) is not None}
        if account is None:
            async with self.db.transaction() as tx:
                await self.repo.clear(tx, None)
            self._halts.clear()
        else:
            name = self.registry.get(account).account
            async with self.db.transaction() as tx:
                await self.repo.clear(tx, name)
                blanket = self._halts.get(EVERY_ACCOUNT)
                if blanket is not None:
                    # Lifting one account out of a halt of every account: the others stay.
                    await self.repo.clear(tx, EVERY_ACCOUNT)
                    for other in self.registry.names():
                        if other != name and other not in self._halts:
                            await self.repo.set(
                                tx,
                                HaltRow(other, blanket.reason, blanket.user_id, blanket.halted_at),
                            )
            await self.load()
        freed = sorted(name for name in before if self.reason(name) is None)
        await self.audit.record(user_id, "resume", ", ".join(freed) or "nothing was halted")
        if freed:
            await self.alerts.add(
                Event(
                    EventKind.TRADING_RESUMED,
                    "",
                    {"message": f"entries allowed again on {', '.join(freed)}"},
                )
            )
        return freed


@dataclass(frozen=True, slots=True)
class PanicPlan:
    """What ``/panic`` would do, for its first confirmation."""

    open_orders: dict[str, int]
    positions: dict[str, int]
    errors: dict[str, str]


@dataclass(slots=True)
class AccountPanic:
    """What ``/panic`` did on one account."""

    account: str
    cancelled: list[str] = field(default_factory=list)  # broker order ids
    cancel_failed: list[tuple[str, str]] = field(default_factory=list)  # (order id, why)
    closed: list[str] = field(default_factory=list)  # "SELL 10 NSE:RELIANCE (MIS)"
    close_failed: list[tuple[str, str]] = field(default_factory=list)  # (position, why)
    error: str = ""  # the account could not even be read

    @property
    def ok(self) -> bool:
        return not (self.cancel_failed or self.close_failed or self.error)


@dataclass(frozen=True, slots=True)
class PanicReport:
    accounts: list[AccountPanic]

    @property
    def ok(self) -> bool:
        return all(account.ok for account in self.accounts)


class Panic:
    """Flatten everything: cancel every open order, then close every position."""

    def __init__(
        self,
        registry: BrokerRegistry,
        execution: ExecutionService,
        tracker: OrderTracker,
        switch: KillSwitch,
        *,
        settle_s: float = 5.0,
    ) -> None:
        self.registry = registry
        self.execution = execution
        self.tracker = tracker
        self.switch = switch
        self.settle_s = settle_s

    async def plan(self) -> PanicPlan:
        orders: dict[str, int] = {}
        positions: dict[str, int] = {}
        errors: dict[str, str] = {}
        for name in self.registry.names():
            broker = self.registry.get(name)
            try:
                orders[name] = len(await broker.fetch_open_orders())
                positions[name] = sum(1 for p in await broker.fetch_positions() if not p.is_flat)
            except Exception as exc:
                errors[name] = _why(exc)
        return PanicPlan(orders, positions, errors)

    async def run(self, user_id: int | None) -> PanicReport:
        await self.switch.halt(None, user_id, "panic")
        names = self.registry.names()
        results = await asyncio.gather(*(self._flatten(self.registry.get(n)) for n in names))
        report = PanicReport(list(results))
        for account in report.accounts:
            await self.switch.audit.record(user_id, "panic", _summary(account))
        return report

    async def _flatten(self, broker: Broker) -> AccountPanic:
        result = AccountPanic(broker.account)
        try:
            working = await broker.fetch_open_orders()
        except Exception as exc:
            result.error = f"could not read the open orders: {_why(exc)}"
            working = []
        for report in working:
            await self._cancel(broker, report, result)
        await self._wait_cancelled(broker, set(result.cancelled))
        try:
            positions = [p for p in await broker.fetch_positions() if not p.is_flat]
        except Exception as exc:
            result.error = (result.error + "; " if result.error else "") + (
                f"could not read the positions: {_why(exc)}"
            )
            return result
        for position in positions:
            await self._close(broker, position, result)
        return result

    async def _cancel(self, broker: Broker, report: OrderReport, result: AccountPanic) -> None:
        ref = report.broker_order_id
        try:
            tracked = [
                o for o in await self.tracker.in_flight(broker.account) if o.broker_order_id == ref
            ]
            if tracked and tracked[0].status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED):
                await self.execution.cancel(tracked[0].client_order_id)
            else:
                # Placed outside pocketdesk (or mid-update here): the broker's id is enough.
                await broker.cancel_order(ref)
            result.cancelled.append(ref)
        except Exception as exc:
            result.cancel_failed.append((ref, _why(exc)))

    async def _wait_cancelled(self, broker: Broker, ids: set[str]) -> None:
        """Give the cancels a moment to land, so exits are sized against settled orders."""
        if not ids:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settle_s
        while loop.time() < deadline:
            try:
                still = {o.broker_order_id for o in await broker.fetch_open_orders()} & ids
            except Exception:
                still = ids
            if not still:
                return
            await asyncio.sleep(0.1)

    async def _close(self, broker: Broker, position: Position, result: AccountPanic) -> None:
        side = "SELL" if position.quantity > 0 else "BUY"
        what = f"{side} {abs(position.quantity)} {position.instrument} ({position.product})"
        try:
            order = await self.execution.exit_position(broker.account, position)
        except Exception as exc:
            result.close_failed.append((what, _why(exc)))
            return
        if order.status in (OrderStatus.REJECTED, OrderStatus.LOST):
            result.close_failed.append((what, order.message or str(order.status)))
        else:
            result.closed.append(f"{what}: {order.status}")


def _summary(account: AccountPanic) -> str:
    parts = [
        f"{account.account}: cancelled {len(account.cancelled)}",
        f"cancel failed {len(account.cancel_failed)}",
        f"closed {len(account.closed)}",
        f"close failed {len(account.close_failed)}",
    ]
    if account.error:
        parts.append(account.error)
    return ", ".join(parts)


def _why(exc: BaseException) -> str:
    if isinstance(exc, PocketdeskError):
        return str(exc)
    return str(exc) or type(exc).__name__
