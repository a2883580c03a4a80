"""The exit-rule commands /sl, /tp, /trail and /exits: what parses, and what is refused why.

The strategies and helpers shared with the order grammar come from ``test_parser``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands import (
    COMMANDS,
    Command,
    CommandError,
    ExitsCommand,
    HelpCommand,
    PlaceCommand,
    StopLossCommand,
    TargetCommand,
    TrailCommand,
    help_text,
    parse,
)
from tests.bot.test_parser import assert_refused_naming, refused
from tests.bot.test_parser_properties import _ACCOUNT, _PERCENT, _SYMBOL, _casing, _price

D = Decimal


# --- the documented forms -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/sl RELIANCE 2450", StopLossCommand("RELIANCE", D(2450))),
        (
            "/sl nse:reliance 2450.5 on=zerodha",
            StopLossCommand("NSE:RELIANCE", D("2450.5"), False, "zerodha"),
        ),
        ("/sl INFY 2%", StopLossCommand("INFY", D(2), percent=True)),
        ("/SL@PocketDeskBot infy .5% ON=paper", StopLossCommand("INFY", D("0.5"), True, "paper")),
        ("/tp RELIANCE 2600", TargetCommand("RELIANCE", D(2600))),
        ("/tp INFY 5%", TargetCommand("INFY", D(5), percent=True)),
        ("/tp m&m 1800.1234 on=z", TargetCommand("M&M", D("1800.1234"), False, "z")),
        ("/trail RELIANCE 1.5%", TrailCommand("RELIANCE", D("1.5"), percent=True)),
        ("/trail RELIANCE 15", TrailCommand("RELIANCE", D(15))),
        ("/trail nse:nifty 0.05 on=ibkr_1", TrailCommand("NSE:NIFTY", D("0.05"), False, "ibkr_1")),
        (
            "/sl RELIANCE 2450 band=0.1% dwell=2s",
            StopLossCommand("RELIANCE", D(2450), band_pct=D("0.1"), dwell_s=2.0),
        ),
        (
            "/tp INFY 5% DWELL=0.5s on=z Band=0%",
            TargetCommand("INFY", D(5), True, "z", band_pct=D(0), dwell_s=0.5),
        ),
        ("/trail X 15 dwell=3", TrailCommand("X", D(15), dwell_s=3.0)),
        ("/trail X 1.5% band=9.9999%", TrailCommand("X", D("1.5"), True, band_pct=D("9.9999"))),
        ("/exits", ExitsCommand()),
        ("/exits RELIANCE", ExitsCommand("RELIANCE")),
        ("/exits on=zerodha", ExitsCommand(None, "zerodha")),
        ("/exits nse:infy on=zerodha", ExitsCommand("NSE:INFY", "zerodha")),
        ("/exits clear RELIANCE", ExitsCommand("RELIANCE", clear=True)),
        ("/exits clear nse:infy on=z", ExitsCommand("NSE:INFY", "z", clear=True)),
    ],
)
def test_each_exit_command_parses_in_its_documented_form(text: str, expected: Command) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("word", ["clear", "CLEAR", "Clear", "cLeAr"])
def test_clear_is_a_keyword_in_any_case(word: str) -> None:
    assert parse(f"/exits {word} INFY") == ExitsCommand("INFY", clear=True)


def test_a_symbol_named_clear_is_listed_with_its_exchange() -> None:
    """Documented limitation: a bare ``CLEAR`` is always the keyword, never the symbol."""
    assert parse("/exits NSE:CLEAR") == ExitsCommand("NSE:CLEAR")
    assert parse("/exits clear clear") == ExitsCommand("CLEAR", clear=True)
    assert "SYMBOL" in refused("/exits CLEAR").reason
    assert "NSE:CLEAR" in help_text("exits")


def test_a_bare_trail_number_is_points_and_a_percentage_is_flagged() -> None:
    assert parse("/trail X 2") == TrailCommand("X", D(2), percent=False)
    assert parse("/trail X 2%") == TrailCommand("X", D(2), percent=True)


def test_absolute_prices_are_not_checked_against_a_side_here() -> None:
    """The parser knows no position: whether 2600 is a sane stop needs its side and entry."""
    assert parse("/sl X 2600") == StopLossCommand("X", D(2600))
    assert parse("/tp X 1") == TargetCommand("X", D(1))


def test_the_spike_buffer_bounds_match_the_exits_settings() -> None:
    """A band from 0 up to but not including 10%; a dwell from 0 to 60 seconds, both included."""
    assert parse("/sl X 1 band=0%") == StopLossCommand("X", D(1), band_pct=D(0))
    assert parse("/sl X 1 band=9.9999%") == StopLossCommand("X", D(1), band_pct=D("9.9999"))
    assert "below 10%" in refused("/sl X 1 band=10%").reason
    assert parse("/sl X 1 dwell=0") == StopLossCommand("X", D(1), dwell_s=0.0)
    assert parse("/sl X 1 dwell=60s") == StopLossCommand("X", D(1), dwell_s=60.0)
    assert "at most 60s" in refused("/sl X 1 dwell=60.0001").reason


@pytest.mark.parametrize("token", ["2", "2s", "2S", "2.0s", "02", "2.", "2.0000"])
def test_a_dwell_is_seconds_with_or_without_an_s(token: str) -> None:
    assert parse(f"/trail X 1% dwell={token}") == TrailCommand("X", D(1), True, dwell_s=2.0)


def test_without_band_or_dwell_the_rule_keeps_the_accounts_buffer() -> None:
    for text in ("/sl X 2400", "/tp X 5% on=z", "/trail X 15"):
        command = parse(text)
        assert isinstance(command, StopLossCommand | TargetCommand | TrailCommand)
        assert command.band_pct is None and command.dwell_s is None


def test_a_bad_value_is_named_before_a_bad_option() -> None:
    assert "'abc'" in refused("/sl X abc band=10%").reason
    assert "'0%'" in refused("/trail X 0% dwell=99").reason


def test_help_explains_the_spike_buffer_options() -> None:
    for name in ("sl", "tp", "trail"):
        assert "[band=PCT%] [dwell=SECONDS]" in COMMANDS[name].usage
        text = help_text(name)
        assert "band= and dwell= override the account's spike buffer for this rule" in text
    assert "band=" not in help_text("exits")


def test_help_lists_and_explains_the_exit_commands() -> None:
    listing = help_text()
    for name in ("sl", "tp", "trail", "exits"):
        assert f"/{name} - {COMMANDS[name].summary}" in listing
        assert parse(f"/help {name}") == HelpCommand(name)
        assert f"Usage: {COMMANDS[name].usage}" in help_text(name)


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "bad_token"),
    [
        ("/sl RELI@NCE 2400", "RELI@NCE"),
        ("/sl RELIANCE 0", "0"),
        ("/sl RELIANCE -2400", "-2400"),
        ("/sl RELIANCE abc", "abc"),
        ("/sl RELIANCE 2,400", "2,400"),
        ("/sl RELIANCE 2400.12345", "2400.12345"),
        ("/sl RELIANCE 1234567890123", "1234567890123"),
        ("/sl RELIANCE 0%", "0%"),
        ("/sl RELIANCE 100%", "100%"),
        ("/sl RELIANCE -2%", "-2%"),
        ("/sl RELIANCE @2400", "@2400"),
        ("/sl RELIANCE on=z", "on=z"),
        ("/sl RELIANCE 2400 2300", "2300"),
        ("/sl RELIANCE 2400 on=a on=b", "on=b"),
        ("/sl RELIANCE 2400 tp=2600", "tp=2600"),
        ("/sl RELIANCE 2400 on=my/account", "on=my/account"),
        ("/tp :INFY 5%", ":INFY"),
        ("/tp INFY 150%", "150%"),
        ("/tp INFY 1e3", "1e3"),
        ("/tp INFY 5% on=", "on="),
        ("/tp INFY 5% now", "now"),
        ("/trail RELIANCE 0", "0"),
        ("/trail RELIANCE 0%", "0%"),
        ("/trail RELIANCE 100%", "100%"),
        ("/trail RELIANCE -15", "-15"),
        ("/trail RELIANCE 1.23456", "1.23456"),
        ("/trail RELIANCE 1.5%%", "1.5%%"),
        ("/trail RELIANCE fifteen", "fifteen"),
        ("/trail RELIANCE trail=1%", "trail=1%"),
        ("/trail RELIANCE 1% product=MIS", "product=MIS"),
        ("/sl X 2400 band=0.1", "band=0.1"),
        ("/sl X 2400 band=10%", "band=10%"),
        ("/sl X 2400 band=12.5%", "band=12.5%"),
        ("/sl X 2400 band=-0.1%", "band=-0.1%"),
        ("/sl X 2400 band=%", "band=%"),
        ("/sl X 2400 band=0.1%%", "band=0.1%%"),
        ("/sl X 2400 band=1e-1%", "band=1e-1%"),
        ("/sl X 2400 band=0.00001%", "band=0.00001%"),
        ("/sl X 2400 band=", "band="),
        ("/sl X 2400 band=0.1% BAND=0.2%", "BAND=0.2%"),
        ("/tp X 5% dwell=61", "dwell=61"),
        ("/tp X 5% dwell=60.0001s", "dwell=60.0001s"),
        ("/tp X 5% dwell=-1", "dwell=-1"),
        ("/tp X 5% dwell=2ms", "dwell=2ms"),
        ("/tp X 5% dwell=2ss", "dwell=2ss"),
        ("/tp X 5% dwell=s", "dwell=s"),
        ("/tp X 5% dwell=2%", "dwell=2%"),
        ("/tp X 5% dwell=inf", "dwell=inf"),
        ("/tp X 5% dwell=0.00001", "dwell=0.00001"),
        ("/tp X 5% dwell=1 dwell=2", "dwell=2"),
        ("/trail X 1% band=0.1% dwell=2 on=z wait=3", "wait=3"),
        ("/trail X 1% dwell=2 0.1%", "0.1%"),
        ("/trail X 1% on=z dwell=", "dwell="),
        ("/exits RELIANCE band=0.1%", "band=0.1%"),
        ("/exits clear RELIANCE dwell=2", "dwell=2"),
        ("/exits RELI@NCE", "RELI@NCE"),
        ("/exits RELIANCE INFY", "INFY"),
        ("/exits RELIANCE at=z", "at=z"),
        ("/exits on=z RELIANCE", "RELIANCE"),
        ("/exits clear :X", ":X"),
        ("/exits clear on=z", "on=z"),
        ("/exits clear RELIANCE INFY", "INFY"),
        ("/exits clear RELIANCE on=", "on="),
    ],
)
def test_a_bad_exit_command_is_refused_naming_the_bad_token(text: str, bad_token: str) -> None:
    assert_refused_naming(text, bad_token)


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("/sl", "SYMBOL"),
        ("/sl RELIANCE", "PRICE|PCT%"),
        ("/tp", "SYMBOL"),
        ("/tp RELIANCE", "PRICE|PCT%"),
        ("/trail", "SYMBOL"),
        ("/trail RELIANCE", "PCT%|POINTS"),
        ("/trail RELIANCE dwell=2", "PCT%|POINTS"),
        ("/sl RELIANCE band=0.1% 2400", "PRICE|PCT%"),
        ("/exits clear", "SYMBOL"),
        ("/exits Clear", "SYMBOL"),
        ("/exits clear on=z", "SYMBOL"),
    ],
)
def test_a_missing_exit_argument_is_named(text: str, missing: str) -> None:
    error = refused(text)
    assert f"Missing {missing}" in error.reason
    assert error.usage == COMMANDS[text[1:].split()[0]].usage


# --- properties ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Case:
    text: str
    expected: Command


_RULES: dict[str, type[StopLossCommand | TargetCommand | TrailCommand]] = {
    "sl": StopLossCommand,
    "tp": TargetCommand,
    "trail": TrailCommand,
}
_NOT_CLEAR = _SYMBOL.filter(lambda symbol: symbol.lower() != "clear")


def _line(draw: st.DrawFn, name: str, parts: list[str]) -> str:
    """``/name`` and its arguments as a chat client might send them: any casing and spacing."""
    word = "/" + draw(_casing(name)) + draw(st.sampled_from(["", "@PocketDeskBot"]))
    spaces = st.text(alphabet=" \t", min_size=1, max_size=3)
    text = draw(st.sampled_from(["", " ", "\t"])) + word
    for part in parts:
        text += draw(spaces) + part
    return text + draw(st.sampled_from(["", " ", "\n"]))


def _on(draw: st.DrawFn, account: str | None) -> list[str]:
    return [] if account is None else [f"{draw(_casing('on'))}={account}"]


_BAND = st.decimals(min_value=D(0), max_value=D("9.9999"), places=4)
_DWELL = st.decimals(min_value=D(0), max_value=D(60), places=4)


@st.composite
def _rule_lines(draw: st.DrawFn) -> _Case:
    """A valid /sl, /tp or /trail line: a price or points, or a percentage; maybe an account,
    a spike band and a dwell (with or without its ``s``), in any order."""
    name = draw(st.sampled_from(sorted(_RULES)))
    symbol = draw(_SYMBOL)
    percent = draw(st.booleans())
    value = draw(_PERCENT if percent else _price())
    account = draw(st.none() | _ACCOUNT)
    band = draw(st.none() | _BAND)
    dwell = draw(st.none() | _DWELL)
    options = _on(draw, account)
    if band is not None:
        options.append(f"{draw(_casing('band'))}={band:f}%")
    if dwell is not None:
        options.append(f"{draw(_casing('dwell'))}={dwell:f}{draw(st.sampled_from(['', 's', 'S']))}")
    options = draw(st.permutations(options))
    parts = [draw(_casing(symbol)), f"{value:f}%" if percent else f"{value:f}", *options]
    expected = _RULES[name](
        symbol.upper(),
        value,
        percent,
        account,
        band_pct=band,
        dwell_s=None if dwell is None else float(dwell),
    )
    return _Case(_line(draw, name, parts), expected)


@st.composite
def _exits_lines(draw: st.DrawFn) -> _Case:
    """A valid /exits line: a listing, maybe of one symbol, or a clear of one symbol."""
    clear = draw(st.booleans())
    symbol = draw(_SYMBOL) if clear else draw(st.none() | _NOT_CLEAR)
    account = draw(st.none() | _ACCOUNT)
    parts = [draw(_casing("clear"))] if clear else []
    parts += [] if symbol is None else [draw(_casing(symbol))]
    parts += _on(draw, account)
    expected = ExitsCommand(None if symbol is None else symbol.upper(), account, clear)
    return _Case(_line(draw, "exits", parts), expected)


@settings(max_examples=300, deadline=None)
@given(_rule_lines() | _exits_lines())
def test_any_valid_exit_command_line_parses_to_the_fields_it_spells(case: _Case) -> None:
    assert parse(case.text) == case.expected


_VALUE_TOKENS = st.one_of(
    _PERCENT.map(lambda value: f"{value:f}%"),
    _price().map(lambda value: f"{value:f}"),
    st.text(alphabet="0123456789.-%e,", min_size=1, max_size=18),
    st.sampled_from(["0", "0%", "100%", "99.9999%", "99.99999%", ".5", "5.", "0000000000001"]),
    st.sampled_from(["123456789012", "1234567890123", "000000000000001.0000", "1.00000"]),
)


def _rule_value(text: str) -> tuple[Decimal, bool] | None:
    """The value and percent flag of an /sl, /tp or /trail line, or None when it is refused."""
    try:
        command = parse(text)
    except CommandError:
        return None
    assert isinstance(command, StopLossCommand | TargetCommand | TrailCommand)
    return command.value, command.percent


def _order_value(text: str, key: str) -> tuple[Decimal | None, bool] | None:
    """What the ``key`` option (``@`` for the price) of a /buy line parses to, or None."""
    try:
        command = parse(text)
    except CommandError:
        return None
    assert isinstance(command, PlaceCommand)
    exits = command.exits
    return {
        "sl": (exits.stop_loss, exits.stop_loss_pct),
        "tp": (exits.target, exits.target_pct),
        "trail": (exits.trail_pct, True),
        "@": (command.price, False),
    }[key]


@settings(max_examples=300, deadline=None)
@given(_VALUE_TOKENS)
def test_exit_values_obey_the_same_limits_as_the_order_options(token: str) -> None:
    """``/sl X v`` parses exactly when ``/buy X 1 sl=v`` does, to the same value; and so on."""
    assert _rule_value(f"/sl X {token}") == _order_value(f"/buy X 1 sl={token}", "sl")
    assert _rule_value(f"/tp X {token}") == _order_value(f"/buy X 1 tp={token}", "tp")
    # A trail is a percentage like trail=, or a number of points checked like a price.
    if token.endswith("%"):
        expected = _order_value(f"/buy X 1 trail={token}", "trail")
    else:
        expected = _order_value(f"/buy X 1 @{token}", "@")
    assert _rule_value(f"/trail X {token}") == expected
