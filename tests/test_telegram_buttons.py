"""Buttons where a tap beats typing: the account picker, positions, orders; paced alerts."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.app import Service, telegram_service
from tests.fakes.telegram import Call, FakeTelegram
from tests.support import FAST_EXITS, paper_config
from tests.test_telegram import INFY, OWNER, TOKEN, VIEWER, paper, ticket_for, to

SECOND = {"name": "paper2", "broker": "paper", "default_exchange": "NSE", "feed": "random"}


@asynccontextmanager
async def desk(
    tmp_path: Path, fake: FakeTelegram, *, pace_s: float = 0.0, accounts: tuple[Any, ...] = ()
) -> AsyncIterator[Service]:
    config = paper_config(
        tmp_path,
        more_accounts=accounts,
        telegram={
            "token": TOKEN,
            "api_url": fake.api_url,
            "owners": str(OWNER),
            "viewers": str(VIEWER),
        },
    )
    async with telegram_service(
        config, exit_settings=FAST_EXITS, pace_s=pace_s, poll_timeout_s=1
    ) as (service, _front):
        await fake.wait_for("getUpdates")
        yield service


async def answer(fake: FakeTelegram, user: int, text: str, marker: str) -> Call:
    """Send a command; the bot's message carrying ``marker`` (alerts may arrive meanwhile)."""
    start = fake.mark()
    fake.send_text(user, text)
    [sent] = await fake.wait_for(
        "sendMessage", lambda c: to(user)(c) and marker in c.params.get("text", ""), start=start
    )
    return sent


async def press(fake: FakeTelegram, user: int, message: Call, button: str) -> int:
    start = fake.mark()
    fake.press(user, message, button)
    await fake.wait_for("answerCallbackQuery", start=start)
    return start


async def test_an_ambiguous_symbol_asks_which_account(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as fake, desk(tmp_path, fake, accounts=(SECOND,)) as service:
        picker = await ticket_for(fake, OWNER, "/buy INFY 5")
        assert "Which account?" in picker.params["text"]
        start = await press(fake, OWNER, picker, "paper2")
        [ticket] = await fake.wait_for(
            "sendMessage", lambda c: "Account: paper2" in c.params.get("text", ""), start=start
        )
        await press(fake, OWNER, ticket, "Confirm")
        await fake.wait_for("editMessageText", start=start)
        assert len(await service.registry.get("paper2").fetch_orders()) == 1
        assert await paper(service).fetch_orders() == []


async def test_position_buttons_exit_hint_and_refresh(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as fake, desk(tmp_path, fake) as service:
        ticket = await ticket_for(fake, OWNER, "/buy INFY 5")
        start = await press(fake, OWNER, ticket, "Confirm")
        await fake.wait_for("editMessageText", start=start)
        positions = await answer(fake, OWNER, "/positions", "<b>Positions")
        labels = [
            b["text"] for row in positions.params["reply_markup"]["inline_keyboard"] for b in row
        ]
        assert labels == ["Exit INFY", "SL/TP INFY", "Refresh"]

        start = await press(fake, OWNER, positions, "SL/TP INFY")
        await fake.wait_for(
            "sendMessage", lambda c: "/sl NSE:INFY" in c.params.get("text", ""), start=start
        )

        paper(service).set_price(INFY, "2000")
        start = await press(fake, OWNER, positions, "Refresh")
        [refreshed] = await fake.wait_for(
            "editMessageText", lambda c: "Positions" in c.params["text"], start=start
        )
        assert refreshed.params["message_id"] == positions.result["message_id"]  # type: ignore[index]
        assert "last 2,000.00" in refreshed.params["text"]

        start = await press(fake, OWNER, positions, "Exit INFY")
        [exit_ticket] = await fake.wait_for(
            "sendMessage", lambda c: "SELL 5" in c.params.get("text", ""), start=start
        )
        assert "SELL 5" in exit_ticket.params["text"]
        start = await press(fake, OWNER, exit_ticket, "Confirm")
        await fake.wait_for("editMessageText", start=start)
        assert sum(p.quantity for p in await paper(service).fetch_positions()) == 0


async def test_order_buttons_cancel_and_modify(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as fake, desk(tmp_path, fake) as service:
        paper(service).set_price(INFY, "1500")
        ticket = await ticket_for(fake, OWNER, "/buy INFY 5 @1400")
        start = await press(fake, OWNER, ticket, "Confirm")
        await fake.wait_for("editMessageText", start=start)
        orders = await answer(fake, OWNER, "/orders", "<b>Orders")
        labels = [
            b["text"] for row in orders.params["reply_markup"]["inline_keyboard"] for b in row
        ]
        assert labels[0].startswith("Cancel ") and labels[1].startswith("Modify ")

        start = await press(fake, OWNER, orders, labels[1])
        await fake.wait_for(
            "sendMessage", lambda c: "/modify" in c.params.get("text", ""), start=start
        )

        start = await press(fake, OWNER, orders, labels[0])
        [cancel_ticket] = await fake.wait_for(
            "sendMessage", lambda c: "Cancel order" in c.params.get("text", ""), start=start
        )
        start = await press(fake, OWNER, cancel_ticket, "Confirm")
        await fake.wait_for(
            "editMessageText", lambda c: "cancelled" in c.params["text"].lower(), start=start
        )
        [report] = await paper(service).fetch_orders()
        assert report.status.value == "CANCELLED"

        start = await press(fake, VIEWER, orders, labels[0])
        await fake.wait_for(
            "sendMessage", lambda c: "Only an owner" in c.params.get("text", ""), start=start
        )


async def test_a_burst_of_alerts_is_grouped_and_paced_per_chat(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as fake, desk(tmp_path, fake, pace_s=1.0) as service:
        start = fake.mark()
        for _ in range(4):
            order = await service.desk.preview_order(OWNER, OWNER, _order())
            await service.desk.confirm(order.confirmation.id, OWNER)
        assert await service.settle(20)
        alerts = [
            c
            for c in fake.calls_of("sendMessage")[0:]
            if c.status == 200 and fake.calls.index(c) >= start
        ]
        text = "\n".join(c.params["text"] for c in alerts)
        assert text.count("<b>Placed") == 4 and text.count("<b>Filled") == 4
        assert len(alerts) < 8  # grouped, not one message per event
        gaps = [b.at - a.at for a, b in itertools.pairwise(alerts)]
        assert all(gap >= 0.95 for gap in gaps)  # about one message a second per chat
        await asyncio.sleep(0)


def _order() -> Any:
    from core.desk import OrderInput
    from core.domain.models import Side

    return OrderInput(side=Side.BUY, symbol="INFY", quantity=1)
