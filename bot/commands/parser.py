"""Turn one line of chat text into a typed command, or a ``CommandError`` saying what is wrong.

The parser is pure: no I/O, no broker. Instruments stay as the upper-cased text the user typed
(``RELIANCE`` or ``NSE:RELIANCE``), checked only for shape; resolving a bare symbol to an
account's default exchange happens later, where the account is known.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

from bot.commands.exits import EXIT_PARSERS
from bot.commands.safety import SAFETY_PARSERS
from bot.commands.types import (
    AccountsCommand,
    CancelCommand,
    Command,
    ExitCommand,
    HelpCommand,
    LoginCommand,
    ModifyCommand,
    OrdersCommand,
    PlaceCommand,
    PositionsCommand,
    QuoteCommand,
    StatusCommand,
)
from bot.commands.usage import ALIASES, COMMANDS
from bot.commands.values import (
    CommandError,
    _account,
    _no_more,
    _only_account,
    _options,
    _order_ref,
    _percent,
    _price,
    _price_or_percent,
    _product,
    _quantity,
    _require,
    _show,
    _symbol,
)
from core.domain.models import ExitSpec, OrderType, Side

__all__ = ["CommandError", "parse"]

_SPACED_AT_RE = re.compile(r"@\s+")


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


_LOGIN_RESPONSE_RE = re.compile(r"[A-Za-z0-9:/?&=._%~+#-]{1,1000}")


def _login(tokens: list[str], usage: str) -> LoginCommand:
    _require(tokens, 1, "ACCOUNT", usage)
    account = _account(tokens[0], tokens[0], usage)
    if len(tokens) == 1:
        return LoginCommand(account)
    _no_more(tokens[2:], usage)
    response = tokens[1]
    if not _LOGIN_RESPONSE_RE.fullmatch(response):
        raise CommandError(
            f"{_show(response)} is neither the address you landed on nor a request token", usage
        )
    return LoginCommand(account, response)


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
    "login": _login,
    **EXIT_PARSERS,
    **SAFETY_PARSERS,
}
