"""The chat command grammar: what parses to which command, and what is refused with which reason."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from bot.commands import (
    COMMANDS,
    AccountsCommand,
    AuditCommand,
    CancelCommand,
    CommandError,
    ExitCommand,
    ExitsCommand,
    HaltCommand,
    HelpCommand,
    LoginCommand,
    ModifyCommand,
    OrdersCommand,
    PanicCommand,
    PlaceCommand,
    PnlCommand,
    PositionsCommand,
    QuoteCommand,
    ResumeCommand,
    StatusCommand,
    StopLossCommand,
    TargetCommand,
    TrailCommand,
    help_text,
    parse,
)
from core.domain.errors import UserError
from core.domain.models import ExitSpec, OrderType, Product, Side

D = Decimal


def refused(text: str) -> CommandError:
    """Parse a line that must be refused; return the error."""
    with pytest.raises(CommandError) as caught:
        parse(text)
    return caught.value


# --- read-only commands -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/help", HelpCommand()),
        ("/help buy", HelpCommand("buy")),
        ("/help /BUY", HelpCommand("buy")),
        ("/start", HelpCommand()),
        ("/accounts", AccountsCommand()),
        ("/status", StatusCommand()),
        ("/orders", OrdersCommand()),
        ("/orders on=zerodha-main", OrdersCommand("zerodha-main")),
        ("/positions", PositionsCommand()),
        ("/positions ON=ibkr_1", PositionsCommand("ibkr_1")),
        ("/quote reliance", QuoteCommand("RELIANCE")),
        ("/quote nse:m&m on=z", QuoteCommand("NSE:M&M", "z")),
        ("/exit RELIANCE", ExitCommand("RELIANCE")),
        ("/exit nse:bajaj-auto on=paper", ExitCommand("NSE:BAJAJ-AUTO", "paper")),
        ("/cancel 240501000123", CancelCommand("240501000123")),
        ("/cancel pd-7f3a_B", CancelCommand("pd-7f3a_B")),
    ],
)
def test_each_command_parses_in_its_documented_form(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "  /status  ",
        "/Status",
        "/STATUS",
        "/status@PocketDeskBot",
        "/Status@pocketdesk_bot   ",
        "\t/status\n",
    ],
)
def test_chat_client_noise_around_the_command_word_is_ignored(text: str) -> None:
    assert parse(text) == StatusCommand()


def test_account_names_keep_their_case() -> None:
    assert parse("/orders on=Zerodha") == OrdersCommand("Zerodha")


# --- placing orders -----------------------------------------------------------------------------


def test_a_bare_buy_is_a_market_order_with_no_exits() -> None:
    assert parse("/buy RELIANCE 10") == PlaceCommand(Side.BUY, "RELIANCE", 10)


def test_at_price_makes_a_limit_order_with_or_without_a_space() -> None:
    expected = PlaceCommand(Side.SELL, "INFY", 5, OrderType.LIMIT, price=D("1500.25"))
    assert parse("/sell INFY 5 @1500.25") == expected
    assert parse("/sell INFY 5 @ 1500.25") == expected
    assert parse("/sell   infy   5   @   1500.25") == expected


def test_a_trigger_with_a_price_is_a_stop_limit_order() -> None:
    command = parse("/buy RELIANCE 10 @2510 trigger=2505")
    assert command == PlaceCommand(
        Side.BUY, "RELIANCE", 10, OrderType.SL, price=D(2510), trigger=D(2505)
    )


def test_a_trigger_without_a_price_is_a_stop_market_order() -> None:
    command = parse("/sell RELIANCE 10 trigger=2400")
    assert command == PlaceCommand(Side.SELL, "RELIANCE", 10, OrderType.SL_M, trigger=D(2400))


def test_every_option_together() -> None:
    command = parse("/buy nse:reliance 10 @2500 sl=2450 tp=5% trail=1.5% on=zerodha product=mis")
    assert command == PlaceCommand(
        side=Side.BUY,
        symbol="NSE:RELIANCE",
        quantity=10,
        order_type=OrderType.LIMIT,
        price=D(2500),
        exits=ExitSpec(stop_loss=D(2450), target=D(5), target_pct=True, trail_pct=D("1.5")),
        account="zerodha",
        product=Product.MIS,
    )


def test_options_come_in_any_order_and_keys_in_any_case() -> None:
    one = parse("/buy X 1 @100 sl=95 tp=110 on=a product=CNC")
    other = parse("/BUY x 1 Product=cnc ON=a TP=110 @ 100 Sl=95")
    assert one == other


def test_percent_exits_are_flagged_as_percentages() -> None:
    command = parse("/sell X 1 sl=2% tp=3.25%")
    assert isinstance(command, PlaceCommand)
    assert command.exits == ExitSpec(
        stop_loss=D(2), stop_loss_pct=True, target=D("3.25"), target_pct=True
    )


def test_prices_keep_up_to_four_decimals() -> None:
    command = parse("/buy AAPL 3 @187.1234")
    assert isinstance(command, PlaceCommand)
    assert command.price == D("187.1234")


def test_percent_exits_are_not_compared_with_the_price() -> None:
    assert isinstance(parse("/buy X 1 @100 sl=99% tp=1%"), PlaceCommand)


def test_absolute_exits_on_the_right_side_of_a_sell() -> None:
    command = parse("/sell X 1 @100 sl=105 tp=90")
    assert isinstance(command, PlaceCommand)
    assert (command.exits.stop_loss, command.exits.target) == (D(105), D(90))


# --- modify -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/modify A1 price=2510", ModifyCommand("A1", price=D(2510))),
        ("/modify A1 qty=20", ModifyCommand("A1", quantity=20)),
        ("/modify A1 trigger=2490.5", ModifyCommand("A1", trigger=D("2490.5"))),
        (
            "/modify A1 TRIGGER=2490 qty=5 Price=2495",
            ModifyCommand("A1", price=D(2495), quantity=5, trigger=D(2490)),
        ),
    ],
)
def test_modify_changes_only_what_is_given(text: str, expected: ModifyCommand) -> None:
    assert parse(text) == expected


# --- refusals -----------------------------------------------------------------------------------


def test_a_line_without_a_slash_is_refused_with_a_pointer_to_help() -> None:
    for text in ("buy RELIANCE 10", "", "   ", "hello"):
        assert str(refused(text)) == "Commands start with /; try /help"


def test_an_unknown_command_is_named_and_points_to_help() -> None:
    error = refused("/bye RELIANCE 10")
    assert "'/bye'" in str(error)
    assert "/help" in str(error)


@pytest.mark.parametrize(
    ("text", "bad_token"),
    [
        ("/buy RELIANCE 0", "0"),
        ("/buy RELIANCE -5", "-5"),
        ("/buy RELIANCE 2.5", "2.5"),
        ("/buy RELIANCE ten", "ten"),
        ("/buy RELIANCE 1e3", "1e3"),
        ("/buy RELIANCE 1000000000", "1000000000"),
        ("/buy RELI@NCE 10", "RELI@NCE"),
        ("/buy NSE: 10", "NSE:"),
        ("/buy :RELIANCE 10", ":RELIANCE"),
        ("/buy ＲＥＬＩＡＮＣＥ 10", "ＲＥＬＩＡＮＣＥ"),
        ("/buy RELIANCE 10 @0", "@0"),
        ("/buy RELIANCE 10 @-2500", "@-2500"),
        ("/buy RELIANCE 10 @abc", "@abc"),
        ("/buy RELIANCE 10 @2500.12345", "@2500.12345"),
        ("/buy RELIANCE 10 @2,500", "@2,500"),
        ("/buy RELIANCE 10 @1234567890123", "@1234567890123"),
        ("/buy RELIANCE 10 sl=0%", "sl=0%"),
        ("/buy RELIANCE 10 sl=100%", "sl=100%"),
        ("/buy RELIANCE 10 tp=-3%", "tp=-3%"),
        ("/buy RELIANCE 10 trail=2", "trail=2"),
        ("/buy RELIANCE 10 trail=150%", "trail=150%"),
        ("/buy RELIANCE 10 trigger=5%", "trigger=5%"),
        ("/buy RELIANCE 10 product=BO", "product=BO"),
        ("/buy RELIANCE 10 on=my/account", "on=my/account"),
        ("/buy RELIANCE 10 on=" + "a" * 33, "on=" + "a" * 33),
        ("/buy RELIANCE 10 colour=red", "colour=red"),
        ("/buy RELIANCE 10 price=2500", "price=2500"),
        ("/buy RELIANCE 10 please", "please"),
        ("/buy RELIANCE 10 sl=", "sl="),
        ("/buy RELIANCE 10 @", "@"),
        ("/buy RELIANCE 10 =5", "=5"),
        ("/buy RELIANCE 10 sl = 2400", "sl"),
        ("/buy RELIANCE 10 sl=2400 SL=2300", "SL=2300"),
        ("/buy RELIANCE 10 @2500 @2400", "@2400"),
        ("/buy RELIANCE 10 @2500 sl=2600", "sl=2600"),
        ("/buy RELIANCE 10 @2500 sl=2500", "sl=2500"),
        ("/buy RELIANCE 10 @2500 tp=2400", "tp=2400"),
        ("/sell RELIANCE 10 @2500 sl=2400", "sl=2400"),
        ("/sell RELIANCE 10 @2500 tp=2600", "tp=2600"),
        ("/buy RELIANCE 10 sl=2600 tp=2500", "sl=2600"),
        ("/buy RELIANCE 10 trigger=2600 sl=2700", "sl=2700"),
        ("/buy RELIANCE 10 @2500 trigger=2600", "trigger=2600"),
        ("/sell RELIANCE 10 @2500 trigger=2400", "trigger=2400"),
    ],
)
def test_a_bad_order_is_refused_naming_the_bad_token(text: str, bad_token: str) -> None:
    assert_refused_naming(text, bad_token)


def assert_refused_naming(text: str, bad_token: str) -> None:
    """The line is refused with a reason quoting ``bad_token`` and the command's usage."""
    error = refused(text)
    assert f"'{bad_token}'" in error.reason
    assert error.usage == COMMANDS[text.split()[0][1:]].usage
    assert str(error) == f"{error.reason}\nUsage: {error.usage}"


