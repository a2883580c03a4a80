"""The kill switch and the audit log as messages: /halt, /resume, /panic and /audit."""

from __future__ import annotations

from bot.render import CONFIRM_PREFIX, DISMISS_PREFIX
from bot.replies import Button, Reply, esc
from core.access.audit import AuditEntry
from core.confirmations import ActionKind
from core.results import Ticket
from core.safety import AccountPanic, PanicReport


def render_halted(accounts: list[str]) -> Reply:
    names = ", ".join(accounts) or "no account"
    return Reply(
        f"<b>Halted</b>: no new entries on {esc(names)}.\n"
        "Exits, armed stops and orders that reduce a position still work. /resume lifts it."
    )


def render_resumed(accounts: list[str]) -> Reply:
    if not accounts:
        return Reply("Nothing was halted by /halt. (A daily loss limit holds until tomorrow.)")
    return Reply(f"<b>Resumed</b>: new entries allowed on {esc(', '.join(accounts))}.")


def render_panic_ticket(ticket: Ticket) -> Reply:
    plan = ticket.panic
    cid = ticket.confirmation.id
    lines: list[str] = []
    if ticket.kind is ActionKind.PANIC_ARM:
        lines.append("<b>Panic: cancel every order and close every position?</b>")
    else:
        lines.append("<b>Last check. This cannot be undone.</b>")
    if plan is not None:
        for account in sorted({*plan.open_orders, *plan.positions, *plan.errors}):
            if account in plan.errors:
                lines.append(f"{esc(account)}: could not be read ({esc(plan.errors[account])})")
            else:
                lines.append(
                    f"{esc(account)}: {plan.open_orders.get(account, 0)} open orders, "
                    f"{plan.positions.get(account, 0)} positions"
                )
    lines.append(
        "Every account is halted, every open order cancelled and every position closed at market."
    )
    lines.append("<i>Confirm within 60 s.</i>")
    label = "Yes, continue" if ticket.kind is ActionKind.PANIC_ARM else "PANIC: flatten now"
    buttons = ((Button(label, CONFIRM_PREFIX + cid), Button("Cancel", DISMISS_PREFIX + cid)),)
    # The second step replaces the first on the same message.
    edit = ticket.kind is ActionKind.PANIC
    return Reply("\n".join(lines), buttons, ticket=cid, edit=edit)


def _account_lines(account: AccountPanic) -> list[str]:
    mark = "✅" if account.ok else "⚠"
    lines = [f"{mark} <b>{esc(account.account)}</b>"]
    if account.error:
        lines.append(f"  {esc(account.error)}")
    if account.cancelled:
        lines.append(f"  cancelled {len(account.cancelled)}: {esc(', '.join(account.cancelled))}")
    for ref, why in account.cancel_failed:
        lines.append(f"  cancel of {esc(ref)} FAILED: {esc(why)}")
    for what in account.closed:
        lines.append(f"  closing {esc(what)}")
    for what, why in account.close_failed:
        lines.append(f"  close of {esc(what)} FAILED: {esc(why)}")
    if account.ok and not (account.cancelled or account.closed):
        lines.append("  nothing open")
    return lines


def render_panic_report(report: PanicReport, ticket_id: str | None) -> Reply:
    head = "<b>Panic done</b>" if report.ok else "<b>Panic done, with failures — look below</b>"
    lines = [head, "Every account is halted; /resume when ready."]
    for account in report.accounts:
        lines.extend(_account_lines(account))
    return Reply("\n".join(lines), ticket=ticket_id, edit=ticket_id is not None)


def render_audit(entries: list[AuditEntry]) -> Reply:
    if not entries:
        return Reply("The audit log is empty.")
    lines = [f"<b>Audit log</b> (latest {len(entries)}, UTC)"]
    for entry in entries:
        who = "desk" if entry.user_id is None else str(entry.user_id)
        detail = f" {esc(entry.detail)}" if entry.detail else ""
        lines.append(
            f"<code>{entry.at:%m-%d %H:%M:%S}</code> {esc(who)} {esc(entry.action)}:{detail}"
        )
    return Reply("\n".join(lines))
