"""Turn one line of chat text into a typed command, or a ``CommandError`` saying what is wrong.

The parser is pure: no I/O, no broker. Instruments stay as the upper-cased text the user typed
(``RELIANCE`` or ``NSE:RELIANCE``), checked only for shape; resolving a bare symbol to an
account's default exchange happens later, where the account is known.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from decimal import Decimal

from bot.commands.types import (
    AccountsCommand,
    CancelCommand,
    Command,
    ExitCommand,
    HelpCommand,
    ModifyCommand,
    OrdersCommand,
    PlaceCommand,
    PositionsCommand,
    QuoteCommand,
    StatusCommand,
)
from bot.commands.usage import ALIASES, COMMANDS
from core.errors import UserError
from core.models import ExitSpec, InstrumentId, OrderType, Product, Side


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
_SPACED_AT_RE = re.compile(r"@\s+")
_SHOW_MAX = 40


def parse(text: str) -> Command:
    """Parse one line of user text into a command; raise ``CommandError`` when it is not one."""
    line = text.strip()
    if not line.startswith("/"):
        raise CommandError("Commands start with /; try /help")
    head, *rest = line.split(maxsplit=1)  # any whitespace: clients may send tabs or newlines
    name = head[1:].partition("@")[0].lower()  # "/Buy@SomeBot" -> "buy"
    name = ALIASES.get(name, name)
    if name not in _PARSERS:
        raise CommandError(f"Unknown command {_show('/' + name)}; send /help for the list")
    return _PARSERS[name](_tokens(rest[0] if rest else ""), COMMANDS[name].usage)


def _tokens(rest: str) -> list[str]:
    """Split the arguments on whitespace, joining ``@ 2500`` into one token."""
    return _SPACED_AT_RE.sub("@", rest).split()


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


def _price(token: str, raw: str, usage: str, what: str = "price") -> Decimal:
    """A positive decimal with at most ``MAX_DECIMALS`` places."""
    if raw.startswith("-"):
        raise CommandError(f"{_show(token)}: a {what} cannot be negative", usage)
    if not _NUMBER_RE.fullmatch(raw):
        raise CommandError(f"{_show(token)} is not a {what}: expected a number like 2500.50", usage)
    whole, _, fraction = raw.partition(".")
    if len(fraction) > MAX_DECIMALS:
        raise CommandError(f"{_show(token)} has more than {MAX_DECIMALS} decimal places", usage)
    if len(whole.lstrip("0")) > MAX_INTEGER_DIGITS:
        raise CommandError(f"{_show(token)} is too large a {what}", usage)
    value = Decimal(raw)
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


# --- commands -------------------------------------------------------------------------------


def _help(tokens: list[str], usage: str) -> HelpCommand:
    if not tokens:
        return HelpCommand()
    if len(tokens) > 1:
        raise CommandError(f"Unexpected extra argument {_show(tokens[1])}", usage)
    topic = tokens[0].removeprefix("/").partition("@")[0].lower()
    topic = ALIASES.get(topic, topic)
    if topic not in COMMANDS:
        raise CommandError(f"No command {_show(tokens[0])}; send /help for the list", usage)
    return HelpCommand(topic)


def _accounts(tokens: list[str], usage: str) -> AccountsCommand:
    _no_more(tokens, usage)
    return AccountsCommand()


def _status(tokens: list[str], usage: str) -> StatusCommand:
    _no_more(tokens, usage)
    return StatusCommand()


def _orders(tokens: list[str], usage: str) -> OrdersCommand:
    return OrdersCommand(_only_account(tokens, usage))


def _positions(tokens: list[str], usage: str) -> PositionsCommand:
    return PositionsCommand(_only_account(tokens, usage))


def _quote(tokens: list[str], usage: str) -> QuoteCommand:
    _require(tokens, 1, "SYMBOL", usage)
    return QuoteCommand(_symbol(tokens[0], usage), _only_account(tokens[1:], usage))


def _exit(tokens: list[str], usage: str) -> ExitCommand:
    _require(tokens, 1, "SYMBOL", usage)
    return ExitCommand(_symbol(tokens[0], usage), _only_account(tokens[1:], usage))


def _cancel(tokens: list[str], usage: str) -> CancelCommand:
    _require(tokens, 1, "ORDER", usage)
    _no_more(tokens[1:], usage)
    return CancelCommand(_order_ref(tokens[0], usage))


def _modify(tokens: list[str], usage: str) -> ModifyCommand:
    _require(tokens, 1, "ORDER", usage)
    order_ref = _order_ref(tokens[0], usage)
    options = _options(tokens[1:], ("price", "qty", "trigger"), usage, {"@": "; write price=PRICE"})
    if not options:
        raise CommandError("Nothing to change: give price=, qty= or trigger=", usage)
    return ModifyCommand(
        order_ref,
        price=_price(*options["price"], usage) if "price" in options else None,
        quantity=_quantity(*options["qty"], usage) if "qty" in options else None,
        trigger=_price(*options["trigger"], usage, "trigger") if "trigger" in options else None,
    )


_PLACE_OPTIONS = ("@", "sl", "tp", "trail", "trigger", "on", "product")
_PLACE_HINTS = {
    "price": "; write the limit price as @PRICE",
    "qty": "; QTY comes right after SYMBOL",
    "quantity": "; QTY comes right after SYMBOL",
}


def _place(side: Side, tokens: list[str], usage: str) -> PlaceCommand:
    _require(tokens, 1, "SYMBOL and QTY", usage)
    symbol = _symbol(tokens[0], usage)
    _require(tokens, 2, "QTY", usage)
    quantity = _quantity(tokens[1], tokens[1], usage)
    options = _options(tokens[2:], _PLACE_OPTIONS, usage, _PLACE_HINTS)

    price = _price(*options["@"], usage) if "@" in options else None
    trigger = _price(*options["trigger"], usage, "trigger") if "trigger" in options else None
    sl = _price_or_percent(*options["sl"], usage) if "sl" in options else None
    tp = _price_or_percent(*options["tp"], usage) if "tp" in options else None
    trail = None
    if "trail" in options:
        token, raw = options["trail"]
        if not raw.endswith("%"):
            raise CommandError(f"{_show(token)}: trail= takes a percentage, like trail=1.5%", usage)
        trail = _percent(token, raw, usage)
    account = _account(*options["on"], usage) if "on" in options else None
    product = _product(*options["product"], usage) if "product" in options else None

    exits = ExitSpec(
        stop_loss=sl[0] if sl else None,
        stop_loss_pct=sl[1] if sl else False,
        target=tp[0] if tp else None,
        target_pct=tp[1] if tp else False,
        trail_pct=trail,
    )
    _check_sides(side, price, trigger, exits, options, usage)
    if trigger is not None:
        order_type = OrderType.SL if price is not None else OrderType.SL_M
    else:
        order_type = OrderType.LIMIT if price is not None else OrderType.MARKET
    return PlaceCommand(side, symbol, quantity, order_type, price, trigger, exits, account, product)


def _check_sides(
    side: Side,
    price: Decimal | None,
    trigger: Decimal | None,
    exits: ExitSpec,
    options: dict[str, tuple[str, str]],
    usage: str,
) -> None:
    """Absolute exits must sit on the losing (sl) and winning (tp) side of the entry.

    The entry is ``@PRICE``, or the trigger of a stop-market order. A buy stop-limit's trigger
    may not be above its limit (nor a sell's below): brokers refuse that anyway.
    """
    below, above = ("below", "above") if side is Side.BUY else ("above", "below")

    def require(ok: bool, key: str, where: str) -> None:
        if not ok:
            reason = f"{_show(options[key][0])} must be {where} for a {side.lower()}"
            raise CommandError(reason, usage)

    if price is not None and trigger is not None:
        require((price - trigger) * side.sign >= 0, "trigger", f"at or {below} the price {price}")
    entry = price if price is not None else trigger
    sl = None if exits.stop_loss_pct else exits.stop_loss
    tp = None if exits.target_pct else exits.target
    if entry is not None and sl is not None:
        require((entry - sl) * side.sign > 0, "sl", f"{below} the entry {entry}")
    if entry is not None and tp is not None:
        require((tp - entry) * side.sign > 0, "tp", f"{above} the entry {entry}")
    if sl is not None and tp is not None:
        require((tp - sl) * side.sign > 0, "sl", f"{below} {_show(options['tp'][0])}")


def _buy(tokens: list[str], usage: str) -> PlaceCommand:
    return _place(Side.BUY, tokens, usage)


def _sell(tokens: list[str], usage: str) -> PlaceCommand:
    return _place(Side.SELL, tokens, usage)


_PARSERS: dict[str, Callable[[list[str], str], Command]] = {
    "help": _help,
    "accounts": _accounts,
    "status": _status,
    "orders": _orders,
    "positions": _positions,
    "quote": _quote,
    "buy": _buy,
    "sell": _sell,
    "modify": _modify,
    "cancel": _cancel,
    "exit": _exit,
}
