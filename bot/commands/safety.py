"""The kill switch and the day's books: ``/halt``, ``/resume``, ``/panic``, ``/audit``, ``/pnl``.

``/halt`` and ``/resume`` act on every account unless one is named (``all`` names every account
too): in a hurry, the short command must be the safe one. ``/panic`` takes no arguments; its
two confirmations happen on buttons, not in the text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.commands.types import (
    AuditCommand,
    Command,
    HaltCommand,
    PanicCommand,
    PnlCommand,
    ResumeCommand,
)
from bot.commands.values import (
    CommandError,
    _account,
    _no_more,
    _only_account,
    _show,
)

MAX_AUDIT_ROWS = 200


def _scope(tokens: Sequence[str], usage: str) -> str | None:
    """``None`` for every account, else the account named."""
    if not tokens:
        return None
    _no_more(tokens[1:], usage)
    if tokens[0].lower() == "all":
        return None
    return _account(tokens[0], tokens[0], usage)


def _halt(tokens: list[str], usage: str) -> HaltCommand:
    return HaltCommand(_scope(tokens, usage))


def _resume(tokens: list[str], usage: str) -> ResumeCommand:
    return ResumeCommand(_scope(tokens, usage))


def _panic(tokens: list[str], usage: str) -> PanicCommand:
    _no_more(tokens, usage)
    return PanicCommand()


def _audit(tokens: list[str], usage: str) -> AuditCommand:
    if not tokens:
        return AuditCommand()
    _no_more(tokens[1:], usage)
    raw = tokens[0]
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_AUDIT_ROWS:
        raise CommandError(
            f"{_show(raw)} is not a number of entries: give 1 to {MAX_AUDIT_ROWS}", usage
        )
    return AuditCommand(int(raw))


_PERIODS = ("today", "week")


def _pnl(tokens: list[str], usage: str) -> PnlCommand:
    period = "today"
    if tokens and "=" not in tokens[0]:
        period = tokens[0].lower()
        if period not in _PERIODS:
            raise CommandError(f"{_show(tokens[0])} is not a period: use today or week", usage)
        tokens = tokens[1:]
    return PnlCommand(period, _only_account(tokens, usage))


SAFETY_PARSERS: dict[str, Callable[[list[str], str], Command]] = {
    "halt": _halt,
    "resume": _resume,
    "panic": _panic,
    "audit": _audit,
    "pnl": _pnl,
}
