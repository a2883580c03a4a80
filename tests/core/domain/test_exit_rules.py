"""Exit rules and the rule index: crossings, trailing, the spike buffer, position changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.domain.exit_rules import (
    ExitRule,
    RuleKind,
    RuleSpec,
    RuleState,
    SpikeBuffer,
    check_sides,
    crosses,
    follow,
    initial_trigger,
    position_changes,
)
from core.domain.models import InstrumentId, Product
from core.rule_index import RuleIndex

D = Decimal
INFY = InstrumentId("NSE", "INFY")
T = datetime(2026, 1, 5, tzinfo=UTC)


def rule(
    kind: RuleKind = RuleKind.STOP_LOSS,
    trigger: str = "100",
    direction: int = 1,
    rule_id: int = 1,
    **kw: object,
) -> ExitRule:
    base = ExitRule(
        id=rule_id,
        account="paper",
        instrument=INFY,
        product=Product.CNC,
        kind=kind,
        direction=direction,
        trigger=D(trigger),
        quantity=10,
        state=RuleState.ARMED,
        created_at=T,
        updated_at=T,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "direction", "crossing", "calm"),
    [
        (RuleKind.STOP_LOSS, 1, "99.95", "100.05"),
        (RuleKind.TARGET, 1, "100.05", "99.95"),
        (RuleKind.STOP_LOSS, -1, "100.05", "99.95"),
        (RuleKind.TARGET, -1, "99.95", "100.05"),
        (RuleKind.TRAILING, 1, "99.95", "100.05"),
        (RuleKind.TRAILING, -1, "100.05", "99.95"),
    ],
)
def test_which_side_crosses(kind: RuleKind, direction: int, crossing: str, calm: str) -> None:
    r = rule(kind, direction=direction)
    assert crosses(r, D(crossing))
    assert crosses(r, D("100"))
    assert not crosses(r, D(calm))


def test_the_price_band_widens_the_trigger() -> None:
    r = rule(buffer=SpikeBuffer(band_pct=D("0.5")))
    assert not crosses(r, D("99.6"))
    assert crosses(r, D("99.5"))


def test_trailing_stop_follows_the_best_price_only() -> None:
    r = rule(RuleKind.TRAILING, "98", anchor=D("100"), trail_value=D(2), trail_percent=False)
    up = follow(r, D("105"))
    assert (up.anchor, up.trigger) == (D("105"), D("103"))
    assert follow(up, D("104")) is up
    pct = rule(RuleKind.TRAILING, "98", anchor=D("100"), trail_value=D(2), trail_percent=True)
    assert follow(pct, D("200")).trigger == D("196")
    short = rule(RuleKind.TRAILING, "102", direction=-1, anchor=D("100"), trail_value=D(2))
    assert follow(short, D("90")).trigger == D("92")


def test_initial_triggers_from_percentages() -> None:
    assert initial_trigger(RuleSpec(RuleKind.STOP_LOSS, D(2), True), 1, D(100)) == D(98)
    assert initial_trigger(RuleSpec(RuleKind.TARGET, D(5), True), 1, D(100)) == D(105)
    assert initial_trigger(RuleSpec(RuleKind.STOP_LOSS, D(2), True), -1, D(100)) == D(102)
    assert initial_trigger(RuleSpec(RuleKind.TARGET, D(5), True), -1, D(100)) == D(95)
    assert initial_trigger(RuleSpec(RuleKind.TRAILING, D(3), False), 1, D(100)) == D(97)
    assert initial_trigger(RuleSpec(RuleKind.STOP_LOSS, D(90), False), 1, D(100)) == D(90)


def test_a_rule_that_would_fire_at_once_is_explained() -> None:
    spec = RuleSpec(RuleKind.STOP_LOSS, D(101), False)
    assert check_sides(spec, 1, D(101), D(100)) is not None
    assert check_sides(spec, 1, D(99), D(100)) is None
    assert check_sides(RuleSpec(RuleKind.TARGET, D(99), False), 1, D(99), D(100)) is not None


class Fired:
    def __init__(self) -> None:
        self.calls: list[tuple[int, Decimal]] = []

    def __call__(self, r: ExitRule, price: Decimal) -> None:
        self.calls.append((r.id, price))


def test_index_fires_once_and_forgets_the_rule() -> None:
    fired = Fired()
    index = RuleIndex(fired)
    index.replace_instrument(INFY, [rule()])
    index.on_price(INFY, D("100.5"), 0)
    assert fired.calls == []
    index.on_price(INFY, D("99"), 1)
    index.on_price(INFY, D("98"), 2)
    assert fired.calls == [(1, D("99"))]
    assert len(index) == 0


def test_a_single_spike_inside_the_dwell_fires_nothing() -> None:
    fired = Fired()
    index = RuleIndex(fired)
    index.replace_instrument(INFY, [rule(buffer=SpikeBuffer(dwell_s=1.0))])
    index.on_price(INFY, D("90"), 10.0)  # one bad print
    index.on_price(INFY, D("101"), 10.2)  # back to normal: the crossing did not hold
    index.on_price(INFY, D("99"), 11.5)  # a new crossing starts its own dwell
    assert fired.calls == []
    index.on_price(INFY, D("99"), 12.6)  # held for the dwell: fire
    assert fired.calls == [(1, D("99"))]


def test_other_instruments_are_not_touched() -> None:
    fired = Fired()
    index = RuleIndex(fired)
    index.replace_instrument(INFY, [rule()])
    index.on_price(InstrumentId("NSE", "TCS"), D("1"), 0)
    assert fired.calls == [] and len(index) == 1


@given(
    triggers=st.lists(st.integers(50, 150), min_size=1, max_size=6),
    prices=st.lists(st.integers(40, 160), max_size=30),
)
def test_the_calm_band_never_hides_a_crossing(triggers: list[int], prices: list[int]) -> None:
    kinds = [RuleKind.STOP_LOSS, RuleKind.TARGET]
    rules = [
        rule(kinds[n % 2], str(t), direction=1 if n % 3 else -1, rule_id=n)
        for n, t in enumerate(triggers)
    ]
    fired = Fired()
    index = RuleIndex(fired)
    index.replace_instrument(INFY, rules)
    expected: set[int] = set()
    live = list(rules)
    for price in prices:
        hit = [r for r in live if crosses(r, D(price))]
        expected |= {r.id for r in hit}
        live = [r for r in live if r not in hit]
        index.on_price(INFY, D(price), 0)
    assert {rule_id for rule_id, _ in fired.calls} == expected
    assert len(fired.calls) == len(expected)


def test_position_changes_disarm_closed_and_shrink_reduced() -> None:
    key = ("paper", INFY, Product.CNC)
    long_sl = rule(rule_id=1)
    assert position_changes([long_sl], {key: 10}, set()) == []
    assert position_changes([long_sl], {key: 4}, set()) == [(long_sl, 4)]
    assert position_changes([long_sl], {}, set()) == [(long_sl, 0)]
    assert position_changes([long_sl], {key: -5}, set()) == [(long_sl, 0)]
    assert position_changes([long_sl], {}, {key}) == []  # our order is working: wait
