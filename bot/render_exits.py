"""Rendering of exit rules (/sl, /tp, /trail, /exits)."""

from __future__ import annotations

from bot.render import price
from bot.replies import Reply, esc
from core.domain.exit_rules import ExitRule, RuleKind


def describe_rule(rule: ExitRule) -> str:
    side = "long" if rule.direction > 0 else "short"
    text = f"{rule.kind.label} {price(rule.trigger)}"
    if rule.kind is RuleKind.TRAILING and rule.trail_value is not None:
        distance = f"{rule.trail_value}%" if rule.trail_percent else f"{rule.trail_value} points"
        text += f" (trailing {distance} behind {price(rule.anchor)})"
    buffer = rule.buffer
    if buffer.band_pct or buffer.dwell_s:
        text += f", buffer {buffer.band_pct}% / {buffer.dwell_s:g} s"
    return f"{text} on {rule.quantity} {side} {rule.instrument} [{rule.account}]"


def render_rule_set(rule: ExitRule) -> Reply:
    return Reply(f"Armed: {esc(describe_rule(rule))}")


def render_rules(rules: list[ExitRule]) -> Reply:
    if not rules:
        return Reply("No exit rules are armed.")
    lines = ["<b>Exit rules</b>"]
    for rule in rules:
        state = "" if rule.state.value == "ARMED" else f" — {rule.state.value.lower()}"
        lines.append(esc(describe_rule(rule) + state))
    return Reply("\n".join(lines))


def render_cleared(count: int, symbol: str) -> Reply:
    if count == 0:
        return Reply(f"No armed exit rules on {esc(symbol)}.")
    return Reply(f"Cleared {count} exit rule{'s' if count != 1 else ''} on {esc(symbol)}.")
