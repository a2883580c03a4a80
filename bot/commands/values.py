"""What every command parser shares: ``CommandError``, and checked values and options.

Each helper takes the token the user typed (to name it in errors) and the usage line of the
command being parsed (to quote it). The helpers are package-private, hence the underscores:
``bot.commands`` exports only the commands, ``parse`` and ``CommandError``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from core.domain.errors import UserError
from core.domain.models import InstrumentId, Product


class CommandError(UserError):
    """The line is not a valid command. ``str(err)`` is the reason, then the usage line if any."""

    def __init__(self, message: str, usage: str = "") -> None:
        super().__init__(f"{message}\nUsage: {usage}" if usage else message)
        self.reason = message
        self.usage = usage


# Sanity bounds against typos, not risk limits: those belong to the order checks.
MAX_DECIMALS = 4
MAX_INTEGER_DIGITS = 12
MAX_QUANTITY = 999_999_999

_NUMBER_RE = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_ACCOUNT_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_ORDER_REF_RE = re.compile(r"[A-Za-z0-9_-]{1,40}")
_SHOW_MAX = 40


def _show(token: str) -> str:
    """Quote a user's token for an error message: shortened, and always one printable line."""
    if len(token) > _SHOW_MAX:
        token = token[: _SHOW_MAX - 3] + "..."
    if not token.isprintable():
        token = token.encode("unicode_escape").decode("ascii")
    return f"'{token}'"


# --- values ---------------------------------------------------------------------------------


def _symbol(token: str, usage: str) -> str:
    """Check an instrument's shape like ``InstrumentId.parse`` does; keep the text, upper-cased."""
    try:
        if not token.isascii():  # "ﬁ".upper() is "FI": refuse look-alikes before upper-casing
            raise ValueError(token)
        InstrumentId.parse(token, default_exchange="X")
    except ValueError:
        raise CommandError(
            f"{_show(token)} is not a symbol: expected RELIANCE or NSE:RELIANCE", usage
        ) from None
    return token.upper()


def _quantity(token: str, raw: str, usage: str) -> int:
    if not raw.isascii() or not raw.isdigit():
        raise CommandError(f"{_show(token)} is not a quantity: expected a whole number", usage)
    if len(raw.lstrip("0")) > len(str(MAX_QUANTITY)) or int(raw) > MAX_QUANTITY:
        raise CommandError(f"{_show(token)} is too large a quantity", usage)
    if int(raw) == 0:
        raise CommandError(f"{_show(token)}: the quantity must be at least 1", usage)
    return int(raw)


def _number(token: str, raw: str, usage: str, what: str, like: str = "2500.50") -> Decimal:
    """A decimal of zero or more with at most ``MAX_DECIMALS`` places; ``like`` is an example."""
    if raw.startswith("-"):
        raise CommandError(f"{_show(token)}: a {what} cannot be negative", usage)
    if not _NUMBER_RE.fullmatch(raw):
        raise CommandError(f"{_show(token)} is not a {what}: expected a number like {like}", usage)
    whole, _, fraction = raw.partition(".")
    if len(fraction) > MAX_DECIMALS:
        raise CommandError(f"{_show(token)} has more than {MAX_DECIMALS} decimal places", usage)
    if len(whole.lstrip("0")) > MAX_INTEGER_DIGITS:
        raise CommandError(f"{_show(token)} is too large a {what}", usage)
    return Decimal(raw)


def _price(token: str, raw: str, usage: str, what: str = "price") -> Decimal:
    """A positive decimal with at most ``MAX_DECIMALS`` places."""
    value = _number(token, raw, usage, what)
    if value <= 0:
        raise CommandError(f"{_show(token)}: a {what} must be greater than zero", usage)
    return value


def _percent(token: str, raw: str, usage: str) -> Decimal:
    """``5%`` -> ``Decimal(5)``; strictly between 0 and 100."""
    value = _price(token, raw.removesuffix("%"), usage, what="percentage")
    if value >= 100:
        raise CommandError(f"{_show(token)}: a percentage must be below 100%", usage)
    return value


