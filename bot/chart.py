"""The /pnl chart: a PNG drawn with Pillow, sized and lettered to be read on a phone.

Top: the day's P&L curve, one line per account (and currency), or for a week one bar per day and
account. Bottom: one horizontal bar per position, green for profit and red for loss. Drawing
takes tens of milliseconds of CPU, so callers run it off the event loop
(``asyncio.to_thread(render_pnl_chart, report)``).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from PIL import Image, ImageDraw, ImageFont

from core.pnl import AccountPnl, PnlReport, PositionPnl

WIDTH, HEIGHT = 1000, 700
MAX_POSITION_BARS = 8
BACKGROUND, INK, MUTED, GRID = "#ffffff", "#1f2328", "#656d76", "#e6e8eb"
PROFIT, LOSS = "#1a7f37", "#cf222e"
LINE_COLOURS = ("#0969da", "#bc4c00", "#8250df", "#1b7c83", "#9a6700", "#bf3989")

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
Box = tuple[int, int, int, int]  # left, top, right, bottom


def _font(size: int) -> Font:
    return ImageFont.load_default(size=size)


@dataclass(frozen=True, slots=True)
class _Series:
    label: str
    colour: str
    account: AccountPnl


class _Canvas:
    def __init__(self) -> None:
        self.image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
        self.draw = ImageDraw.Draw(self.image)
        self.title, self.text, self.small = _font(30), _font(22), _font(19)

    def write(
        self, xy: tuple[float, float], text: str, font: Font, fill: str = INK, anchor: str = "la"
    ) -> None:
        self.draw.text(xy, text, font=font, fill=fill, anchor=anchor)

    def width_of(self, text: str, font: Font) -> float:
        return self.draw.textlength(text, font=font)

    def png(self) -> bytes:
        out = io.BytesIO()
        self.image.save(out, format="PNG")  # optimize=True: 3x the time for 3% less
        return out.getvalue()


def render_pnl_chart(report: PnlReport) -> bytes:
    """The chart of a /pnl report as PNG bytes; a "no data yet" picture when there is none."""
    canvas = _Canvas()
    series = _series(report)
    canvas.write((24, 18), _title(report), canvas.title)
    if not series or not any(_has_data(s.account, report.period) for s in series):
        _draw_empty(canvas, report)
        return canvas.png()
    rows = [(s, p) for s in series for p in s.account.positions]
    rows.sort(key=lambda row: -abs(row[1].total))  # the biggest movers, whichever account
    top_bottom = 430 if rows else HEIGHT - 30
    chart_box = (110, 110, WIDTH - 30, top_bottom - 50)
    _draw_legend(canvas, series, report)
    if report.period == "week":
        _draw_days(canvas, series, chart_box)
    else:
        _draw_curves(canvas, series, chart_box, report)
    if rows:
        _draw_positions(canvas, rows, (24, top_bottom, WIDTH - 24, HEIGHT - 16), len(series) > 1)
    return canvas.png()


def _title(report: PnlReport) -> str:
    if report.period == "week":
        first = report.day - timedelta(6)
        return f"P&L, last 7 days ({first:%d %b} - {report.day:%d %b})"
    return f"P&L today, {report.day:%a %d %b} ({report.zone_name})"


def _series(report: PnlReport) -> list[_Series]:
    currencies = {a.currency for a in report.accounts if a.currency}
    out: list[_Series] = []
    for n, account in enumerate(report.accounts):
        label = account.account
        if len(currencies) > 1 and account.currency:
            label = f"{account.account} ({account.currency})"
        out.append(_Series(label, LINE_COLOURS[n % len(LINE_COLOURS)], account))
    return out


def _has_data(account: AccountPnl, period: str) -> bool:
    if account.positions:
        return True
    if period == "week":
        return any(d.value is not None for d in account.days)
    return len(account.curve) > 1 or any(p.value for p in account.curve)


def _draw_empty(canvas: _Canvas, report: PnlReport) -> None:
    middle = HEIGHT // 2
    canvas.write((WIDTH / 2, middle - 30), "No P&L data yet", canvas.title, MUTED, "mm")
    note = "Nothing has been traded or recorded for this period."
    if report.failures:
        note = "Positions could not be fetched: " + ", ".join(f.account for f in report.failures)
    canvas.write((WIDTH / 2, middle + 20), note, canvas.text, MUTED, "mm")


def _draw_legend(canvas: _Canvas, series: Sequence[_Series], report: PnlReport) -> None:
    currencies = sorted({s.account.currency for s in series if s.account.currency})
    unit = f"P&L in {currencies[0]}" if len(currencies) == 1 else "P&L (see each currency)"
    canvas.write((24, 62), unit, canvas.small, MUTED)
    x = WIDTH - 30.0
    for item in reversed(series):
        total = _period_total(item.account, report.period)
        text = f"{item.label} {_money(total)}"
        x -= canvas.width_of(text, canvas.small)
        canvas.write((x, 62), text, canvas.small, _sign_colour(total))
        x -= 26
        canvas.draw.rectangle((x, 66, x + 16, 82), fill=item.colour)
        x -= 24


# --- axes ---------------------------------------------------------------------------------


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round-numbered ticks (steps of 1, 2, 2.5 or 5 times a power of ten) covering
    [low, high] in at most ``count + 1`` intervals."""
    if math.isclose(low, high):
        low, high = low - 1, high + 1
    magnitude = 10 ** math.floor(math.log10((high - low) / (count + 1)))
    for step in (m * magnitude for m in (1, 2, 2.5, 5, 10, 20)):
        first, last = math.floor(low / step), math.ceil(high / step)
        if last - first <= count + 1:
            break
    return [round(n * step, 10) for n in range(first, last + 1)]


