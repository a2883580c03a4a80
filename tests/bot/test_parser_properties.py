"""Property-based tests of the parser: generated lines, arbitrary text, determinism."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands import (
    CommandError,
    PlaceCommand,
    parse,
)
from core.domain.models import ExitSpec, OrderType, Product, Side

D = Decimal


# --- properties ---------------------------------------------------------------------------------

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DIGITS = "0123456789"


def _word(first: str, rest: str, max_size: int) -> st.SearchStrategy[str]:
    return st.builds(
        lambda a, b: a + b,
        st.sampled_from(first),
        st.text(alphabet=rest, max_size=max_size - 1),
    )


_EXCHANGE = _word(_LETTERS, _LETTERS + _DIGITS + "_", 16)
_BARE_SYMBOL = _word(_LETTERS + _DIGITS, _LETTERS + _DIGITS + "&_.-", 40)
_SYMBOL = _BARE_SYMBOL | st.builds(lambda e, s: f"{e}:{s}", _EXCHANGE, _BARE_SYMBOL)
_ACCOUNT = st.text(alphabet=_LETTERS + _DIGITS + "_-", min_size=1, max_size=32)
_PERCENT = st.decimals(min_value=D("0.0001"), max_value=D("99.9999"), places=4)


_TICK = D("0.0001")
_MAX_PRICE = D(10**9)


@st.composite
def _price(draw: st.DrawFn, low: Decimal = _TICK, high: Decimal = _MAX_PRICE) -> Decimal:
    """A price in [low, high] with 0 to 4 decimals, as a user would type it."""
    value = draw(st.decimals(min_value=low, max_value=high, places=4))
    places = draw(st.integers(0, 4))
    rounded = value.quantize(D(1).scaleb(-places))
    return rounded if low <= rounded <= high and rounded > 0 else value


@st.composite
def _casing(draw: st.DrawFn, text: str) -> str:
    """``text`` with the case of any of its letters flipped."""
    flips = draw(st.integers(0, 2 ** len(text) - 1))
    return "".join(c.swapcase() if flips >> i & 1 else c for i, c in enumerate(text))


@dataclass(frozen=True)
class _Case:
    text: str
    expected: PlaceCommand


@st.composite
def _place_lines(draw: st.DrawFn) -> _Case:
    """A valid /buy or /sell line with random options, order, casing and spacing."""
    side = draw(st.sampled_from(Side))
    symbol = draw(_SYMBOL)
    quantity = draw(st.integers(1, 999_999_999))
    price = draw(st.none() | _price(D(1)))
    trigger = None
    if draw(st.booleans()):
        # A stop-limit's trigger sits on the near side of its limit: at or below it for a buy.
        if price is None:
            trigger = draw(_price(D(1)))
        elif side is Side.BUY:
            trigger = draw(_price(D(1), price))
        else:
            trigger = draw(_price(price))
    # Absolute exits go on the losing (sl) and winning (tp) side of the entry, or of an
    # imaginary one when the order has no price: then they still bracket each other.
    entry = price or trigger or draw(_price(D(1)))
    below = st.decimals(min_value=D("0.0001"), max_value=entry - D("0.0001"), places=4)
    above = st.decimals(min_value=entry + D("0.0001"), max_value=entry * 2, places=4)
    loss_side, win_side = (below, above) if side is Side.BUY else (above, below)
    sl_pct, tp_pct = draw(st.booleans()), draw(st.booleans())
    sl = draw(st.none() | (_PERCENT if sl_pct else loss_side))
    tp = draw(st.none() | (_PERCENT if tp_pct else win_side))
    trail = draw(st.none() | _PERCENT)
    account = draw(st.none() | _ACCOUNT)
    product = draw(st.none() | st.sampled_from(Product))

    options: list[tuple[str, str]] = []
    for key, value, pct in [
        ("sl", sl, sl_pct),
        ("tp", tp, tp_pct),
        ("trail", trail, True),
        ("trigger", trigger, False),
    ]:
        if value is not None:
            options.append((key, f"{value:f}%" if pct else f"{value:f}"))
    if account is not None:
        options.append(("on", account))
    if product is not None:
        options.append(("product", draw(_casing(product.value))))
    tokens = [f"{draw(_casing(key))}={value}" for key, value in options]
    if price is not None:
        tokens.append("@" + draw(st.sampled_from(["", " ", "  "])) + f"{price:f}")
    tokens = draw(st.permutations(tokens))

    word = "/" + draw(_casing(side.value.lower())) + draw(st.sampled_from(["", "@PocketDeskBot"]))
    spaces = st.text(alphabet=" \t", min_size=1, max_size=3)
    parts = [word, draw(_casing(symbol)), str(quantity), *tokens]
    text = draw(st.sampled_from(["", " ", "\t"])) + parts[0]
    for part in parts[1:]:
        text += draw(spaces) + part
    text += draw(st.sampled_from(["", " ", "\n"]))

    if trigger is not None:
        order_type = OrderType.SL if price is not None else OrderType.SL_M
    else:
        order_type = OrderType.LIMIT if price is not None else OrderType.MARKET
    expected = PlaceCommand(
        side=side,
        symbol=symbol.upper(),
        quantity=quantity,
        order_type=order_type,
        price=price,
        trigger=trigger,
        exits=ExitSpec(
            stop_loss=sl,
            stop_loss_pct=sl is not None and sl_pct,
            target=tp,
            target_pct=tp is not None and tp_pct,
            trail_pct=trail,
        ),
        account=account,
        product=product,
    )
    return _Case(text, expected)


@settings(max_examples=300, deadline=None)
@given(_place_lines())
def test_any_valid_buy_or_sell_line_parses_to_the_fields_it_spells(case: _Case) -> None:
    assert parse(case.text) == case.expected


_FRAGMENTS = st.sampled_from(
    [
        *("/buy", "/sell", "/modify", "/help", "/cancel", "/exit", "/quote", "/orders", "/Buy@B"),
        *("sl=", "tp=", "trail=", "trigger=", "on=", "product=", "price=", "qty=", "NSE:", ":"),
        *("RELIANCE", "10", "-1", "0", "2500.12345", "1e9", "99", "100%", "5%", ".", "@", "="),
        *("%", "٣", "\x00", "\u200b", " ", "  ", "\t", "\n", "9" * 5000),
        *("/sl", "/tp", "/trail", "/exits", "clear", "CLEAR", "1.5%", "15", "on=z"),
    ]
)
_HOSTILE_LINES = st.one_of(
    st.text(),
    st.builds(lambda a, b: a + b, _FRAGMENTS, st.text()),
    st.lists(_FRAGMENTS, max_size=12).map("".join),
    st.lists(_FRAGMENTS, max_size=12).map(" ".join),
)


@settings(max_examples=300, deadline=None)
@given(_HOSTILE_LINES)
def test_any_text_parses_or_raises_command_error_and_nothing_else(text: str) -> None:
    try:
        parse(text)
    except CommandError as error:
        assert error.reason and "\n" not in error.reason


def _outcome(text: str) -> object:
    try:
        return parse(text)
    except CommandError as error:
        return ("error", str(error))


@settings(max_examples=200, deadline=None)
@given(_HOSTILE_LINES | _place_lines().map(lambda case: case.text))
def test_parsing_is_deterministic(text: str) -> None:
    assert _outcome(text) == _outcome(text)