def _price_or_percent(token: str, raw: str, usage: str) -> tuple[Decimal, bool]:
    if raw.endswith("%"):
        return _percent(token, raw, usage), True
    return _price(token, raw, usage), False


# The spike buffer of one exit rule; the same bounds as ``[exits]`` and an account's overrides.
MAX_BAND_PCT = Decimal(10)  # exclusive
MAX_DWELL_S = 60  # inclusive


def _band(token: str, raw: str, usage: str) -> Decimal:
    """``band=0.1%`` -> ``Decimal("0.1")``: a percentage of the trigger, from 0 to below 10."""
    if not raw.endswith("%"):
        message = f"{_show(token)}: band= takes a percentage, like band=0.1%"
        raise CommandError(message, usage)
    value = _number(token, raw[:-1], usage, "band percentage", like="0.1%")
    if value >= MAX_BAND_PCT:
        raise CommandError(f"{_show(token)}: a band must be below {MAX_BAND_PCT}%", usage)
    return value


def _seconds(token: str, raw: str, usage: str) -> float:
    """``dwell=2``, ``dwell=2s`` or ``dwell=0.5s``: a number of seconds from 0 to 60."""
    number = raw[:-1] if raw[-1:] in ("s", "S") else raw
    value = _number(token, number, usage, "number of seconds", like="2 or 0.5s")
    if value > MAX_DWELL_S:
        raise CommandError(f"{_show(token)}: a dwell must be at most {MAX_DWELL_S}s", usage)
    return float(value)


def _account(token: str, raw: str, usage: str) -> str:
    if not _ACCOUNT_RE.fullmatch(raw):
        raise CommandError(
            f"{_show(token)} is not an account name: letters, digits, - and _, at most 32", usage
        )
    return raw


def _order_ref(token: str, usage: str) -> str:
    if not _ORDER_REF_RE.fullmatch(token):
        raise CommandError(
            f"{_show(token)} is not an order id: letters, digits, - and _, at most 40", usage
        )
    return token


def _product(token: str, raw: str, usage: str) -> Product:
    try:
        return Product(raw.upper())
    except ValueError:
        message = f"{_show(token)} is not a product: use MIS, CNC or NRML"
        raise CommandError(message, usage) from None


# --- options --------------------------------------------------------------------------------


def _options(
    tokens: Sequence[str], allowed: Sequence[str], usage: str, hints: dict[str, str] | None = None
) -> dict[str, tuple[str, str]]:
    """Split ``key=value`` tokens (and ``@PRICE`` as key ``@``) into ``{key: (token, value)}``.

    Keys are case-insensitive; an unknown, repeated or empty option is an error naming its token.
    """
    found: dict[str, tuple[str, str]] = {}
    for token in tokens:
        if token.startswith("@"):
            key, value = "@", token[1:]
        elif "=" in token:
            key, _, value = token.partition("=")
            key = key.lower()
        else:
            message = f"{_show(token)} is not an option: write options as key=value"
            raise CommandError(message, usage)
        if key not in allowed:
            hint = (hints or {}).get(key, "")
            raise CommandError(f"Unknown option {_show(token)}{hint}", usage)
        if key in found:
            raise CommandError(f"{_show(token)} repeats {_show(found[key][0])}", usage)
        if not value:
            raise CommandError(f"{_show(token)} is missing its value", usage)
        found[key] = (token, value)
    return found


def _only_account(tokens: Sequence[str], usage: str) -> str | None:
    options = _options(tokens, ("on",), usage)
    return _account(*options["on"], usage) if "on" in options else None


def _no_more(tokens: Sequence[str], usage: str) -> None:
    if tokens:
        raise CommandError(f"Unexpected extra argument {_show(tokens[0])}", usage)


def _require(tokens: Sequence[str], count: int, what: str, usage: str) -> None:
    if len(tokens) < count:
        raise CommandError(f"Missing {what}", usage)
