"""The /pnl caption, and the console saving the chart to a file."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.console import Console
from bot.render_pnl import pnl_caption, render_pnl
from bot.replies import to_plain
from core.pnl import AccountFailure, AccountPnl, DayTotal, PnlReport
from tests.support import paper_config, running_service

IST = ZoneInfo("Asia/Kolkata")
NOW = datetime(2026, 1, 6, 6, 0, tzinfo=UTC)


def report(*accounts: AccountPnl, period: str = "today", **more: object) -> PnlReport:
    return PnlReport(period, date(2026, 1, 6), IST, NOW, accounts, **more)  # type: ignore[arg-type]


def test_the_caption_gives_each_accounts_day_realised_and_unrealised_in_its_currency() -> None:
    caption = pnl_caption(
        report(
            AccountPnl("paper<1>", "INR", Decimal("1200.5"), Decimal("-300")),
            AccountPnl("ibkr", "USD", Decimal(0), Decimal("42")),
            failures=(AccountFailure("kite", "could not fetch positions: <timeout>"),),
        )
    )
    plain = to_plain(caption)
    assert plain.splitlines()[0] == "P&L today, Tue 06 Jan (IST)"
    assert "paper<1>: today +₹900.50" in plain
    assert "realised +₹1,200.50 · unrealised -₹300.00" in plain
    assert "ibkr: today +$42.00" in plain
    assert "kite: unknown, could not fetch positions: <timeout>" in plain
    assert "&lt;1&gt;" in caption and "&lt;timeout&gt;" in caption  # escaped for Telegram


def test_the_week_caption_adds_the_seven_days_total() -> None:
    days = tuple(DayTotal(date(2026, 1, n), Decimal(n) if n != 3 else None) for n in range(1, 8))
    account = AccountPnl("paper", "INR", Decimal(7), Decimal(0), days=days)
    plain = to_plain(pnl_caption(report(account, period="week")))
    assert plain.splitlines()[0] == "P&L, last 7 days (31 Dec - 06 Jan)"
    assert "7 days +₹25.00" in plain  # the unrecorded day counts as nothing


def test_an_account_that_never_traded_says_so() -> None:
    reply = render_pnl(report(AccountPnl("paper", "", Decimal(0), Decimal(0))), b"png")
    assert "paper</b>: nothing traded" in reply.html and reply.photo == b"png"


async def test_the_console_writes_the_chart_to_a_png_file_and_prints_its_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    async with running_service(paper_config(tmp_path)) as service:
        console = Console(service.desk, out=out)
        await console.handle_line("/pnl")
        await console.handle_line("/pnl week")
    lines = out.getvalue().splitlines()
    paths = [Path(line.removeprefix("Chart: ")) for line in lines if line.startswith("Chart: ")]
    assert len(paths) == 2 and paths[0] != paths[1]
    assert all(is_png_in(path, tmp_path) for path in paths)
    assert lines[0].startswith("P&L today")


def is_png_in(path: Path, folder: Path) -> bool:
    return path.parent == folder.resolve() and path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
