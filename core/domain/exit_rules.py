"""Exit rules: stop-loss, target and trailing stop per position, and their pure arithmetic.

A rule belongs to one position (account, instrument, product) and one direction: a long
position (+1) exits by selling, a short one (-1) by buying. States: ARMED -> TRIGGERED -> DONE,
and back to ARMED (with an alert) when the exit order is rejected.

Which side of the trigger counts as "crossed":

==========  ===================  ====================
rule        long (+1)            short (-1)
==========  ===================  ====================
stop-loss   price <= trigger     price >= trigger
target      price >= trigger     price <= trigger
trailing    price <= trigger     price >= trigger
==========  ===================  ====================

A trailing stop keeps an anchor (the best price seen since it was armed) and sits a fixed
distance (points, or a percentage of the anchor) behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from core.domain.models import ExitSpec, Instrument, InstrumentId, Product

HUNDRED = Decimal(100)


class RuleKind(StrEnum):
    STOP_LOSS = "stop_loss"
    TARGET = "target"
    TRAILING = "trailing"

    @property
    def label(self) -> str:
        return {"stop_loss": "stop-loss", "target": "target", "trailing": "trailing stop"}[
            self.value
        ]


class RuleState(StrEnum):
    ARMED = "ARMED"
    TRIGGERED = "TRIGGERED"
    DONE = "DONE"


@dataclass(frozen=True, slots=True)
class SpikeBuffer:
    """A crossing counts only beyond ``band_pct`` of the trigger and held for ``dwell_s``.

    With a dwell, the crossing must still hold on a tick at least ``dwell_s`` after the first
    crossing tick, so one bad print can never fire an exit on its own.
    """

    band_pct: Decimal = Decimal(0)
    dwell_s: float = 0.0


@dataclass(frozen=True, slots=True)
class ExitRule:
    id: int
    account: str
    instrument: InstrumentId
    product: Product
    kind: RuleKind
    direction: int  # +1: long position, exits by selling; -1: short, exits by buying
    trigger: Decimal
    quantity: int
    state: RuleState
    created_at: datetime
    updated_at: datetime
    trail_value: Decimal | None = None
    trail_percent: bool = False
    anchor: Decimal | None = None
    buffer: SpikeBuffer = SpikeBuffer()
    entry_order_id: str | None = None
    exit_order_id: str | None = None
    message: str = ""
    rejections: int = 0  # exits of this rule the broker refused in a row
    version: int = 0

    @property
    def fires_below(self) -> bool:
        """True when a price at or below the trigger crosses it."""
        below = self.kind is not RuleKind.TARGET
        return below if self.direction > 0 else not below

    @property
    def position_key(self) -> tuple[str, InstrumentId, Product]:
        return (self.account, self.instrument, self.product)


def crosses(rule: ExitRule, price: Decimal) -> bool:
    """Whether ``price`` is beyond the rule's trigger, including its spike band."""
    band = rule.trigger * rule.buffer.band_pct / HUNDRED
    if rule.fires_below:
        return price <= rule.trigger - band
    return price >= rule.trigger + band


def trail_distance(rule: ExitRule, anchor: Decimal) -> Decimal:
    value = rule.trail_value or Decimal(0)
    return anchor * value / HUNDRED if rule.trail_percent else value


def follow(rule: ExitRule, price: Decimal, instrument: Instrument | None = None) -> ExitRule:
    """A trailing rule moved by a better price; other rules, and worse prices, unchanged."""
    if rule.kind is not RuleKind.TRAILING:
        return rule
    anchor = rule.anchor if rule.anchor is not None else price
    improved = price > anchor if rule.direction > 0 else price < anchor
    if not improved and rule.anchor is not None:
        return rule
    new_anchor = price if improved else anchor
    trigger = new_anchor - rule.direction * trail_distance(rule, new_anchor)
    if instrument is not None:
        trigger = instrument.round_price(trigger)
    return replace(rule, anchor=new_anchor, trigger=trigger)


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A rule to set, before it is tied to a position's numbers."""

    kind: RuleKind
    value: Decimal
    percent: bool


def specs_from_exits(exits: ExitSpec) -> list[RuleSpec]:
    specs: list[RuleSpec] = []
    if exits.stop_loss is not None:
        specs.append(RuleSpec(RuleKind.STOP_LOSS, exits.stop_loss, exits.stop_loss_pct))
    if exits.target is not None:
        specs.append(RuleSpec(RuleKind.TARGET, exits.target, exits.target_pct))
    if exits.trail_pct is not None:
        specs.append(RuleSpec(RuleKind.TRAILING, exits.trail_pct, True))
    return specs


def initial_trigger(spec: RuleSpec, direction: int, reference: Decimal) -> Decimal:
    """The trigger of a new rule: an absolute price, or a percentage away from ``reference``.

    ``reference`` is the entry's average price for stop-loss and target, and the current price
    (the first anchor) for a trailing stop.
    """
    if spec.kind is RuleKind.TRAILING:
        distance = reference * spec.value / HUNDRED if spec.percent else spec.value
        return reference - direction * distance
    if not spec.percent:
        return spec.value
    offset = reference * spec.value / HUNDRED
    losing = -direction if spec.kind is RuleKind.STOP_LOSS else direction
    return reference + losing * offset


def check_sides(spec: RuleSpec, direction: int, trigger: Decimal, last: Decimal) -> str | None:
    """Why a new rule would fire at once (a stop above a long's price...), or None."""
    rule_fires_below = (spec.kind is not RuleKind.TARGET) == (direction > 0)
    if rule_fires_below and last <= trigger:
        return f"the {spec.kind.label} {trigger} is at or above the last price {last}"
    if not rule_fires_below and last >= trigger:
        return f"the {spec.kind.label} {trigger} is at or below the last price {last}"
    return None


PositionKey = tuple[str, InstrumentId, Product]


def position_changes(
    rules: list[ExitRule], held: dict[PositionKey, int], busy: set[PositionKey]
) -> list[tuple[ExitRule, int]]:
    """Armed rules whose position shrank or closed without pocketdesk: (rule, new quantity).

    ``held`` is each position's signed quantity at the broker (absent means flat); ``busy``
    names positions with one of our orders still working, whose effect the broker may not show
    yet - they are left alone until it settles. A new quantity of 0 means: disarm.
    """
    changes: list[tuple[ExitRule, int]] = []
    for rule in rules:
        if rule.state is not RuleState.ARMED or rule.position_key in busy:
            continue
        in_direction = held.get(rule.position_key, 0) * rule.direction
        if in_direction <= 0:
            changes.append((rule, 0))
        elif in_direction < rule.quantity:
            changes.append((rule, in_direction))
    return changes
