"""The fake Bot API, driven by the real python-telegram-bot ``Bot``/``Application``."""

from __future__ import annotations

import os

os.environ.setdefault("PTB_TIMEDELTA", "1")
os.environ["NO_PROXY"] = "127.0.0.1,localhost"

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, InvalidToken, NetworkError, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from tests.fakes.telegram import NOT_MODIFIED, Call, FakeTelegram

OWNER = 4242
KEYBOARD = InlineKeyboardMarkup(
    [
        [InlineKeyboardButton("Status", callback_data="status")],
        [InlineKeyboardButton("Close", callback_data="close")],
    ]
)


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text(
        "Hello <b>owner</b>", parse_mode=ParseMode.HTML, reply_markup=KEYBOARD
    )


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer("ok")
    await query.edit_message_text(f"You pressed {query.data}")


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token="123456:TEST-token") as server:
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.api_url, base_file_url=fake.file_url) as client:
        yield client


@pytest.fixture
async def app(fake: FakeTelegram) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    application = (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(fake.api_url)
        .base_file_url(fake.file_url)
        .build()
    )
    application.add_handler(CommandHandler("start", on_start))
    application.add_handler(CallbackQueryHandler(on_button))
    await application.initialize()
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(timeout=1, drop_pending_updates=True)
    try:
        yield application
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()


async def test_start_command_gets_a_reply(app: Application, fake: FakeTelegram) -> None:  # type: ignore[type-arg]
    assert [c.method for c in fake.calls[:2]] == ["getMe", "deleteWebhook"]
    assert fake.calls_of("deleteWebhook")[0].params["drop_pending_updates"] is True
    assert app.bot.username == "pocketdesk_test_bot"
    update = fake.send_text(OWNER, "/start")
    assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    [call] = await fake.wait_for("sendMessage")
    assert call.params["chat_id"] == OWNER
    assert call.params["text"] == "Hello <b>owner</b>"
    assert call.params["parse_mode"] == "HTML"
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "status"
    assert call.result["text"] == "Hello owner"  # rendered, like Telegram
    assert call.result["from"]["username"] == "pocketdesk_test_bot"
    assert call.result["message_id"] == 2  # the user's /start was message 1 in this chat


async def test_edited_command_also_triggers(app: Application, fake: FakeTelegram) -> None:  # type: ignore[type-arg]
    original = fake.send_text(OWNER, "hello")
    mark = fake.mark()
    update = fake.edit_text(original, "/start now")
    assert update["edited_message"]["message_id"] == original["message"]["message_id"]
    assert update["update_id"] == original["update_id"] + 1
    await fake.wait_for("sendMessage", start=mark)


async def test_press_answers_and_edits(app: Application, fake: FakeTelegram) -> None:  # type: ignore[type-arg]
    fake.send_text(OWNER, "/start")
    [sent] = await fake.wait_for("sendMessage")
    mark = fake.mark()
    update = fake.press(OWNER, sent, "Status")
    assert update["callback_query"]["data"] == "status"
    assert update["callback_query"]["message"]["reply_markup"] == sent.result["reply_markup"]
    [answer] = await fake.wait_for("answerCallbackQuery", start=mark)
    [edit] = await fake.wait_for("editMessageText", start=mark)
    assert answer.params["callback_query_id"] == update["callback_query"]["id"]
    assert answer.params["text"] == "ok" and answer.result is True
    assert edit.params["message_id"] == sent.result["message_id"]
    stored = fake.message(OWNER, sent.result["message_id"])
    assert stored is not None and stored["text"] == "You pressed status"
    assert "reply_markup" not in stored  # editing text without a markup drops the keyboard
    with pytest.raises(LookupError, match="no callback button"):
        fake.press(OWNER, sent, "Status")  # the keyboard is gone now


