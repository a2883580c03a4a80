"""A Kite account through the whole service: fake Kite REST + ticker on loopback, real client."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from bot.app import Service
from bot.handlers import handle_button, handle_text
from core.config import AppConfig, load_config
from core.orders.sync import SyncSettings
from tests.fakes.kite import FakeKite
from tests.fakes.kite_ticker import FakeKiteTicker
from tests.support import ANY_HOUR, FAST_EXITS, AlertLog, running_service
from tests.test_flows import OWNER, confirm_data


@asynccontextmanager
async def kite_fakes() -> AsyncIterator[tuple[FakeKite, FakeKiteTicker]]:
    """Kite's REST API and ticker, sharing one session (a login at REST works on the ticker)."""
    async with FakeKite() as rest, FakeKiteTicker(heartbeat_s=0.1) as ticker:
        ticker.token_source = lambda: rest.access_token
        yield rest, ticker


def kite_config(
    tmp_path: Path,
    rest: FakeKite,
    ticker: FakeKiteTicker,
    *,
    environ: dict[str, str] | None = None,
    **settings: Any,
) -> AppConfig:
    """One Kite account named ``kite`` on the fakes, logged in unless ``access_token=None``;
    ``environ`` adds configuration variables (a ``[telegram]`` section, a schedule)."""
    account = {
        "name": "kite",
        "broker": "zerodha",
        "api_key": rest.api_key,
        "api_secret": rest.api_secret,
        "access_token": rest.access_token,
        "api_url": rest.api_url,
        "ticker_url": ticker.url,
        **settings,
    }
    variables = {
        **ANY_HOUR,
        "POCKETDESK_STORAGE__PATH": str(tmp_path / "desk.db"),
        "POCKETDESK_ACCOUNTS": json.dumps([account]),
        **(environ or {}),
    }
    return load_config(None, environ=variables)


@asynccontextmanager
async def kite_desk(
    tmp_path: Path,
    alerts: AlertLog,
    fakes: tuple[FakeKite, FakeKiteTicker] | None = None,
    **settings: Any,
) -> AsyncIterator[tuple[Service, FakeKite, FakeKiteTicker]]:
    async with AsyncExitStack() as stack:
        rest, ticker = fakes or await stack.enter_async_context(kite_fakes())
        config = kite_config(tmp_path, rest, ticker, **settings)
        sync = SyncSettings(
            poll_interval_s=0.1, lost_after_misses=3, lost_after_s=0, session_check_s=0.2
        )
        async with running_service(config, alerts=alerts, sync=sync, exits=FAST_EXITS) as svc:
            yield svc, rest, ticker


async def place(service: Service, line: str) -> str:
    """Send a command, press Confirm; return the reply text."""
    [ticket] = await handle_text(service.desk, OWNER, line)
    assert ticket.buttons, ticket.html
    [result] = await handle_button(service.desk, OWNER, confirm_data(ticket))
    return result.html


async def test_a_buy_sends_kites_form_with_our_tag(tmp_path: Path) -> None:
    alerts = AlertLog()
    async with kite_desk(tmp_path, alerts) as (service, rest, _ticker):
        await place(service, "/buy INFY 5 product=MIS")
        [sent] = rest.of("POST", "/orders/regular")
        [order] = await service.tracker.recent()
        assert sent.form == {
            "exchange": "NSE",
            "tradingsymbol": "INFY",
            "transaction_type": "BUY",
            "quantity": "5",
            "product": "MIS",
            "order_type": "MARKET",
            "validity": "DAY",
            "tag": order.client_order_id,
            "market_protection": "-1",
        }
        assert sent.headers["X-Kite-Version"] == "3"
        assert sent.headers["Authorization"] == f"token {rest.api_key}:{rest.access_token}"


async def test_partial_fills_and_completion_arrive_on_the_ticker(tmp_path: Path) -> None:
    alerts = AlertLog()
    async with kite_desk(tmp_path, alerts) as (service, rest, ticker):
        rest.script_next_order(2, 3)
        await place(service, "/buy INFY 5 @1500")
        [order] = await service.tracker.recent()
        [kite_id] = [h[-1]["order_id"] for h in rest.orders.values()]
        rest.step(kite_id)
        await ticker.push_order(rest.order(kite_id))
        [partial] = await alerts.wait_for("order_partially_filled")
        assert partial.data["fill_quantity"] == "2"
        rest.step(kite_id)
        await ticker.push_order(rest.order(kite_id))
        [filled] = await alerts.wait_for("order_filled")
        assert filled.data["filled_quantity"] == "5"
        assert (await service.tracker.get(order.client_order_id)).status.value == "FILLED"  # type: ignore[union-attr]


async def test_a_rejection_after_placed_is_alerted_with_kites_reason(tmp_path: Path) -> None:
    alerts = AlertLog()
    async with kite_desk(tmp_path, alerts) as (service, rest, ticker):
        rest.script_next_order("reject", status_message="Insufficient funds. Required 9541.84")
        await place(service, "/buy INFY 5 @1500")
        [kite_id] = list(rest.orders)
        rest.step(kite_id)
        await ticker.push_order(rest.order(kite_id))
        [rejected] = await alerts.wait_for("order_rejected")
        assert "Insufficient funds" in rejected.data["message"]