def _y_axis(canvas: _Canvas, box: Box, values: Sequence[float]) -> Callable[[float], float]:
    """Draw horizontal grid lines with labels; return value -> y."""
    left, top, right, bottom = box
    ticks = nice_ticks(min(0.0, *values), max(0.0, *values))
    low, high = ticks[0], ticks[-1]

    def y_of(value: float) -> float:
        return bottom - (value - low) / (high - low) * (bottom - top)

    for tick in ticks:
        y = y_of(tick)
        canvas.draw.line((left, y, right, y), fill=INK if tick == 0 else GRID, width=1)
        canvas.write((left - 10, y), _axis_number(tick), canvas.small, MUTED, "rm")
    return y_of


def _draw_curves(canvas: _Canvas, series: Sequence[_Series], box: Box, report: PnlReport) -> None:
    left, _, right, bottom = box
    points = [p for s in series for p in s.account.curve]
    if not points:
        return
    y_of = _y_axis(canvas, box, [float(p.value) for p in points])
    start = min(p.at for p in points)
    end = max(max(p.at for p in points), start + timedelta(minutes=30))
    span = (end - start).total_seconds()

    def x_of(moment: datetime) -> float:
        return left + (moment - start).total_seconds() / span * (right - left)

    for moment in _time_ticks(start, end, report):
        x = x_of(moment)
        canvas.draw.line((x, bottom, x, bottom + 6), fill=MUTED)
        local = moment.astimezone(report.zone)
        canvas.write((x, bottom + 10), f"{local:%H:%M}", canvas.small, MUTED, "ma")
    for item in series:
        xy = [(x_of(p.at), y_of(float(p.value))) for p in item.account.curve]
        if len(xy) > 1:
            canvas.draw.line(xy, fill=item.colour, width=4, joint="curve")
        if xy:
            x, y = xy[-1]
            canvas.draw.ellipse((x - 6, y - 6, x + 6, y + 6), fill=item.colour)


def _time_ticks(start: datetime, end: datetime, report: PnlReport) -> list[datetime]:
    """Whole local quarter hours / hours between start and end, at most seven."""
    span = (end - start).total_seconds()
    minutes = next(m for m in (15, 30, 60, 120, 180, 240, 360) if span / (m * 60) <= 6)
    local = start.astimezone(report.zone)
    floor = local.replace(minute=0, second=0, microsecond=0)
    moment = floor
    ticks: list[datetime] = []
    while moment <= end:
        if moment >= start:
            ticks.append(moment)
        moment += timedelta(minutes=minutes)
    return ticks


