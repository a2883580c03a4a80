"""Exit rules follow their orders, inside each order transition's own transaction.

An entry's fill arms its rules (growing them with partial fills); an exit's fill shrinks the
position's rules; the exit a rule fired settles it: DONE when filled, ARMED again after a pause
when refused (and disarmed after too many refusals in a row, so a rejecting broker never sees
a stream of orders).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING

from core.domain.alerts import Event, EventKind
from core.domain.exit_rules import ExitRule, RuleKind, RuleState, initial_trigger, specs_from_exits
from core.domain.models import Order, OrderPurpose, OrderStatus
from core.domain.order_fsm import OrderEvent, OrderEventKind
from core.storage.db import Tx

if TYPE_CHECKING:
    from core.autoexit import AutoExits

log = logging.getLogger(__name__)

_UNDONE = (OrderStatus.REJECTED, OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.LOST)


def rule_data(rule: ExitRule, **extra: str) -> dict[str, str]:
    data = {
        "rule": rule.kind.label,
        "instrument": str(rule.instrument),
        "trigger": str(rule.trigger),
        "quantity": str(rule.quantity),
        "product": rule.product.value,
    }
    data.update(extra)
    return data


class RuleBookkeeping:
    """The transition hook ``AutoExits`` registers with the order tracker."""

    def __init__(self, auto: AutoExits) -> None:
        self.auto = auto

    async def on_transition(
        self, tx: Tx, before: Order, after: Order, event: OrderEvent
    ) -> list[Event]:
        """In the order's transaction: keep rules in step with what the order did."""
        try:
            return await self._follow_order(tx, after, event)
        except Exception as exc:  # never let rule bookkeeping lose an order's state change
            log.exception("exit rules could not follow order %s", after.client_order_id)
            return [
                Event(
                    EventKind.SYNC_MISMATCH,
                    after.account,
                    {"message": f"exit rules for {after.instrument} need a look: {exc}"},
                )
            ]

    async def _follow_order(self, tx: Tx, order: Order, event: OrderEvent) -> list[Event]:
        alerts: list[Event] = []
        if event.kind is OrderEventKind.FILL:
            if order.purpose is OrderPurpose.ENTRY and not order.request.exits.empty:
                alerts.extend(await self._arm(tx, order, event.fill_quantity))
            elif order.purpose is OrderPurpose.EXIT:
                await self._shrink(tx, order, event.fill_quantity)
        if order.purpose is OrderPurpose.EXIT:
            alerts.extend(await self._settle_exit(tx, order))
        return alerts

    async def _arm(self, tx: Tx, order: Order, filled: int) -> list[Event]:
        request = order.request
        direction = request.side.sign
        average = order.average_price or Decimal(0)
        live = await self.auto.rules.live(tx, order.account, order.instrument, request.product)
        now = self.auto.clock.now()
        armed: list[str] = []
        for spec in specs_from_exits(request.exits):
            current = next((r for r in live if r.kind is spec.kind), None)
            trigger = initial_trigger(spec, direction, average)
            if current is not None and current.state is RuleState.ARMED:
                anchor = current.anchor if spec.kind is RuleKind.TRAILING else None
                if spec.kind is RuleKind.TRAILING:
                    trigger = current.trigger
                await self.auto.rules.update_numbers(
                    tx,
                    current.id,
                    quantity=current.quantity + filled,
                    trigger=trigger,
                    anchor=anchor,
                    now=now,
                )
                continue
            if current is not None:
                continue  # an exit of this kind is in flight; it settles first
            rule = self.auto.new_rule(
                order.account, order.instrument, request.product, spec.kind, direction, trigger
            )
            rule = replace(
                rule,
                quantity=filled,
                anchor=average if spec.kind is RuleKind.TRAILING else None,
                trail_value=spec.value if spec.kind is RuleKind.TRAILING else None,
                trail_percent=spec.percent,
                entry_order_id=order.client_order_id,
            )
            await self.auto.rules.insert(tx, rule)
            armed.append(f"{spec.kind.label} {trigger:.2f}")
        if not armed:
            return []
        message = f"{', '.join(armed)} for {order.filled_quantity} {order.instrument}"
        return [Event(EventKind.EXIT_ARMED, order.account, {"message": message})]

    async def _shrink(self, tx: Tx, order: Order, filled: int) -> None:
        """An exit filled: armed rules of the position cover that much less."""
        direction = -order.request.side.sign  # selling shrinks a long (+1) position's rules
        live = await self.auto.rules.live(
            tx, order.account, order.instrument, order.request.product
        )
        now = self.auto.clock.now()
        for rule in live:
            if rule.state is not RuleState.ARMED or rule.direction != direction:
                continue
            remaining = rule.quantity - filled
            if remaining <= 0:
                await self.auto.rules.set_state(tx, rule.id, RuleState.DONE, "position closed", now)
            else:
                await self.auto.rules.set_quantity(tx, rule.id, remaining, now)

    async def _settle_exit(self, tx: Tx, order: Order) -> list[Event]:
        """The rule that fired this exit follows the exit's outcome."""
        alerts: list[Event] = []
        now = self.auto.clock.now()
        for rule in await self.auto.rules.by_exit_order(tx, order.client_order_id):
            if rule.state is not RuleState.TRIGGERED:
                continue
            if order.status is OrderStatus.FILLED:
                price = order.average_price
                await self.auto.rules.set_state(
                    tx, rule.id, RuleState.DONE, f"exit filled at {price}", now
                )
            elif order.status in _UNDONE:
                alerts.append(await self._exit_undone(tx, rule, order))
        return alerts

    async def _exit_undone(self, tx: Tx, rule: ExitRule, order: Order) -> Event:
        """The exit did not happen: arm the rule again after a pause, or give up on it."""
        now = self.auto.clock.now()
        reason = order.message or order.status.value.lower()
        outcome = (
            f"the {rule.kind.label} exit of {rule.instrument} was {order.status.value.lower()}"
        )
        if rule.rejections + 1 >= self.auto.settings.max_rejections:
            note = f"exit refused {rule.rejections + 1} times: {reason}"
            await self.auto.rules.set_state(tx, rule.id, RuleState.DONE, note, now)
            message = (
                f"{outcome} ({reason}) {rule.rejections + 1} times in a row; the rule is "
                "disarmed - exit the position yourself"
            )
            return Event(EventKind.EXIT_DISARMED, rule.account, rule_data(rule, message=message))
        await self.auto.rules.rearm(tx, rule.id, f"exit {order.status.value}: {reason}", now)
        pause = self.auto.settings.retry_after_s
        self.auto.hold_until[rule.id] = self.auto.clock.monotonic() + pause
        message = f"{outcome} ({reason}); the rule is armed again in {pause:g} s"
        return Event(EventKind.EXIT_REARMED, rule.account, rule_data(rule, message=message))
