"""Kite and Telegram together: a dead login reaches the phone with a button to log in again."""

from __future__ import annotations

from pathlib import Path

from bot.app import telegram_service
from core.orders.sync import SyncSettings
from tests.brokers.zerodha.test_service import kite_config, kite_fakes
from tests.fakes.telegram import FakeTelegram
from tests.support import FAST_EXITS
from tests.test_telegram import OWNER, TOKEN


async def test_a_dead_kite_login_sends_a_log_in_button(tmp_path: Path) -> None:
    async with kite_fakes() as (rest, ticker), FakeTelegram(TOKEN) as telegram:
        chat = {
            "POCKETDESK_TELEGRAM__TOKEN": TOKEN,
            "POCKETDESK_TELEGRAM__API_URL": telegram.api_url,
            "POCKETDESK_TELEGRAM__OWNERS": str(OWNER),
        }
        config = kite_config(tmp_path, rest, ticker, access_token=None, environ=chat)
        sync = SyncSettings(poll_interval_s=0.1, session_check_s=0.2)
        async with telegram_service(
            config, sync_settings=sync, exit_settings=FAST_EXITS, pace_s=0, poll_timeout_s=1
        ):
            [alert] = await telegram.wait_for(
                "sendMessage", lambda c: "Log in again" in c.params.get("text", "")
            )
            assert "/login kite" in alert.params["text"]
            [prompt] = await telegram.wait_for("sendMessage", lambda c: "reply_markup" in c.params)
            [[button]] = prompt.params["reply_markup"]["inline_keyboard"]
            assert button["url"].startswith("https://kite.zerodha.com/connect/login")
            assert "api_key=fakekey" in button["url"]
