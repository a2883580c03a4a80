"""The command list and every help text, in plain text (no HTML or Markdown).

Front-ends register ``COMMANDS`` with their chat client (Telegram's ``setMyCommands``) and show
``help_text()``; the parser quotes ``usage`` lines in its errors, so the grammar is written once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command as users see it: its grammar, a one-line summary and a working example."""

    name: str  # without the slash: "buy"
    usage: str  # one line: "/buy SYMBOL QTY [@PRICE] ..."
    summary: str  # one line, fit for Telegram's command menu (at most 256 characters)
    trades: bool  # True when the command changes orders or positions
    example: str  # a line that parses
    notes: tuple[str, ...] = ()  # extra lines shown by /help COMMAND


_PLACE_NOTES = (
    "QTY is a whole number. Without @PRICE the order is a market order.",
    "sl= and tp= take a price (2400.50) or a percentage of the entry (2%).",
    "trail= is a trailing stop, always a percentage (1.5%).",
    "trigger= makes a stop order: stop-limit with @PRICE, stop-market without.",
    "on= picks an account; product= is MIS (intraday), CNC (delivery) or NRML.",
    "Options come in any order; prices take up to 4 decimals.",
)

_RULE_NOTE = "on= picks an account; prices take up to 4 decimals."
_BUFFER_NOTES = (
    "band= and dwell= override the account's spike buffer for this rule.",
    "band=PCT% (0 to below 10%, like 0.1%) is how far past the trigger a price must go;"
    " dwell=SECONDS (0 to 60, like 2 or 0.5s) is how long it must stay there.",
    "Options come in any order.",
)
_BUFFER_USAGE = "[on=ACCOUNT] [band=PCT%] [dwell=SECONDS]"

