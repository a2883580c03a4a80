"""/pnl through the real python-telegram-bot front-end: a chart arrives as a sendPhoto upload."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from PIL import Image
from telegram import Bot

from bot.telegram.sender import Sender
from tests.fakes.telegram import Call, FakeTelegram
from tests.test_telegram import OWNER, STRANGER, TOKEN, VIEWER, desk, to

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_of(call: Call) -> Image.Image:
    data = call.files["photo"]
    assert data.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG" and image.size == (1000, 700)
    return image


async def buy_and_fill(fake: FakeTelegram, symbol: str, quantity: int) -> None:
    start = fake.mark()
    fake.send_text(OWNER, f"/buy {symbol} {quantity}")
    [ticket] = await fake.wait_for("sendMessage", to(OWNER), start=start)
    start = fake.mark()
    fake.press(OWNER, ticket, "Confirm")
    await fake.wait_for(
        "editMessageText", lambda c: "Filled" in c.params.get("text", ""), start=start
    )


async def ask(fake: FakeTelegram, user: int, text: str) -> Call:
    start = fake.mark()
    fake.send_text(user, text)
    [sent] = await fake.wait_for("sendPhoto", to(user), start=start, timeout=10)
    return sent


async def test_pnl_after_a_paper_trade_sends_a_png_chart_with_the_numbers_as_caption(
    tmp_path: Path,
) -> None:
    async with FakeTelegram(TOKEN) as fake, desk(tmp_path, fake) as (service, _):
        await buy_and_fill(fake, "INFY", 5)
        sent = await ask(fake, OWNER, "/pnl")
        assert sent.status == 200
        png_of(sent)
        caption = sent.params["caption"]
        assert sent.params.get("parse_mode") == "HTML"
        assert caption.startswith("<b>P&amp;L today</b>")
        assert "<b>paper</b>: today" in caption and "realised" in caption
        message = sent.result
        assert message["caption"].startswith("P&L today")  # Telegram parsed the HTML
        assert message["photo"] and fake.photos[message["photo"][-1]["file_id"]]

        week = await ask(fake, OWNER, "/pnl week on=paper")
        png_of(week)
        assert "last 7 days" in week.params["caption"] and "7 days" in week.params["caption"]
        day_pnl = await service.pnl.day_pnl("paper")
        assert day_pnl is not None


async def test_a_viewer_may_see_pnl_and_a_stranger_gets_nothing(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as fake, desk(tmp_path, fake):
        png_of(await ask(fake, VIEWER, "/pnl"))  # no trade yet: the "no data yet" picture
        start = fake.mark()
        fake.send_text(STRANGER, "/pnl")
        fake.send_text(STRANGER, "/pnl week")
        fake.send_text(OWNER, "/pnl week")  # answered after the stranger's were handled
        await fake.wait_for("sendPhoto", to(OWNER), start=start, timeout=10)
        outgoing = [c for c in fake.calls[start:] if c.method != "getUpdates"]
        assert all(c.params.get("chat_id") == OWNER for c in outgoing)


async def test_an_unknown_account_is_a_text_reply_not_a_picture(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as fake, desk(tmp_path, fake):
        start = fake.mark()
        fake.send_text(OWNER, "/pnl on=nobody")
        [reply] = await fake.wait_for("sendMessage", to(OWNER), start=start)
        assert "nobody" in reply.params["text"]
        assert not fake.calls_of("sendPhoto")


# --- Sender.send_photo against the fake Bot API --------------------------------------------


@asynccontextmanager
async def sender(fake: FakeTelegram) -> AsyncIterator[Sender]:
    bot = Bot(TOKEN, base_url=fake.api_url, base_file_url=fake.file_url)
    async with bot:
        yield Sender(bot, min_interval_s=0)


async def test_send_photo_waits_out_retry_after(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as fake, sender(fake) as out:
        fake.fail_next("sendPhoto", 429, "Too Many Requests: retry after 1", retry_after=1)
        await out.send_photo(OWNER, PNG_SIGNATURE + b"rest", "<b>chart</b>")
        throttled, delivered = fake.calls_of("sendPhoto")
        assert (throttled.status, delivered.status) == (429, 200)
        assert delivered.at - throttled.at >= 0.9
        assert delivered.files["photo"] == PNG_SIGNATURE + b"rest"


async def test_a_caption_telegram_cannot_parse_is_sent_as_plain_text(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as fake, sender(fake) as out:
        fake.fail_next("sendPhoto", 400, "Bad Request: can't parse entities: unexpected tag")
        await out.send_photo(OWNER, PNG_SIGNATURE, "<b>P&amp;L</b> today")
        refused, plain = fake.calls_of("sendPhoto")
        assert refused.status == 400 and plain.status == 200
        assert plain.params["caption"] == "P&L today" and "parse_mode" not in plain.params


async def test_a_caption_over_1024_characters_follows_the_picture_whole(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as fake, sender(fake) as out:
        caption = "\n".join(f"<b>account{n}</b>: +{n},000.00" for n in range(60))
        await out.send_photo(OWNER, PNG_SIGNATURE, caption)
        [photo] = fake.calls_of("sendPhoto")
        [text] = fake.calls_of("sendMessage")
        assert photo.status == 200 and "caption" not in photo.params
        assert text.params["text"] == caption