@pytest.mark.parametrize(
    ("text", "bad_token"),
    [
        ("/status now", "now"),
        ("/accounts all", "all"),
        ("/orders zerodha", "zerodha"),
        ("/orders on=a on=b", "on=b"),
        ("/positions at=a", "at=a"),
        ("/quote NSE:REL IANCE", "IANCE"),
        ("/quote RELIANCE 10", "10"),
        ("/exit RELIANCE now", "now"),
        ("/exit RELIANCE on=", "on="),
        ("/cancel A1 B2", "B2"),
        ("/cancel order#1", "order#1"),
        ("/cancel " + "a" * 41, "a" * 37 + "..."),
        ("/modify A1 @2500", "@2500"),
        ("/modify A1 price=0", "price=0"),
        ("/modify A1 qty=1.5", "qty=1.5"),
        ("/modify A1 qty=1 qty=2", "qty=2"),
        ("/modify A1 sl=5", "sl=5"),
        ("/help nothing", "nothing"),
        ("/help buy sell", "sell"),
    ],
)
def test_other_bad_arguments_are_refused_naming_the_bad_token(text: str, bad_token: str) -> None:
    error = refused(text)
    assert f"'{bad_token}'" in error.reason
    assert error.usage == COMMANDS[text.split()[0][1:]].usage


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("/buy", "SYMBOL"),
        ("/sell RELIANCE", "QTY"),
        ("/quote", "SYMBOL"),
        ("/exit", "SYMBOL"),
        ("/cancel", "ORDER"),
        ("/modify", "ORDER"),
        ("/modify A1", "price="),
    ],
)
def test_a_missing_argument_is_named(text: str, missing: str) -> None:
    error = refused(text)
    assert missing in error.reason
    assert error.usage == COMMANDS[text[1:].split()[0]].usage


