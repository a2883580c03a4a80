"""Exit rules of open positions: ``/sl``, ``/tp``, ``/trail`` and ``/exits``.

Unlike the ``sl=``, ``tp=`` and ``trail=`` options of ``/buy`` and ``/sell``, which ride on a new
order, these act on a position the desk already holds. Values are checked like those options:
the same decimal limits, and a percentage strictly between 0 and 100. Whether an absolute price
sits on the right side of the market is not checked here: that needs the position.

``/sl``, ``/tp`` and ``/trail`` also take ``band=PCT%`` and ``dwell=SECONDS`` (``2``, ``2s``,
``0.5s``), in any order with ``on=``: they override the account's spike buffer for that one
rule, within the bounds of the ``[exits]`` settings (a band below 10%, a dwell up to 60s).

``/exits clear SYMBOL`` clears a position's rules, so the word ``clear`` (in any case) is never
read as a symbol: a symbol named CLEAR can only be listed with its exchange, ``/exits NSE:CLEAR``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from bot.commands.types import (
    Command,
    ExitsCommand,
    StopLossCommand,
    TargetCommand,
    TrailCommand,
)
from bot.commands.values import (
    CommandError,
    _account,
    _band,
    _only_account,
    _options,
    _percent,
    _price,
    _price_or_percent,
    _seconds,
    _show,
    _symbol,
)

_CLEAR = "clear"


def _argument(tokens: Sequence[str], index: int, what: str, usage: str) -> str:
    """The positional argument at ``index``; missing when absent or when an option stands there."""
    if index >= len(tokens):
        raise CommandError(f"Missing {what}", usage)
    if "=" in tokens[index]:
        raise CommandError(f"Missing {what} before {_show(tokens[index])}", usage)
    return tokens[index]


@dataclass(frozen=True, slots=True)
class _RuleOptions:
    account: str | None
    band_pct: Decimal | None
    dwell_s: float | None


_RULE_OPTIONS = ("on", "band", "dwell")


def _rule(tokens: Sequence[str], what: str, usage: str) -> tuple[str, str, Sequence[str]]:
    """``SYMBOL VALUE [options]``: the checked symbol, the value's token, the option tokens."""
    symbol = _symbol(_argument(tokens, 0, f"SYMBOL and {what}", usage), usage)
    return symbol, _argument(tokens, 1, what, usage), tokens[2:]


def _rule_options(tokens: Sequence[str], usage: str) -> _RuleOptions:
    """``[on=ACCOUNT] [band=PCT%] [dwell=SECONDS]`` in any order, each at most once."""
    options = _options(tokens, _RULE_OPTIONS, usage)
    return _RuleOptions(
        account=_account(*options["on"], usage) if "on" in options else None,
        band_pct=_band(*options["band"], usage) if "band" in options else None,
        dwell_s=_seconds(*options["dwell"], usage) if "dwell" in options else None,
    )


def _stop_loss(tokens: list[str], usage: str) -> StopLossCommand:
    symbol, token, rest = _rule(tokens, "PRICE|PCT%", usage)
    value, percent = _price_or_percent(token, token, usage)
    o = _rule_options(rest, usage)
    return StopLossCommand(symbol, value, percent, o.account, o.band_pct, o.dwell_s)


def _target(tokens: list[str], usage: str) -> TargetCommand:
    symbol, token, rest = _rule(tokens, "PRICE|PCT%", usage)
    value, percent = _price_or_percent(token, token, usage)
    o = _rule_options(rest, usage)
    return TargetCommand(symbol, value, percent, o.account, o.band_pct, o.dwell_s)


def _trail(tokens: list[str], usage: str) -> TrailCommand:
    """A percentage (``1.5%``), or a bare number of points: a price distance (``15``)."""
    symbol, token, rest = _rule(tokens, "PCT%|POINTS", usage)
    value: Decimal
    if token.endswith("%"):
        value, percent = _percent(token, token, usage), True
    else:
        value, percent = _price(token, token, usage, what="trail distance"), False
    o = _rule_options(rest, usage)
    return TrailCommand(symbol, value, percent, o.account, o.band_pct, o.dwell_s)


def _exits(tokens: list[str], usage: str) -> ExitsCommand:
    if tokens and tokens[0].lower() == _CLEAR:
        symbol = _symbol(_argument(tokens, 1, "SYMBOL to clear", usage), usage)
        return ExitsCommand(symbol, _only_account(tokens[2:], usage), clear=True)
    if tokens and "=" not in tokens[0]:
        return ExitsCommand(_symbol(tokens[0], usage), _only_account(tokens[1:], usage))
    return ExitsCommand(None, _only_account(tokens, usage))


EXIT_PARSERS: dict[str, Callable[[list[str], str], Command]] = {
    "sl": _stop_loss,
    "tp": _target,
    "trail": _trail,
    "exits": _exits,
}