async def test_retry_after_surfaces(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(OWNER, "hi")
    assert caught.value.retry_after == dt.timedelta(seconds=3)
    assert fake.calls_of("sendMessage")[0].status == 429
    assert (await bot.send_message(OWNER, "hi")).text == "hi"  # only the next call failed


async def test_fail_next_times_and_5xx(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_next("sendMessage", 500, "Internal Server Error", times=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.send_message(OWNER, "hi")
    fake.fail_next("sendMessage", 400, "Bad Request: chat not found")
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(OWNER, "hi")
    await bot.send_message(OWNER, "hi")


async def test_validation_errors(bot: Bot, fake: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(OWNER, "x" * 4097)
    await bot.send_message(OWNER, "x" * 4096)
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="d" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(OWNER, "hi", reply_markup=too_long)
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(OWNER, "")


@pytest.mark.parametrize(
    "text",
    ["<foo>x</foo>", "1 < 2", "fish & chips", "<b>open", "<b>x</i>", "&nbsp;"],
)
async def test_bad_html_cannot_be_parsed(bot: Bot, text: str) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(OWNER, text, parse_mode=ParseMode.HTML)


async def test_good_html_is_rendered(bot: Bot) -> None:
    text = (
        '<b>P&amp;L</b> <a href="https://x.y">&lt;1%</a> <tg-spoiler>&#36;</tg-spoiler>'
        ' <pre><code class="language-py">x</code></pre>'
    )
    sent = await bot.send_message(OWNER, text, parse_mode=ParseMode.HTML)
    assert sent.text == "P&L <1% $ x"
    assert (await bot.send_message(OWNER, "1 < 2 & 3")).text == "1 < 2 & 3"  # no parse_mode


async def test_outage_gives_network_error(bot: Bot, fake: FakeTelegram) -> None:
    fake.go_down()
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(OWNER, "hi")
    assert await bot.get_updates(timeout=0) == ()  # polling still works by default
    fake.go_down(polling=True)
    with pytest.raises(NetworkError):
        await bot.get_updates(timeout=0)
    fake.come_back()
    fake.fail_next("getUpdates", 409, "Conflict: terminated by other getUpdates request")
    with pytest.raises(Conflict):
        await bot.get_updates(timeout=0)
    await bot.send_message(OWNER, "hi")
    assert [c.status for c in fake.calls_of("sendMessage")] == [502, 200]


async def test_edit_errors(bot: Bot, fake: FakeTelegram) -> None:
    sent = await bot.send_message(OWNER, "price 10", reply_markup=KEYBOARD)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified") as caught:
        await bot.edit_message_text("price 10", OWNER, sent.message_id, reply_markup=KEYBOARD)
    assert NOT_MODIFIED.startswith("message is not modified")
    assert caught.value.message.lower() == NOT_MODIFIED.lower()
    edited = await bot.edit_message_text("price 11", OWNER, sent.message_id, reply_markup=KEYBOARD)
    assert isinstance(edited, Message) and edited.text == "price 11"
    await bot.edit_message_reply_markup(OWNER, sent.message_id, reply_markup=None)
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_reply_markup(OWNER, sent.message_id, reply_markup=None)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", OWNER, 999)
    assert await bot.delete_message(OWNER, sent.message_id) is True
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(OWNER, sent.message_id)


async def test_get_updates_offset_semantics(bot: Bot, fake: FakeTelegram) -> None:
    first, second, third = (fake.send_text(OWNER, f"m{i}") for i in range(3))
    ids = [u["update_id"] for u in (first, second, third)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == ids
    assert [u.update_id for u in await bot.get_updates(offset=ids[1], timeout=0)] == ids[1:]
    assert [u.update_id for u in await bot.get_updates(offset=0, limit=1, timeout=0)] == ids[1:2]
    assert await bot.get_updates(offset=ids[2] + 1, timeout=0) == ()
    assert not fake.updates  # all confirmed by the last offset
    poll = asyncio.create_task(bot.get_updates(offset=ids[2] + 1, timeout=5))
    await fake.wait_for("getUpdates", lambda c: c.params["timeout"] == 5)
    late = fake.send_text(OWNER, "late")
    assert [u.update_id for u in await asyncio.wait_for(poll, 1)] == [late["update_id"]]


async def test_drop_pending_updates(bot: Bot, fake: FakeTelegram) -> None:
    fake.send_text(OWNER, "stale")
    assert await bot.delete_webhook(drop_pending_updates=True) is True
    assert await bot.get_updates(timeout=0) == ()


async def test_send_photo_records_bytes(bot: Bot, fake: FakeTelegram) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8192  # 2 MiB, above aiohttp's default limit
    sent = await bot.send_photo(OWNER, photo=png, caption="<i>chart</i>", parse_mode="HTML")
    [call] = fake.calls_of("sendPhoto")
    assert call.files["photo"] == png
    assert call.params["caption"] == "<i>chart</i>"
    assert sent.caption == "chart" and sent.photo[-1].file_size == len(png)
    assert fake.photos[sent.photo[-1].file_id] == png


async def test_commands_and_raw_http(fake: FakeTelegram, bot: Bot) -> None:
    await bot.set_my_commands([("start", "Show the menu"), ("status", "Positions")])
    assert fake.commands[1] == {"command": "status", "description": "Positions"}
    with pytest.raises(BadRequest, match=r"(?i)fake: getChat not implemented"):
        await bot.get_chat(OWNER)
    with pytest.raises(InvalidToken):
        async with Bot("999:wrong", base_url=fake.api_url):
            pass
    async with aiohttp.ClientSession() as http:
        url = f"{fake.api_url}{fake.token}/sendMessage"
        async with http.post(url, json={"chat_id": 7, "text": "json body"}) as resp:
            body = await resp.json()
        assert body["ok"] is True and body["result"]["chat"]["id"] == 7
        async with http.post(f"{fake.api_url}bad/getMe") as resp:
            assert resp.status == 401
            assert await resp.json() == {
                "ok": False,
                "error_code": 401,
                "description": "Unauthorized",
            }


async def test_wait_for_times_out_and_long_poll_ends_on_stop() -> None:
    fake = FakeTelegram()
    await fake.start()
    with pytest.raises(AssertionError, match="waiting for 1 sendMessage"):
        await fake.wait_for("sendMessage", timeout=0.05)
    async with aiohttp.ClientSession() as http:
        url = f"{fake.api_url}{fake.token}/getUpdates"
        poll = asyncio.create_task(http.post(url, data={"timeout": "30"}))
        [call] = await fake.wait_for("getUpdates")
        assert isinstance(call, Call) and call.params["timeout"] == 30
        started = asyncio.get_running_loop().time()
        await fake.stop()
        async with await poll as resp:
            assert (await resp.json())["result"] == []
        assert asyncio.get_running_loop().time() - started < 1