def test_command_errors_are_user_errors_and_one_reason_line() -> None:
    error = refused("/buy RELIANCE 10 sl=\x00")
    assert isinstance(error, UserError)
    assert "\n" not in error.reason
    assert error.reason.isprintable()


# --- the command list and help texts ------------------------------------------------------------


def test_the_command_list_fits_telegram_set_my_commands() -> None:
    for name, spec in COMMANDS.items():
        assert spec.name == name
        assert re.fullmatch(r"[a-z0-9_]{1,32}", name)
        assert 3 <= len(spec.summary) <= 256
        assert spec.usage.startswith(f"/{name}")


def test_only_commands_that_change_orders_or_positions_are_marked_as_trading() -> None:
    trading = {name for name, spec in COMMANDS.items() if spec.trades}
    # /exits lists, but /exits clear removes exit rules: the command as a whole is trading.
    # /login changes which session an account trades with: owners only.
    # The kill switch acts on trading; the audit log is for owners' eyes.
    assert trading == {
        "buy", "sell", "cancel", "modify", "exit", "sl", "tp", "trail", "exits", "login",
        "halt", "resume", "panic", "audit",
    }  # fmt: skip


def test_every_example_in_the_help_parses_to_its_command() -> None:
    kinds = {
        "help": HelpCommand,
        "accounts": AccountsCommand,
        "status": StatusCommand,
        "quote": QuoteCommand,
        "orders": OrdersCommand,
        "positions": PositionsCommand,
        "buy": PlaceCommand,
        "sell": PlaceCommand,
        "modify": ModifyCommand,
        "cancel": CancelCommand,
        "exit": ExitCommand,
        "sl": StopLossCommand,
        "tp": TargetCommand,
        "trail": TrailCommand,
        "exits": ExitsCommand,
        "login": LoginCommand,
        "pnl": PnlCommand,
        "halt": HaltCommand,
        "resume": ResumeCommand,
        "panic": PanicCommand,
        "audit": AuditCommand,
    }
    assert kinds.keys() == COMMANDS.keys()
    for name, spec in COMMANDS.items():
        assert isinstance(parse(spec.example), kinds[name]), spec.example


def test_help_texts_are_plain_text_with_usage_and_example() -> None:
    listing = help_text()
    assert all(f"/{name} - " in listing for name in COMMANDS)
    for name, spec in COMMANDS.items():
        text = help_text(name)
        assert f"Usage: {spec.usage}" in text
        assert f"Example: {spec.example}" in text
    for text in [listing, *(help_text(name) for name in COMMANDS)]:
        assert not re.search(r"[<>*`]", text), text
        assert all(line.strip() and line.isprintable() for line in text.splitlines())


def test_login_takes_an_account_and_optionally_what_the_broker_sent_back() -> None:
    assert parse("/login zerodha") == LoginCommand("zerodha")
    url = "https://example.com/cb?action=login&type=login&status=success&request_token=AbC12"
    assert parse(f"/login zerodha {url}") == LoginCommand("zerodha", url)  # case kept
    assert parse("/login zerodha AbC12xyz") == LoginCommand("zerodha", "AbC12xyz")
    for bad in ("/login", "/login zerodha a b", "/login bad!name", "/login zerodha <script>"):
        with pytest.raises(CommandError):
            parse(bad)
