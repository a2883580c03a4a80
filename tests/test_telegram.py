"""The whole service behind the real python-telegram-bot, against the fake Bot API."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.app import Service, telegram_service
from bot.telegram.front import TelegramFront
from brokers.paper import PaperBroker
from core.domain.clock import Clock, ManualClock
from core.domain.models import InstrumentId
from tests.fakes.telegram import Call, FakeTelegram
from tests.support import FAST_EXITS, paper_config

OWNER, VIEWER, STRANGER = 111, 222, 999
TOKEN = "424242:SECRET-token-do-not-log"
INFY = InstrumentId("NSE", "INFY")


@asynccontextmanager
async def desk(
    tmp_path: Path, fake: FakeTelegram, clock: Clock | None = None, pace_s: float = 0.0
) -> AsyncIterator[tuple[Service, TelegramFront]]:
    config = paper_config(
        tmp_path,
        telegram={
            "token": TOKEN,
            "api_url": fake.api_url,
            "owners": str(OWNER),
            "viewers": str(VIEWER),
        },
    )
    async with telegram_service(
        config, clock=clock, exit_settings=FAST_EXITS, pace_s=pace_s, poll_timeout_s=1
    ) as running:
        await fake.wait_for("getUpdates")
        yield running


def paper(service: Service) -> PaperBroker:
    broker = service.registry.get("paper")
    assert isinstance(broker, PaperBroker)
    return broker


def to(chat: int) -> Any:
    return lambda call: call.params.get("chat_id") == chat


async def ticket_for(fake: FakeTelegram, user: int, text: str) -> Call:
    start = fake.mark()
    fake.send_text(user, text)
    [sent] = await fake.wait_for("sendMessage", to(user), start=start)
    return sent


async def test_buy_confirm_and_the_ticket_is_edited_to_placed_then_filled(
    tmp_path: Path,
) -> None:
    async with FakeTelegram(TOKEN) as fake, desk(tmp_path, fake) as (service, _):
        ticket = await ticket_for(fake, OWNER, "/buy INFY 5")
        buttons = ticket.params["reply_markup"]["inline_keyboard"][0]
        assert [b["text"] for b in buttons] == ["Confirm", "Cancel"]
        start = fake.mark()
        fake.press(OWNER, ticket, "Confirm")
        await fake.wait_for("answerCallbackQuery", start=start)
        message_id = ticket.result["message_id"]  # type: ignore[index]
        edits = await fake.wait_for(
            "editMessageText",
            lambda c: c.params.get("message_id") == message_id and "Filled" in c.params["text"],
            start=start,
        )
        assert edits
        [placed] = await fake.wait_for("editMessageText", start=start)
        assert "filled 5" in placed.params["text"] or "placed" in placed.params["text"]
        # The fill is also pushed as a new message, threaded under the ticket.
        [alert] = await fake.wait_for(
            "sendMessage", lambda c: "Filled" in c.params.get("text", ""), start=start
        )
        assert alert.params.get("reply_to_message_id") == message_id or "reply_parameters" in (
            alert.params
        )
        assert len(await paper(service).fetch_orders()) == 1
        answered = fake.calls_of("answerCallbackQuery")
        edited = [c for c in fake.calls_of("editMessageText") if c.at >= answered[0].at]
        assert answered[0].at <= edited[0].at  # the press is answered first


async def test_a_stranger_gets_no_reply_no_call_at_all_and_is_audited(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as fake, desk(tmp_path, fake) as (service, _):
        ticket = await ticket_for(fake, OWNER, "/buy INFY 5")
        start = fake.mark()
        fake.send_text(STRANGER, "/buy INFY 100")
        fake.send_text(STRANGER, "/positions")
        fake.press(STRANGER, ticket, "Confirm")
        fake.send_text(OWNER, "/status")  # something after them, to know they were processed
        await fake.wait_for("sendMessage", to(OWNER), start=start)
        outgoing = [c for c in fake.calls[start:] if c.method != "getUpdates"]
        assert all(c.params.get("chat_id") == OWNER for c in outgoing)
        assert not [c for c in outgoing if c.method == "answerCallbackQuery"]
        assert await paper(service).fetch_orders() == []
        async with service.db.read() as tx:
            rows = await tx.fetchall(
                "SELECT user_id, action FROM audit_log WHERE user_id=?", (STRANGER,)
            )
        assert [r["action"] for r in rows] == [
            "stranger message",
            "stranger message",
            "stranger button",
        ]
        # An owner reads them with /audit.
        start = fake.mark()
        fake.send_text(OWNER, "/audit 10")
        [log] = await fake.wait_for("sendMessage", to(OWNER), start=start)
        assert f"{STRANGER} stranger message: /buy INFY 100" in log.params["text"]


async def test_a_viewer_reads_but_cannot_trade_or_confirm(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as fake, desk(tmp_path, fake) as (service, _):
        refused = await ticket_for(fake, VIEWER, "/buy INFY 5")
        assert "view, not trade" in refused.params["text"]
        assert "reply_markup" not in refused.params
        positions = await ticket_for(fake, VIEWER, "/positions")
        assert "Positions" in positions.params["text"]
        ticket = await ticket_for(fake, OWNER, "/buy INFY 5")
        start = fake.mark()
        fake.press(VIEWER, ticket, "Confirm")
        await fake.wait_for(
            "sendMessage", lambda c: "Only an owner" in c.params.get("text", ""), start=start
        )
        assert await paper(service).fetch_orders() == []


async def test_a_double_tap_places_one_order(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as fake, desk(tmp_path, fake) as (service, _):
        ticket = await ticket_for(fake, OWNER, "/buy INFY 5")
        start = fake.mark()
        fake.press(OWNER, ticket, "Confirm")
        fake.press(OWNER, ticket, "Confirm")
        await fake.wait_for("answerCallbackQuery", count=2, start=start)
        await fake.wait_for(
            "sendMessage", lambda c: "Already confirmed" in c.params.get("text", ""), start=start
        )
        assert len(await paper(service).fetch_orders()) == 1


async def test_an_expired_button_places_nothing_and_says_so(tmp_path: Path) -> None:
    clock = ManualClock()
    async with FakeTelegram(TOKEN) as fake, desk(tmp_path, fake, clock=clock) as (service, _):
        ticket = await ticket_for(fake, OWNER, "/buy INFY 5")
        clock.advance(61)
        start = fake.mark()
        fake.press(OWNER, ticket, "Confirm")
        [said] = await fake.wait_for("sendMessage", to(OWNER), start=start)
        assert "expired" in said.params["text"]
        assert await paper(service).fetch_orders() == []


async def test_an_edited_message_never_reruns_a_command(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as fake, desk(tmp_path, fake) as (_service, _):
        start = fake.mark()
        original = fake.send_text(OWNER, "/status")
        await fake.wait_for("sendMessage", to(OWNER), start=start)
        fake.edit_text(original, "/buy INFY 5")
        fake.send_text(OWNER, "/help")
        sent = await fake.wait_for("sendMessage", to(OWNER), count=2, start=start)
        assert not any("BUY 5" in c.params["text"] for c in sent)


async def test_commands_queued_while_down_are_dropped_and_the_menu_is_set(
    tmp_path: Path,
) -> None:
    async with FakeTelegram(TOKEN) as fake:
        fake.send_text(OWNER, "/buy INFY 5")  # sent while pocketdesk was not running
        async with desk(tmp_path, fake) as (service, _):
            [menu] = fake.calls_of("setMyCommands")
            names = [c["command"] for c in menu.params["commands"]]
            assert {"buy", "sell", "positions", "exit", "sl"} <= set(names)
            await ticket_for(fake, OWNER, "/status")
            assert not any(
                "BUY 5" in c.params.get("text", "") for c in fake.calls_of("sendMessage")
            )
            assert await paper(service).fetch_orders() == []


async def test_long_replies_are_split_under_telegrams_limit(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as fake, desk(tmp_path, fake) as (service, _):
        for n in range(70):
            await service.desk.confirm(
                (await service.desk.preview_order(OWNER, OWNER, _order(n))).confirmation.id, OWNER
            )
        start = fake.mark()
        fake.send_text(OWNER, "/orders")
        sent = await fake.wait_for(
            "sendMessage",
            lambda c: c.params.get("chat_id") == OWNER and c.status == 200,
            count=2,
            start=start,
        )
        assert all(len(c.params["text"]) <= 4096 for c in sent)


def _order(n: int) -> Any:
    from core.desk import OrderInput
    from core.domain.models import Side

    return OrderInput(side=Side.BUY, symbol="INFY", quantity=1 + n)


async def test_alerts_honour_retry_after_and_survive_an_outage_in_order(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as fake, desk(tmp_path, fake) as (service, _):
        fake.go_down()
        for _ in range(3):
            order = _order(0)
            ticket = await service.desk.preview_order(OWNER, OWNER, order)
            await service.desk.confirm(ticket.confirmation.id, OWNER)
        await asyncio.sleep(0.3)
        assert await service.notifier.pending_count() > 0  # type: ignore[union-attr]
        start = fake.mark()
        fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
        fake.come_back()
        assert await service.settle(20)  # every alert delivered
        delivered = [
            c
            for c in fake.calls_of("sendMessage")[0:]
            if c.status == 200 and c.at >= fake.calls[start].at
        ]
        text = "\n".join(c.params["text"] for c in delivered)
        placed = [line for line in text.splitlines() if line.startswith("<b>Placed")]
        filled = [line for line in text.splitlines() if line.startswith("<b>Filled")]
        assert len(placed) == 3 and len(filled) == 3
        assert text.index(placed[0]) < text.index(filled[0])
        throttled = [c for c in fake.calls_of("sendMessage") if c.status == 429]
        assert throttled
        retried = [c for c in delivered if c.at >= throttled[0].at]
        assert retried and retried[0].at - throttled[0].at >= 0.9


async def test_the_token_never_reaches_a_log_line(tmp_path: Path) -> None:
    from bot.telegram.logs import install_redaction

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    install_redaction(TOKEN)
    handler = Keep(level=logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in ("httpx", "httpcore", "telegram", "aiosqlite"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        async with FakeTelegram(TOKEN) as fake, desk(tmp_path, fake) as (_service, _):
            ticket = await ticket_for(fake, OWNER, "/buy INFY 5")
            start = fake.mark()
            fake.press(OWNER, ticket, "Confirm")
            fake.fail_next("sendMessage", 400, "Bad Request: chat not found")
            await fake.wait_for("editMessageText", start=start)
            await ticket_for(fake, OWNER, "/positions")
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    formatter = logging.Formatter()
    texts = [formatter.format(r) for r in records]
    assert len(texts) > 50  # a whole session at DEBUG, httpx included
    assert any("/bot" in t for t in texts)  # request URLs were logged...
    assert not any(TOKEN in t for t in texts)  # ...without the token


async def test_alerts_pending_at_shutdown_are_delivered_after_a_restart(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as fake:
        async with desk(tmp_path, fake) as (service, _):
            fake.go_down()
            ticket = await service.desk.preview_order(OWNER, OWNER, _order(1))
            await service.desk.confirm(ticket.confirmation.id, OWNER)
            await asyncio.sleep(0.2)
            assert await service.notifier.pending_count() > 0  # type: ignore[union-attr]
        fake.come_back()
        start = fake.mark()
        async with desk(tmp_path, fake) as (service, _):
            assert await service.settle(10)
        text = "\n".join(
            c.params.get("text", "") for c in fake.calls_of("sendMessage") if c.status == 200
        )
        later = "\n".join(
            c.params.get("text", "") for c in fake.calls[start:] if c.method == "sendMessage"
        )
        assert "<b>Placed" in later and "<b>Filled" in later
        assert text.count("<b>Filled") == 1  # once, not once per attempt


async def test_a_429_storm_loses_no_alert_and_keeps_their_order(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as fake, desk(tmp_path, fake) as (service, _):
        start = fake.mark()
        fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", 1, times=5)
        for n in range(5):
            ticket = await service.desk.preview_order(OWNER, OWNER, _order(n))
            await service.desk.confirm(ticket.confirmation.id, OWNER)
        assert await service.settle(30)
        sent = [c for c in fake.calls[start:] if c.method == "sendMessage"]
        assert [c.status for c in sent[:5]] == [429] * 5
        text = "\n".join(c.params["text"] for c in sent if c.status == 200)
        filled = [line for line in text.splitlines() if line.startswith("<b>Filled")]
        quantities = [int(line.split("BUY ")[1].split()[0]) for line in filled]
        assert quantities == [1, 2, 3, 4, 5]  # all five, in the order they happened
