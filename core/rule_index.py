"""The in-memory index of armed exit rules, and the per-tick evaluation (the hot path).

Each (instrument) entry keeps a *calm band*: the open price interval inside which no rule of
that instrument can cross, and no trailing stop can move. A tick inside the band costs one dict
lookup and two comparisons, whatever the number of positions on other instruments; only a tick
outside it walks the instrument's rules.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal

from core.domain.exit_rules import HUNDRED, ExitRule, RuleKind, crosses, follow
from core.domain.models import InstrumentId

log = logging.getLogger(__name__)

INFINITY = Decimal("Infinity")
FireCallback = Callable[[ExitRule, Decimal], None]


@dataclass(slots=True)
class _Entry:
    rules: list[ExitRule] = field(default_factory=list)
    calm_low: Decimal = -INFINITY
    calm_high: Decimal = INFINITY
    first_cross: dict[int, float] = field(default_factory=dict)  # rule id -> monotonic time

    def recompute(self) -> None:
        low, high = -INFINITY, INFINITY
        for rule in self.rules:
            band = rule.trigger * rule.buffer.band_pct / HUNDRED
            if rule.fires_below:
                low = max(low, rule.trigger - band)
                if rule.kind is RuleKind.TRAILING and rule.anchor is not None:
                    high = min(high, rule.anchor)
            else:
                high = min(high, rule.trigger + band)
                if rule.kind is RuleKind.TRAILING and rule.anchor is not None:
                    low = max(low, rule.anchor)
        self.calm_low, self.calm_high = low, high


class RuleIndex:
    """Armed rules of one account, by instrument. ``on_fire`` is called for each crossing."""

    def __init__(self, on_fire: FireCallback) -> None:
        self._entries: dict[InstrumentId, _Entry] = {}
        self._on_fire = on_fire
        self.moved: dict[int, ExitRule] = {}  # trailing rules whose anchor moved, unsaved

    def instruments(self) -> list[InstrumentId]:
        return list(self._entries)

    def rules(self) -> list[ExitRule]:
        return [rule for entry in self._entries.values() for rule in entry.rules]

    def __len__(self) -> int:
        return sum(len(entry.rules) for entry in self._entries.values())

    def replace_instrument(self, instrument: InstrumentId, rules: Iterable[ExitRule]) -> None:
        """Set the armed rules of one instrument (from storage, after a change)."""
        armed = list(rules)
        if not armed:
            self._entries.pop(instrument, None)
            return
        entry = self._entries.get(instrument) or _Entry()
        live_ids = {rule.id for rule in armed}
        entry.first_cross = {k: v for k, v in entry.first_cross.items() if k in live_ids}
        entry.rules = [self._newest(rule) for rule in armed]
        entry.recompute()
        self._entries[instrument] = entry

    def _newest(self, stored: ExitRule) -> ExitRule:
        """The stored rule, with a trailing anchor moved in memory but not yet saved."""
        moved = self.moved.get(stored.id)
        if moved is None:
            return stored
        return replace(stored, anchor=moved.anchor, trigger=moved.trigger)

    def on_price(self, instrument: InstrumentId, price: Decimal, now: float) -> None:
        """Evaluate one price. The common case returns after one lookup and two comparisons."""
        entry = self._entries.get(instrument)
        if entry is None:
            return
        if entry.calm_low < price < entry.calm_high and not entry.first_cross:
            return
        self._evaluate(instrument, entry, price, now)

    def _evaluate(
        self, instrument: InstrumentId, entry: _Entry, price: Decimal, now: float
    ) -> None:
        firing: list[ExitRule] = []
        kept: list[ExitRule] = []
        for rule in entry.rules:
            moved = follow(rule, price)
            if moved is not rule:
                self.moved[rule.id] = moved
                rule = moved
            if not crosses(rule, price):
                entry.first_cross.pop(rule.id, None)
                kept.append(rule)
                continue
            dwell = rule.buffer.dwell_s
            if dwell > 0:
                first = entry.first_cross.setdefault(rule.id, now)
                if now - first < dwell:
                    kept.append(rule)
                    continue
            entry.first_cross.pop(rule.id, None)
            firing.append(rule)
        entry.rules = kept
        if kept:
            entry.recompute()
        else:
            del self._entries[instrument]
        for rule in firing:
            try:
                self._on_fire(rule, price)
            except Exception:
                log.exception("exit rule %d could not be fired", rule.id)

    def take_moved(self) -> list[ExitRule]:
        """Trailing rules whose anchor moved since the last call (to persist them)."""
        moved, self.moved = self.moved, {}
        return list(moved.values())

    def restore(self, rule: ExitRule) -> None:
        """Put back a rule whose firing was abandoned (it is still armed)."""
        entry = self._entries.setdefault(rule.instrument, _Entry())
        if all(existing.id != rule.id for existing in entry.rules):
            entry.rules.append(replace(rule))
            entry.recompute()
