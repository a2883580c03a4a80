"""The desk end to end: handlers -> core -> paper broker -> SQLite, as a trader uses it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.handlers import UserContext, handle_button, handle_text
from bot.render import CONFIRM_PREFIX, DISMISS_PREFIX
from bot.replies import Reply, to_plain
from brokers.paper import PaperBroker
from core.domain.clock import ManualClock
from core.domain.models import OrderStatus
from tests.support import AlertLog, paper_config, running_service

OWNER = UserContext(user_id=1, chat_id=1)
VIEWER = UserContext(user_id=2, chat_id=2, can_trade=False)


def confirm_data(reply: Reply) -> str:
    [[confirm, _cancel]] = reply.buttons
    assert confirm.data.startswith(CONFIRM_PREFIX)
    return confirm.data


def paper(service: object) -> PaperBroker:
    broker = service.registry.get("paper")  # type: ignore[attr-defined]
    assert isinstance(broker, PaperBroker)
    return broker


async def test_buy_confirm_positions_exit(tmp_path: Path) -> None:
    alerts = AlertLog()
    async with running_service(paper_config(tmp_path), alerts=alerts) as service:
        desk = service.desk
        [ticket] = await handle_text(desk, OWNER, "/buy RELIANCE 10")
        assert "BUY 10 NSE:RELIANCE" in to_plain(ticket.html)
        [placed] = await handle_button(desk, OWNER, confirm_data(ticket))
        assert "filled 10" in to_plain(placed.html)

        [positions] = await handle_text(desk, OWNER, "/positions")
        assert "NSE:RELIANCE +10" in to_plain(positions.html)
        assert "P&L" in to_plain(positions.html)

        [exit_ticket] = await handle_text(desk, OWNER, "/exit RELIANCE")
        assert "SELL 10" in to_plain(exit_ticket.html)
        await handle_button(desk, OWNER, confirm_data(exit_ticket))
        [after] = await handle_text(desk, OWNER, "/positions")
        assert "flat" in to_plain(after.html)

        assert await service.settle(5)
        broker_orders = await paper(service).fetch_orders()
        assert [o.side.value for o in broker_orders] == ["BUY", "SELL"]
    assert alerts.kinds() == ["order_placed", "order_filled", "order_placed", "order_filled"]


async def test_a_double_pressed_confirmation_places_one_order(tmp_path: Path) -> None:
    async with running_service(paper_config(tmp_path)) as service:
        [ticket] = await handle_text(service.desk, OWNER, "/buy INFY 5")
        data = confirm_data(ticket)
        first, second = await asyncio.gather(
            handle_button(service.desk, OWNER, data), handle_button(service.desk, OWNER, data)
        )
        [again] = await handle_button(service.desk, OWNER, data)
        texts = [to_plain(r.html) for r in (*first, *second, again)]
        assert sum("Already confirmed" in t for t in texts) == 2
        assert len(await paper(service).fetch_orders()) == 1


async def test_a_replayed_confirmation_after_restart_places_nothing(tmp_path: Path) -> None:
    config = paper_config(tmp_path)
    async with running_service(config) as service:
        [ticket] = await handle_text(service.desk, OWNER, "/buy INFY 5")
        data = confirm_data(ticket)
        await handle_button(service.desk, OWNER, data)
    async with running_service(config) as service:
        [replay] = await handle_button(service.desk, OWNER, data)
        assert "Already confirmed" in to_plain(replay.html)
        assert len(await paper(service).fetch_orders()) == 1


async def test_an_expired_confirmation_places_nothing_and_says_so(tmp_path: Path) -> None:
    clock = ManualClock()
    async with running_service(paper_config(tmp_path), clock=clock) as service:
        [ticket] = await handle_text(service.desk, OWNER, "/buy INFY 5")
        clock.advance(61)
        [reply] = await handle_button(service.desk, OWNER, confirm_data(ticket))
        assert reply.error and "expired" in to_plain(reply.html)
        assert await paper(service).fetch_orders() == []


async def test_a_cancelled_ticket_sends_nothing(tmp_path: Path) -> None:
    async with running_service(paper_config(tmp_path)) as service:
        [ticket] = await handle_text(service.desk, OWNER, "/buy INFY 5")
        [_, cancel] = ticket.buttons[0]
        assert cancel.data.startswith(DISMISS_PREFIX)
        [reply] = await handle_button(service.desk, OWNER, cancel.data)
        assert "Nothing was sent" in to_plain(reply.html)
        [late] = await handle_button(service.desk, OWNER, confirm_data(ticket))
        assert late.error
        assert await paper(service).fetch_orders() == []


async def test_someone_elses_ticket_and_a_viewer_place_nothing(tmp_path: Path) -> None:
    async with running_service(paper_config(tmp_path)) as service:
        [ticket] = await handle_text(service.desk, OWNER, "/buy INFY 5")
        other = UserContext(user_id=99, chat_id=99)
        [reply] = await handle_button(service.desk, other, confirm_data(ticket))
        assert "someone else" in to_plain(reply.html)
        [viewer_press] = await handle_button(service.desk, VIEWER, confirm_data(ticket))
        assert viewer_press.error
        [viewer_buy] = await handle_text(service.desk, VIEWER, "/buy INFY 5")
        assert viewer_buy.error and not viewer_buy.buttons
        assert await paper(service).fetch_orders() == []


@pytest.mark.parametrize(
    "line",
    [
        "/buy",
        "/buy RELIANCE",
        "/buy RELIANCE ten",
        "/buy RELIANCE -5",
        "/buy RELIANCE 10 @abc",
        "/buy RELIANCE 10 sl=",
        "/sell RELIANCE 10 bogus=1",
        "/buy NOSUCHSYMBOL 10",
        "/buy RELIANCE 10 on=nobody",
        "/cancel",
        "/modify 123",
        "/frobnicate",
        "buy RELIANCE 10",
        "/exit RELIANCE",
        "/quote ???",
    ],
)
async def test_malformed_or_impossible_commands_answer_clearly_and_send_nothing(
    tmp_path: Path, line: str
) -> None:
    async with running_service(paper_config(tmp_path)) as service:
        replies = await handle_text(service.desk, OWNER, line)
        assert replies and all(r.error for r in replies)
        assert all(not r.buttons for r in replies)
        assert await paper(service).fetch_orders() == []
        assert await service.tracker.recent() == []


async def test_limit_order_cancel_and_modify_through_tickets(tmp_path: Path) -> None:
    async with running_service(paper_config(tmp_path)) as service:
        broker = paper(service)
        broker.set_price("NSE:INFY", "1500")
        [ticket] = await handle_text(service.desk, OWNER, "/buy INFY 5 @1400")
        [placed] = await handle_button(service.desk, OWNER, confirm_data(ticket))
        ref = to_plain(placed.html).split()[1].rstrip(":")
        [modify] = await handle_text(service.desk, OWNER, f"/modify {ref} price=1410")
        [changed] = await handle_button(service.desk, OWNER, confirm_data(modify))
        assert "1,410" in to_plain(changed.html)
        [cancel] = await handle_text(service.desk, OWNER, f"/cancel {ref}")
        await handle_button(service.desk, OWNER, confirm_data(cancel))
        [order] = await service.tracker.recent()
        assert order.status is OrderStatus.CANCELLED
        assert order.request.price == 1410
        [report] = await broker.fetch_orders()
        assert report.status is OrderStatus.CANCELLED


async def test_an_off_tick_price_is_rounded_on_the_ticket_before_confirming(tmp_path: Path) -> None:
    async with running_service(paper_config(tmp_path)) as service:
        [buy] = await handle_text(service.desk, OWNER, "/buy RELIANCE 7 @1400.033")
        [sell] = await handle_text(service.desk, OWNER, "/sell RELIANCE 7 @1400.033")
        assert "limit 1,400.00" in to_plain(buy.html)  # a buy never pays more than asked
        assert "limit 1,400.05" in to_plain(sell.html)  # a sell never takes less


async def test_a_bare_symbol_goes_to_the_one_account_that_knows_it(tmp_path: Path) -> None:
    us = {"name": "us", "broker": "paper", "default_exchange": "NASDAQ", "currency": "USD"}
    config = paper_config(tmp_path, more_accounts=(us,))
    async with running_service(config) as service:
        [apple] = await handle_text(service.desk, OWNER, "/buy AAPL 1")
        assert "NASDAQ:AAPL" in apple.html and "Account: us" in apple.html
        [reliance] = await handle_text(service.desk, OWNER, "/buy RELIANCE 1")
        assert "Account: paper" in reliance.html
        [unknown] = await handle_text(service.desk, OWNER, "/buy NOSUCH 1")
        assert unknown.error and "no account knows NOSUCH" in unknown.html