_SPECS = (
    CommandSpec(
        name="help",
        usage="/help [COMMAND]",
        summary="List the commands, or explain one",
        trades=False,
        example="/help buy",
    ),
    CommandSpec(
        name="accounts",
        usage="/accounts",
        summary="List the broker accounts and their state",
        trades=False,
        example="/accounts",
    ),
    CommandSpec(
        name="status",
        usage="/status",
        summary="Show the desk's health: connections, sync and pending orders",
        trades=False,
        example="/status",
    ),
    CommandSpec(
        name="quote",
        usage="/quote SYMBOL [on=ACCOUNT]",
        summary="Show the latest price of an instrument",
        trades=False,
        example="/quote NSE:RELIANCE",
    ),
    CommandSpec(
        name="orders",
        usage="/orders [on=ACCOUNT]",
        summary="List today's orders",
        trades=False,
        example="/orders on=zerodha",
    ),
    CommandSpec(
        name="positions",
        usage="/positions [on=ACCOUNT]",
        summary="List open positions with their profit and loss",
        trades=False,
        example="/positions",
    ),
    CommandSpec(
        name="buy",
        usage=(
            "/buy SYMBOL QTY [@PRICE] [sl=PRICE|PCT%] [tp=PRICE|PCT%] [trail=PCT%]"
            " [trigger=PRICE] [on=ACCOUNT] [product=MIS|CNC|NRML]"
        ),
        summary="Buy an instrument, with optional stop-loss, target and trailing stop",
        trades=True,
        example="/buy RELIANCE 10 @2500 sl=2450 tp=2600",
        notes=_PLACE_NOTES,
    ),
    CommandSpec(
        name="sell",
        usage=(
            "/sell SYMBOL QTY [@PRICE] [sl=PRICE|PCT%] [tp=PRICE|PCT%] [trail=PCT%]"
            " [trigger=PRICE] [on=ACCOUNT] [product=MIS|CNC|NRML]"
        ),
        summary="Sell an instrument, with optional stop-loss, target and trailing stop",
        trades=True,
        example="/sell INFY 5 @1500.50 sl=2% product=MIS",
        notes=_PLACE_NOTES,
    ),
    CommandSpec(
        name="modify",
        usage="/modify ORDER [price=PRICE] [qty=QTY] [trigger=PRICE]",
        summary="Change the price, quantity or trigger of an open order",
        trades=True,
        example="/modify A1B2 price=2510",
        notes=(
            "ORDER is the order id the desk showed.",
            "Give at least one of price=, qty= and trigger=.",
        ),
    ),
    CommandSpec(
        name="cancel",
        usage="/cancel ORDER",
        summary="Cancel an open order",
        trades=True,
        example="/cancel A1B2",
        notes=("ORDER is the order id the desk showed.",),
    ),
    CommandSpec(
        name="exit",
        usage="/exit SYMBOL [on=ACCOUNT]",
        summary="Close the whole position in an instrument at market",
        trades=True,
        example="/exit RELIANCE",
    ),
    CommandSpec(
        name="sl",
        usage=f"/sl SYMBOL PRICE|PCT% {_BUFFER_USAGE}",
        summary="Set or move the stop-loss of an open position",
        trades=True,
        example="/sl RELIANCE 2450",
        notes=(
            "PRICE is the stop price (2450.50); PCT% is a percentage of the entry (2%).",
            "It replaces the position's stop-loss, if it has one.",
            _RULE_NOTE,
            *_BUFFER_NOTES,
        ),
    ),
    CommandSpec(
        name="tp",
        usage=f"/tp SYMBOL PRICE|PCT% {_BUFFER_USAGE}",
        summary="Set or move the target of an open position",
        trades=True,
        example="/tp INFY 5%",
        notes=(
            "PRICE is the target price (2600); PCT% is a percentage of the entry (5%).",
            "It replaces the position's target, if it has one.",
            _RULE_NOTE,
            *_BUFFER_NOTES,
        ),
    ),
    CommandSpec(
        name="trail",
        usage=f"/trail SYMBOL PCT%|POINTS {_BUFFER_USAGE}",
        summary="Set a trailing stop on an open position",
        trades=True,
        example="/trail RELIANCE 1.5%",
        notes=(
            "The stop follows the best price, PCT% (1.5%) or POINTS (a bare number: 15) behind.",
            "It replaces the position's trailing stop, if it has one.",
            _RULE_NOTE,
            *_BUFFER_NOTES,
        ),
    ),
    CommandSpec(
        name="exits",
        usage="/exits [SYMBOL] [on=ACCOUNT] or /exits clear SYMBOL [on=ACCOUNT]",
        summary="Show the exit rules of open positions, or clear those of one",
        trades=True,
        example="/exits RELIANCE",
        notes=(
            "Without SYMBOL it lists the stop-loss, target and trailing stop of every position.",
            "clear SYMBOL removes all three; the position itself stays open.",
            "clear is always the keyword: list a symbol named CLEAR as /exits NSE:CLEAR.",
        ),
    ),
    CommandSpec(
        name="login",
        usage="/login ACCOUNT [ADDRESS|REQUEST_TOKEN]",
        summary="Log in to a broker that needs a daily login",
        trades=True,
        example="/login zerodha",
        notes=(
            "Without more, it answers with the broker's login page.",
            "After logging in there, send the address your browser landed on (or just its",
            "request_token) after the account name: /login zerodha https://...",
        ),
    ),
    CommandSpec(
        name="pnl",
        usage="/pnl [today|week] [on=ACCOUNT]",
        summary="Show profit and loss per account, with a chart",
        trades=False,
        example="/pnl week",
        notes=(
            "today: realised and unrealised P&L since the day began, the equity curve and a",
            "bar per position; week: the last seven days, one bar per day.",
        ),
    ),
    CommandSpec(
        name="halt",
        usage="/halt [ACCOUNT|all]",
        summary="Kill switch: stop new entries (exits and stops keep working)",
        trades=True,
        example="/halt",
        notes=(
            "Without ACCOUNT every account is halted. Open orders stay; armed stops still fire.",
            "It lasts until /resume, restarts included.",
        ),
    ),
    CommandSpec(
        name="resume",
        usage="/resume [ACCOUNT|all]",
        summary="Lift a /halt",
        trades=True,
        example="/resume zerodha",
        notes=(
            "Without ACCOUNT every halt is lifted. The daily loss limit is not: it",
            "holds until the next trading day.",
        ),
    ),
    CommandSpec(
        name="panic",
        usage="/panic",
        summary="Cancel every open order and close every position on every account",
        trades=True,
        example="/panic",
        notes=(
            "Asks twice before doing anything. Then it halts every account, cancels every",
            "open order, closes every position at market and reports per account what",
            "worked and what did not.",
        ),
    ),
    CommandSpec(
        name="audit",
        usage="/audit [N]",
        summary="Show the latest entries of the audit log (owners only)",
        trades=True,
        example="/audit 50",
        notes=("N is 1 to 200; 20 without it.",),
    ),
)

COMMANDS: dict[str, CommandSpec] = {spec.name: spec for spec in _SPECS}

# Names chat clients send that are not in the menu; Telegram sends /start when a chat opens.
ALIASES: dict[str, str] = {"start": "help"}


def help_text(name: str | None = None) -> str:
    """Plain-text help: the command list, or one command's usage, notes and example.

    ``name`` must be a key of ``COMMANDS`` (the parser checks ``/help COMMAND`` before this runs).
    """
    if name is None:
        lines = ["Commands:"]
        lines += [f"/{spec.name} - {spec.summary}" for spec in _SPECS]
        lines.append("Send /help COMMAND for details, like /help buy.")
        return "\n".join(lines)
    spec = COMMANDS[name]
    lines = [spec.summary + ".", f"Usage: {spec.usage}", *spec.notes, f"Example: {spec.example}"]
    return "\n".join(lines)
