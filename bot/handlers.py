"""Front-end-agnostic handlers: text or a button press in, replies out.

Both the console and Telegram call ``handle_text`` and ``handle_button``; the gate on who may do
what (owners trade, viewers read) is applied here once for every front-end.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.chart import render_pnl_chart
from bot.choices import PendingChoices
from bot.commands import (
    COMMANDS,
    AccountsCommand,
    AuditCommand,
    CancelCommand,
    Command,
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
from bot.render import (
    CANCEL_PREFIX,
    CHOOSE_PREFIX,
    CONFIRM_PREFIX,
    DISMISS_PREFIX,
    EXIT_PREFIX,
    EXITS_HINT_PREFIX,
    MODIFY_PREFIX,
    REFRESH_ORDERS,
    REFRESH_POSITIONS,
    render_accounts,
    render_error,
    render_orders,
    render_positions,
    render_quote,
    render_result,
    render_status,
    render_ticket,
)
from bot.render_exits import render_cleared, render_rule_set, render_rules
from bot.render_pnl import render_pnl
from bot.render_safety import (
    render_audit,
    render_halted,
    render_panic_report,
    render_panic_ticket,
    render_resumed,
)
from bot.replies import Button, Reply, esc
from core.access.audit import redact_command
from core.confirmations import ActionKind
from core.desk import Desk, OrderInput, Ticket
from core.domain.errors import OrderDenied, PocketdeskError
from core.domain.exit_rules import RuleKind
from core.domain.models import InstrumentId
from core.resolve import AmbiguousAccount
from core.safety import PanicReport

log = logging.getLogger(__name__)

CHOICES = PendingChoices()  # commands waiting for an account to be picked


@dataclass(frozen=True, slots=True)
class UserContext:
    """Who is talking, where, and whether they may move money."""

    user_id: int
    chat_id: int
    can_trade: bool = True


async def handle_text(desk: Desk, user: UserContext, text: str) -> list[Reply]:
    """Run one command line; errors come back as replies, never as exceptions."""
    try:
        await _audit(desk, user, "command", redact_command(text))
        command = parse(text)
        return await _dispatch(desk, user, command)
    except CommandError as exc:
        return [render_error(str(exc))]
    except AmbiguousAccount as exc:
        return [_account_picker(user, text, exc)]
    except OrderDenied as exc:
        await _audit(desk, user, f"denied ({exc.rule or 'check'})", str(exc))
        return [render_error(str(exc))]
    except PocketdeskError as exc:
        return [render_error(str(exc))]
    except Exception:
        log.exception("command failed: %r", text)
        return [render_error("Something went wrong; nothing was done. The log has details.")]


def _account_picker(user: UserContext, text: str, exc: AmbiguousAccount) -> Reply:
    choice = CHOICES.add(user.user_id, text)
    rows = tuple((Button(name, f"{CHOOSE_PREFIX}{choice}:{name}"),) for name in exc.accounts)
    return Reply(f"Which account? {esc(str(exc))}", rows)


async def handle_button(desk: Desk, user: UserContext, data: str) -> list[Reply]:
    """Run one button press: tickets, the account picker, position and order buttons."""
    try:
        await _audit(desk, user, "button", data)
        return await _press(desk, user, data)
    except OrderDenied as exc:
        await _audit(desk, user, f"denied ({exc.rule or 'check'})", str(exc))
        return [render_error(str(exc))]
    except PocketdeskError as exc:
        return [render_error(str(exc))]
    except Exception:
        log.exception("button failed: %r", data)
        return [render_error("Something went wrong; nothing more was done. The log has details.")]


async def _audit(desk: Desk, user: UserContext, action: str, detail: str) -> None:
    try:
        safety = desk.safety()
    except PocketdeskError:
        return  # a desk without the audit log (some tests build one bare)
    await safety.record(user.user_id, action, detail)


def _ticket(ticket: Ticket) -> Reply:
    if ticket.kind in (ActionKind.PANIC_ARM, ActionKind.PANIC):
        return render_panic_ticket(ticket)
    return render_ticket(ticket)


async def _press(desk: Desk, user: UserContext, data: str) -> list[Reply]:
    if data == REFRESH_POSITIONS:
        return [render_positions(await desk.positions(), edit=True)]
    if data == REFRESH_ORDERS:
        return [render_orders(await desk.orders(), edit=True)]
    if data.startswith(EXITS_HINT_PREFIX):
        account, symbol = data[len(EXITS_HINT_PREFIX) :].split(":", 1)
        rules = await desk.exit_rules().list_rules(account, InstrumentId.parse(symbol))
        hint = (
            f"Set exits on {symbol}: /sl {symbol} PRICE|PCT%  /tp {symbol} PRICE|PCT%  "
            f"/trail {symbol} PCT%|POINTS  (add on={account})"
        )
        return [Reply(esc(hint)), render_rules(rules)]
    if data.startswith(MODIFY_PREFIX):
        ref = data[len(MODIFY_PREFIX) :][-6:]
        return [Reply(esc(f"Send /modify {ref} price=PRICE [qty=QTY] [trigger=PRICE]"))]
    if data.startswith(CHOOSE_PREFIX):
        choice, _, account = data[len(CHOOSE_PREFIX) :].partition(":")
        text = CHOICES.take(choice, user.user_id)
        if text is None:
            return [render_error("This choice has expired. Send the command again.")]
        return await handle_text(desk, user, f"{text} on={account}")
    if not user.can_trade:
        return [render_error("Only an owner can do that. Nothing was done.")]
    if data.startswith(EXIT_PREFIX):
        account, symbol = data[len(EXIT_PREFIX) :].split(":", 1)
        return [render_ticket(await desk.preview_exit(user.user_id, user.chat_id, symbol, account))]
    if data.startswith(CANCEL_PREFIX):
        ticket = await desk.preview_cancel(user.user_id, user.chat_id, data[len(CANCEL_PREFIX) :])
        return [render_ticket(ticket)]
    return await _decide(desk, user, data)


async def _decide(desk: Desk, user: UserContext, data: str) -> list[Reply]:
    """Confirm or cancel a ticket."""
    if data.startswith(CONFIRM_PREFIX):
        ticket_id = data[len(CONFIRM_PREFIX) :]
        result = await desk.confirm(ticket_id, user.user_id)
        if isinstance(result, Ticket):
            return [_ticket(result)]
        if isinstance(result, PanicReport):
            return [render_panic_report(result, ticket_id)]
        return [render_result(result, ticket_id)]
    if data.startswith(DISMISS_PREFIX):
        ticket_id = data[len(DISMISS_PREFIX) :]
        await desk.dismiss(ticket_id, user.user_id)
        return [Reply("Cancelled. Nothing was sent.", ticket=ticket_id, edit=True)]
    return [render_error("This button is not known. Nothing was done.")]


_RULE_KINDS = {
    StopLossCommand: RuleKind.STOP_LOSS,
    TargetCommand: RuleKind.TARGET,
    TrailCommand: RuleKind.TRAILING,
}


async def _login(desk: Desk, command: LoginCommand) -> Reply:
    if command.response is None:
        url = desk.login_link(command.account)
        text = (
            f"Log in to <b>{esc(command.account)}</b> with the button, then send the address "
            f"your browser lands on: <code>/login {esc(command.account)} ADDRESS</code>"
        )
        if desk.login_returns_by_itself:
            text = (
                f"Log in to <b>{esc(command.account)}</b> with the button; pocketdesk finishes "
                "the login when your browser comes back (or send the address it lands on: "
                f"<code>/login {esc(command.account)} ADDRESS</code>)"
            )
        return Reply(text, ((Button(f"Log in to {command.account}", url=url),),))
    user_id = await desk.complete_login(command.account, command.response)
    return Reply(
        f"Logged in to <b>{esc(command.account)}</b> as {esc(user_id)}. "
        "Trading opens once the broker's orders and positions are synced."
    )


async def _set_exit(desk: Desk, command: StopLossCommand | TargetCommand | TrailCommand) -> Reply:
    broker, instrument = await desk.resolve(command.symbol, command.account)
    rule = await desk.exit_rules().set_rule(
        broker.account,
        instrument,
        _RULE_KINDS[type(command)],
        command.value,
        command.percent,
        band_pct=command.band_pct,
        dwell_s=command.dwell_s,
    )
    return render_rule_set(rule)


async def _list_exits(desk: Desk, command: ExitsCommand) -> Reply:
    account = instrument = None
    if command.symbol is not None:
        broker, instrument = await desk.resolve(command.symbol, command.account)
        account = broker.account
    elif command.account is not None:
        account = desk.registry.get(command.account).account
    return render_rules(await desk.exit_rules().list_rules(account, instrument))


async def _pnl(desk: Desk, command: PnlCommand) -> Reply:
    """The numbers with a chart, drawn in a worker thread (it takes tens of milliseconds)."""
    report = await desk.pnl(command.period, command.account)
    try:
        chart: bytes | None = await asyncio.to_thread(render_pnl_chart, report)
    except Exception:
        log.exception("the P&L chart could not be drawn; sending the numbers alone")
        chart = None
    return render_pnl(report, chart)


async def _dispatch(desk: Desk, user: UserContext, command: Command) -> list[Reply]:
    if isinstance(command, HelpCommand):
        return [Reply(esc(help_text(command.topic)))]
    if isinstance(command, AccountsCommand):
        return [render_accounts(await desk.accounts())]
    if isinstance(command, StatusCommand):
        return [render_status(await desk.status())]
    if isinstance(command, OrdersCommand):
        return [render_orders(await desk.orders(command.account))]
    if isinstance(command, PositionsCommand):
        return [render_positions(await desk.positions(command.account))]
    if isinstance(command, QuoteCommand):
        return [render_quote(await desk.quote(command.symbol, command.account))]
    if isinstance(command, PnlCommand):
        return [await _pnl(desk, command)]
    if isinstance(command, ExitsCommand) and not command.clear:
        return [await _list_exits(desk, command)]
    if not user.can_trade:
        return [render_error("You can view, not trade. Nothing was done.")]
    if isinstance(command, HaltCommand):
        return [render_halted(await desk.safety().halt(user.user_id, command.account))]
    if isinstance(command, ResumeCommand):
        return [render_resumed(await desk.safety().resume(user.user_id, command.account))]
    if isinstance(command, PanicCommand):
        return [_ticket(await desk.safety().panic_ticket(user.user_id, user.chat_id))]
    if isinstance(command, AuditCommand):
        return [render_audit(await desk.safety().audit_entries(command.count))]
    if isinstance(command, LoginCommand):
        return [await _login(desk, command)]
    if isinstance(command, StopLossCommand | TargetCommand | TrailCommand):
        return [await _set_exit(desk, command)]
    if isinstance(command, ExitsCommand):
        broker, instrument = await desk.resolve(command.symbol or "", command.account)
        cleared = await desk.exit_rules().clear_rules(broker.account, instrument)
        return [render_cleared(cleared, str(instrument))]
    if isinstance(command, PlaceCommand):
        order = OrderInput(
            side=command.side,
            symbol=command.symbol,
            quantity=command.quantity,
            order_type=command.order_type,
            price=command.price,
            trigger_price=command.trigger,
            exits=command.exits,
            account=command.account,
            product=command.product,
        )
        return [render_ticket(await desk.preview_order(user.user_id, user.chat_id, order))]
    if isinstance(command, CancelCommand):
        ticket = await desk.preview_cancel(user.user_id, user.chat_id, command.order_ref)
        return [render_ticket(ticket)]
    if isinstance(command, ModifyCommand):
        ticket = await desk.preview_modify(
            user.user_id,
            user.chat_id,
            command.order_ref,
            quantity=command.quantity,
            price=command.price,
            trigger_price=command.trigger,
        )
        return [render_ticket(ticket)]
    if isinstance(command, ExitCommand):
        ticket = await desk.preview_exit(
            user.user_id, user.chat_id, command.symbol, command.account
        )
        return [render_ticket(ticket)]
    names = ", ".join(f"/{name}" for name in COMMANDS)
    return [render_error(f"That command is not available here. Commands: {names}")]
