"""The /pnl chart: a real PNG of the promised size, whatever the data (or its absence)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from PIL import Image

from bot.chart import HEIGHT, WIDTH, nice_ticks, render_pnl_chart
from core.domain.models import InstrumentId, Product
from core.pnl import AccountFailure, AccountPnl, CurvePoint, DayTotal, PnlReport, PositionPnl

IST = ZoneInfo("Asia/Kolkata")
OPEN = datetime(2026, 1, 6, 3, 45, tzinfo=UTC)  # 09:15 IST
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def position(symbol: str, realised: str, unrealised: str = "0") -> PositionPnl:
    return PositionPnl(
        InstrumentId("NSE", symbol), Product.CNC, 10, Decimal(realised), Decimal(unrealised)
    )


def curve(*values: int) -> tuple[CurvePoint, ...]:
    return tuple(
        CurvePoint(OPEN + timedelta(minutes=5 * n), Decimal(v)) for n, v in enumerate(values)
    )


def report(*accounts: AccountPnl, period: str = "today", **more: object) -> PnlReport:
    now = OPEN + timedelta(hours=5)
    return PnlReport(period, date(2026, 1, 6), IST, now, accounts, **more)  # type: ignore[arg-type]


def decoded(png: bytes) -> Image.Image:
    assert png.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(png))
    image.load()  # decodes every pixel: a truncated file raises here
    assert image.format == "PNG"
    assert image.size == (WIDTH, HEIGHT)
    return image


def colours(image: Image.Image) -> set[tuple[int, int, int]]:
    return {c for _, c in image.convert("RGB").getcolors(maxcolors=1 << 20) or []}


def has_colour(image: Image.Image, hex_colour: str) -> bool:
    rgb = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return rgb in colours(image)


def test_a_days_curve_and_positions_make_a_phone_sized_png() -> None:
    paper = AccountPnl(
        "paper",
        "INR",
        Decimal(300),
        Decimal(-120),
        (position("INFY", "300", "-50"), position("TCS", "0", "-70")),
        curve(0, 150, 90, 260, 180),
    )
    image = decoded(render_pnl_chart(report(paper)))
    assert has_colour(image, "#1a7f37") and has_colour(image, "#cf222e")  # profit and loss bars
    assert has_colour(image, "#0969da")  # the account's line


def test_no_data_is_a_clear_picture_not_an_exception() -> None:
    for empty in (
        report(),
        report(period="week"),
        report(AccountPnl("paper", "", Decimal(0), Decimal(0), (), curve(0))),
        report(failures=(AccountFailure("kite", "could not fetch positions"),)),
    ):
        image = decoded(render_pnl_chart(empty))
        assert len(colours(image)) > 2  # it has words on it


def test_only_losses_and_a_single_point_render() -> None:
    loser = AccountPnl(
        "paper",
        "INR",
        Decimal(-900),
        Decimal(-50),
        (position("INFY", "-900"), position("SBIN", "0", "-50")),
        curve(-950),
    )
    image = decoded(render_pnl_chart(report(loser)))
    assert has_colour(image, "#cf222e") and not has_colour(image, "#1a7f37")


def test_several_accounts_and_currencies_get_a_line_each_and_a_week_of_bars() -> None:
    days = tuple(
        DayTotal(date(2026, 1, n), None if n == 3 else Decimal((n - 4) * 250)) for n in range(1, 8)
    )
    accounts = (
        AccountPnl(
            "paper",
            "INR",
            Decimal(10),
            Decimal(5),
            (position("INFY", "10", "5"),),
            curve(0, 5, 15),
            days,
        ),
        AccountPnl("kite", "INR", Decimal(-40), Decimal(0), (), curve(0, -20, -40), days),
        AccountPnl(
            "ibkr",
            "USD",
            Decimal(2),
            Decimal(1),
            (position("AAPL", "2", "1"),),
            curve(0, 1, 3),
            days,
        ),
    )
    today = decoded(render_pnl_chart(report(*accounts)))
    week = decoded(render_pnl_chart(report(*accounts, period="week")))
    for image in (today, week):
        assert {"#0969da", "#bc4c00", "#8250df"} <= {
            c for c in ("#0969da", "#bc4c00", "#8250df") if has_colour(image, c)
        }


def test_many_positions_and_huge_values_still_render() -> None:
    rows = tuple(position(f"S{n}", str((-1) ** n * 10**n)) for n in range(15))
    whale = AccountPnl("paper", "INR", Decimal(10**14), Decimal(0), rows, curve(0, 10**14))
    decoded(render_pnl_chart(report(whale)))


def test_ticks_are_round_numbers_covering_the_range() -> None:
    assert nice_ticks(-1450.25, 900.5) == [-1500, -1000, -500, 0, 500, 1000]
    assert nice_ticks(0, 0) == [-1, -0.5, 0, 0.5, 1]
    ticks = nice_ticks(0, 7.3)
    assert ticks[0] <= 0 and ticks[-1] >= 7.3