def _draw_days(canvas: _Canvas, series: Sequence[_Series], box: Box) -> None:
    left, _, right, bottom = box
    days = series[0].account.days
    values = [float(d.value) for s in series for d in s.account.days if d.value is not None]
    y_of = _y_axis(canvas, box, values or [0.0])
    slot = (right - left) / max(len(days), 1)
    bar = min(slot * 0.7 / len(series), 60)
    for n, day in enumerate(days):
        middle = left + slot * (n + 0.5)
        canvas.write((middle, bottom + 10), f"{day.day:%a %d}", canvas.small, MUTED, "ma")
        for k, item in enumerate(series):
            x = middle - bar * len(series) / 2 + bar * k
            value = item.account.days[n].value if n < len(item.account.days) else None
            if value is None:
                canvas.write((x + bar / 2, y_of(0) - 4), "-", canvas.small, MUTED, "mb")
                continue
            y0, y1 = sorted((y_of(0), y_of(float(value))))
            canvas.draw.rectangle((x + 2, y0, x + bar - 2, max(y1, y0 + 1)), fill=item.colour)
            canvas.draw.line(
                (x + 2, y_of(float(value)), x + bar - 2, y_of(float(value))),
                fill=_sign_colour(value),
                width=3,
            )


def _draw_positions(
    canvas: _Canvas, rows: Sequence[tuple[_Series, PositionPnl]], box: Box, with_account: bool
) -> None:
    left, top, right, bottom = box
    canvas.write(
        (left, top), "Positions (realised + unrealised, as the broker reports)", canvas.text, INK
    )
    shown = list(rows)[:MAX_POSITION_BARS]
    labels = [_position_label(s, p, with_account) for s, p in shown]
    label_width = max(canvas.width_of(text, canvas.small) for text in labels) + 16
    area_left, area_right = left + label_width, right - 150
    totals = [float(p.total) for _, p in shown]
    biggest = max((abs(v) for v in totals), default=1.0) or 1.0
    zero = area_left + (area_right - area_left) * (
        0.5 if min(totals) < 0 < max(totals) else (1.0 if max(totals) <= 0 else 0.0)
    )
    scale = (area_right - area_left) / (2 if min(totals) < 0 < max(totals) else 1) / biggest
    row_height = min(34.0, (bottom - top - 40) / max(len(shown), 1))
    y = top + 40.0
    for (_, position), label, total in zip(shown, labels, totals, strict=True):
        value = position.total
        middle = y + row_height / 2
        canvas.write((area_left - 12, middle), label, canvas.small, INK, "rm")
        end = zero + total * scale
        x0, x1 = sorted((zero, end))
        canvas.draw.rectangle(
            (x0, middle - row_height * 0.35, max(x1, x0 + 2), middle + row_height * 0.35),
            fill=_sign_colour(value),
        )
        canvas.write((max(x1, zero) + 8, middle), _money(value), canvas.small, INK, "lm")
        y += row_height
    canvas.draw.line((zero, top + 36, zero, y + 2), fill=INK)
    if len(rows) > len(shown):
        canvas.write(
            (right, top), f"{len(rows) - len(shown)} more not shown", canvas.small, MUTED, "ra"
        )


def _position_label(item: _Series, position: PositionPnl, with_account: bool) -> str:
    symbol = position.instrument.symbol
    return f"{item.label}: {symbol}" if with_account else symbol


# --- numbers ------------------------------------------------------------------------------


def _period_total(account: AccountPnl, period: str) -> Decimal:
    if period == "week":
        return sum((d.value for d in account.days if d.value is not None), Decimal(0))
    return account.total


def _sign_colour(value: Decimal | float) -> str:
    return LOSS if value < 0 else PROFIT


def _money(value: Decimal) -> str:
    return f"{value:+,.2f}"


def _axis_number(value: float) -> str:
    size = abs(value)
    if size >= 1e7:
        return f"{value / 1e6:,.0f}M"
    if size >= 1e5:
        return f"{value / 1e3:,.0f}k"
    if size >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")