async def test_a_placed_but_timed_out_order_is_found_by_its_tag_not_placed_again(
    tmp_path: Path,
) -> None:
    alerts = AlertLog()
    async with kite_desk(tmp_path, alerts, timeout_s=0.3) as (service, rest, _ticker):
        [ticket] = await handle_text(service.desk, OWNER, "/buy INFY 5 @1500")
        # The placement: Kite takes the order, its answer comes too late.
        rest.delay_next(1.0, path="/orders/regular")
        [reply] = await handle_button(service.desk, OWNER, confirm_data(ticket))
        assert "waiting for the broker" in reply.html
        await alerts.wait_for("order_placed")
        [order] = await service.tracker.recent()
        assert order.broker_order_id is not None
        assert len(rest.of("POST", "/orders/regular")) == 1


async def test_a_silent_ticker_falls_back_to_rest_quotes_and_the_stop_fires(
    tmp_path: Path,
) -> None:
    from decimal import Decimal

    alerts = AlertLog()
    async with kite_desk(tmp_path, alerts) as (service, rest, ticker):
        rest.script_next_order(5, at_once=True)
        await place(service, "/buy INFY 5 sl=1400")
        await alerts.wait_for("exit_armed")
        ticker.go_silent()
        await alerts.wait_for("feed_fallback")
        rest.script_next_order(5, at_once=True)
        rest.prices["NSE:INFY"] = Decimal("1390")
        [fired] = await alerts.wait_for("exit_triggered")
        assert "stop-loss hit at 1390" in fired.data["message"]
        sells = [
            r for r in rest.of("POST", "/orders/regular") if r.form["transaction_type"] == "SELL"
        ]
        assert len(sells) == 1


async def test_a_dead_token_pauses_the_account_with_a_login_alert(tmp_path: Path) -> None:
    alerts = AlertLog()
    async with kite_desk(tmp_path, alerts) as (service, rest, ticker):
        rest.expire_token()
        ticker.expire_token()
        [expired] = await alerts.wait_for("token_expired")
        assert "log in again" in expired.data["message"]
        assert not service.gate.is_open("kite")
        [reply] = await handle_text(service.desk, OWNER, "/buy INFY 5 @1500")
        if reply.buttons:  # the ticket could be prepared; confirming it must still refuse
            [reply] = await handle_button(service.desk, OWNER, confirm_data(reply))
        assert reply.error
        await asyncio.sleep(0.3)
        assert rest.of("POST", "/orders/regular") == []
        assert len(await alerts.wait_for("token_expired")) == 1


async def test_login_from_a_pasted_address_opens_trading_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    alerts = AlertLog()
    async with kite_desk(tmp_path, alerts, access_token=None) as (service, rest, _ticker):
        await alerts.wait_for("token_expired")  # no session yet: the account is closed
        assert not service.gate.is_open("kite")
        [start] = await handle_text(service.desk, OWNER, "/login kite")
        [[button]] = start.buttons
        assert button.url is not None and "api_key=fakekey" in button.url
        pasted = (
            "https://127.0.0.1/kite/callback?action=login&type=login&status=success"
            "&request_token=fake-request-token"
        )
        [done] = await handle_text(service.desk, OWNER, f"/login kite {pasted}")
        assert not done.error and "Logged in" in done.html
        [login] = rest.of("POST", "/session/token")
        assert (
            login.form["checksum"]
            == hashlib.sha256(b"fakekey" + b"fake-request-token" + b"fakesecret").hexdigest()
        )
        async with asyncio.timeout(5):
            while not service.gate.is_open("kite"):
                await service.tracker.wait_for_change(0.05)
        await place(service, "/buy INFY 1 @1500")
        assert len(rest.of("POST", "/orders/regular")) == 1
        stored = (tmp_path / "desk.db").read_bytes() + (tmp_path / "desk.db-wal").read_bytes()
        assert rest.access_token.encode() not in stored  # encrypted at rest
        [bad] = await handle_text(service.desk, OWNER, "/login kite https://x/cb?status=failed")
        assert bad.error


async def test_a_stored_session_is_used_again_after_a_restart(tmp_path: Path) -> None:
    pasted = "https://127.0.0.1/cb?action=login&status=success&request_token=fake-request-token"
    async with kite_fakes() as fakes:
        async with kite_desk(tmp_path, AlertLog(), fakes, access_token=None) as (service, _, _):
            await handle_text(service.desk, OWNER, f"/login kite {pasted}")
            assert await service.settle(5)  # its alerts (the login it lacked at first) delivered
        alerts = AlertLog()
        async with kite_desk(tmp_path, alerts, fakes, access_token=None) as (service, rest, _):
            assert service.gate.is_open("kite")  # the start-up sync opened it: no new login
            await place(service, "/buy INFY 1 @1500")
            assert len(rest.of("POST", "/orders/regular")) == 1
        assert "token_expired" not in alerts.kinds()
