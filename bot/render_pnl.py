"""The /pnl reply: a chart (see ``bot.chart``) with the numbers as its caption."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from bot.render import money
from bot.replies import Reply, esc
from core.pnl import AccountPnl, PnlReport

MAX_ACCOUNT_LINES = 12  # a caption holds 1,024 characters; the chart shows every account anyway


def signed(value: Decimal, currency: str = "") -> str:
    """Money with its sign always shown: P&L reads as +₹1,200.00 or -₹300.00."""
    return ("+" if value > 0 else "") + money(value, currency)


def pnl_caption(report: PnlReport) -> str:
    """Per account: the day's total, its realised and unrealised parts, in the account's
    currency (and the week's total for ``/pnl week``); accounts that failed say why."""
    if report.period == "week":
        first = report.day - timedelta(6)
        head = f"<b>P&amp;L, last 7 days</b> ({first:%d %b} - {report.day:%d %b})"
    else:
        head = f"<b>P&amp;L today</b>, {report.day:%a %d %b} ({esc(report.zone_name)})"
    lines = [head]
    for account in report.accounts[:MAX_ACCOUNT_LINES]:
        lines.extend(_account_lines(account, report.period))
    if len(report.accounts) > MAX_ACCOUNT_LINES:
        lines.append(f"<i>and {len(report.accounts) - MAX_ACCOUNT_LINES} more on the chart</i>")
    for failure in report.failures:
        lines.append(f"<b>{esc(failure.account)}</b>: unknown, {esc(failure.reason)}")
    if not report.accounts and not report.failures:
        lines.append("No accounts.")
    return "\n".join(lines)


def _account_lines(account: AccountPnl, period: str) -> list[str]:
    name = f"<b>{esc(account.account)}</b>"
    if not account.currency:
        return [f"{name}: nothing traded"]
    currency = account.currency
    lines = [
        f"{name}: today <b>{esc(signed(account.total, currency))}</b>",
        f"  realised {esc(signed(account.realised, currency))}"
        f" · unrealised {esc(signed(account.unrealised, currency))}",
    ]
    if period == "week":
        known = [d.value for d in account.days if d.value is not None]
        week = sum(known, Decimal(0))
        lines.append(f"  7 days {esc(signed(week, currency))}")
    return lines


def render_pnl(report: PnlReport, chart: bytes | None) -> Reply:
    """The chart with its caption; text alone when there is no chart."""
    return Reply(pnl_caption(report), photo=chart)
