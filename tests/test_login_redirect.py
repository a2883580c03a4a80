"""The login redirect receiver: Kite sends the browser back, pocketdesk finishes the login.

The whole service runs against the fake Kite server; httpx plays the browser that Kite
redirects, with the query Kite would add: its own fields plus the link's ``redirect_params``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from bot.app import Service
from bot.handlers import handle_text
from core.access.login_states import LINK_TTL_S, MAX_LIVE_PER_ACCOUNT, LoginStates
from core.config import load_config
from core.domain.clock import ManualClock
from core.domain.errors import ConfigError
from core.orders.sync import SyncSettings
from core.storage.audit import AuditRepository
from core.storage.sessions import SessionRepository
from tests.brokers.zerodha.test_service import kite_config, kite_fakes
from tests.fakes.kite import FakeKite
from tests.support import FAST_EXITS, AlertLog, running_service
from tests.test_flows import OWNER

TOKEN = "fake-request-token"  # the one request token the fake Kite accepts (once)


@asynccontextmanager
async def kite_without_session(
    tmp_path: Path, alerts: AlertLog, listen: str = "127.0.0.1:0"
) -> AsyncIterator[tuple[Service, FakeKite]]:
    """A Kite account that needs a login, with the redirect receiver on ``listen`` ("" = off)."""
    async with kite_fakes() as (rest, ticker):
        listening = {"POCKETDESK_LOGIN__REDIRECT_LISTEN": listen} if listen else {}
        config = kite_config(tmp_path, rest, ticker, access_token=None, environ=listening)
        sync = SyncSettings(poll_interval_s=0.1, session_check_s=0.2)
        async with running_service(config, alerts=alerts, sync=sync, exits=FAST_EXITS) as svc:
            yield svc, rest


async def login_link(service: Service) -> str:
    """The URL of the button ``/login kite`` answers with."""
    [reply] = await handle_text(service.desk, OWNER, "/login kite")
    [[button]] = reply.buttons
    assert button.url is not None
    return button.url


def passed_back(link: str) -> dict[str, str]:
    """The ``redirect_params`` of a login link, as the query parameters Kite hands back."""
    [encoded] = parse_qs(urlsplit(link).query)["redirect_params"]
    return {key: value for key, [value] in parse_qs(encoded).items()}


def redirect_address(service: Service, link: str, **query: str) -> str:
    """Where Kite sends the browser after a login through ``link`` (fields overridable)."""
    fields = {"action": "login", "type": "login", "status": "success", "request_token": TOKEN}
    fields |= passed_back(link)
    fields |= query
    return f"http://127.0.0.1:{service.redirect_port}/login?{urlencode(fields)}"


async def browse(address: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as browser:
        return await browser.get(address)


async def audit_actions(service: Service) -> list[str]:
    async with service.db.read() as tx:
        return [action for _, _, action, _ in await AuditRepository().recent(tx, 50)]


async def test_a_redirect_with_the_links_state_logs_in_once(tmp_path: Path) -> None:
    alerts = AlertLog()
    async with kite_without_session(tmp_path, alerts) as (service, rest):
        await alerts.wait_for("token_expired")  # no session yet: the account is closed
        link = await login_link(service)
        assert link.startswith("https://kite.zerodha.com/connect/login?api_key=fakekey&v=3&")
        back = passed_back(link)
        assert back["account"] == "kite" and len(back["state"]) >= 32
        assert passed_back(await login_link(service))["state"] != back["state"]

        address = redirect_address(service, link)
        page = await browse(address)
        assert page.status_code == 200
        assert "Logged in to kite as AB1234. You can close this tab." in page.text
        assert TOKEN not in page.text and back["state"] not in page.text
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        [login] = rest.of("POST", "/session/token")
        assert login.form["request_token"] == TOKEN
        async with service.db.read() as tx:
            assert await SessionRepository().load(tx, "kite") is not None
        stored = (tmp_path / "desk.db").read_bytes() + (tmp_path / "desk.db-wal").read_bytes()
        assert rest.access_token.encode() not in stored  # encrypted at rest
        [alert] = await alerts.wait_for("logged_in")
        assert alert.account == "kite" and "AB1234" in alert.data["message"]
        async with asyncio.timeout(5):
            while not service.gate.is_open("kite"):
                await service.tracker.wait_for_change(0.05)

        again = await browse(address)  # the same address, replayed
        assert again.status_code == 403 and "already used" in again.text
        assert len(rest.of("POST", "/session/token")) == 1
        assert alerts.kinds().count("logged_in") == 1
        assert "login redirect refused" in await audit_actions(service)


async def test_a_forged_or_missing_state_is_refused_and_never_reaches_kite(
    tmp_path: Path,
) -> None:
    alerts = AlertLog()
    async with kite_without_session(tmp_path, alerts) as (service, rest):
        link = await login_link(service)
        state = passed_back(link)["state"]
        forged = [
            redirect_address(service, link, state="forged-state-0000000000000000000"),
            redirect_address(service, link).replace(f"state={state}", "x=1"),
            redirect_address(service, link, account="other"),  # a real state, another account
            f"http://127.0.0.1:{service.redirect_port}/login?request_token={TOKEN}",
        ]
        for address in forged:
            page = await browse(address)
            assert page.status_code == 403, address
            assert TOKEN not in page.text and "Login link not valid" in page.text
        assert rest.of("POST", "/session/token") == []
        assert not service.gate.is_open("kite")
        assert (await audit_actions(service)).count("login redirect refused") == len(forged)
        assert (await browse(redirect_address(service, link))).status_code == 200  # untouched


async def test_a_cancelled_login_changes_nothing_and_keeps_the_link(tmp_path: Path) -> None:
    alerts = AlertLog()
    async with kite_without_session(tmp_path, alerts) as (service, rest):
        link = await login_link(service)
        cancelled = await browse(redirect_address(service, link, status="cancelled"))
        assert cancelled.status_code == 400
        assert "did not succeed (status=cancelled)" in cancelled.text
        no_token = await browse(redirect_address(service, link, request_token=""))
        assert no_token.status_code == 400 and "no request_token" in no_token.text
        assert rest.of("POST", "/session/token") == []
        assert "logged_in" not in alerts.kinds()
        assert (await browse(redirect_address(service, link))).status_code == 200


async def test_a_token_kite_refuses_shows_a_clear_page_and_uses_the_link_up(
    tmp_path: Path,
) -> None:
    alerts = AlertLog()
    async with kite_without_session(tmp_path, alerts) as (service, rest):
        link = await login_link(service)
        stale = "stale0request0token"
        page = await browse(redirect_address(service, link, request_token=stale))
        assert page.status_code == 400
        assert "The broker refused the login" in page.text and stale not in page.text
        assert len(rest.of("POST", "/session/token")) == 1
        assert not service.gate.is_open("kite")
        assert "logged_in" not in alerts.kinds()
        assert (await browse(redirect_address(service, link))).status_code == 403
        # Pasting in chat still works, state or not.
        pasted = redirect_address(service, await login_link(service))
        [done] = await handle_text(service.desk, OWNER, f"/login kite {pasted}")
        assert not done.error and "Logged in" in done.html


async def test_without_redirect_listen_nothing_listens_and_links_carry_no_state(
    tmp_path: Path,
) -> None:
    async with kite_without_session(tmp_path, AlertLog(), listen="") as (service, _rest):
        assert service.redirect is None and service.redirect_port is None
        link = await login_link(service)
        assert "redirect_params" not in link and "state" not in link


async def test_a_taken_address_alerts_and_the_service_runs_on(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        alerts = AlertLog()
        async with kite_without_session(tmp_path, alerts, f"127.0.0.1:{port}") as (service, _):
            [failed] = await alerts.wait_for("component_failed")
            assert "redirect receiver cannot listen" in failed.data["message"]
            assert service.redirect is None
            [done] = await handle_text(
                service.desk, OWNER, f"/login kite ?status=success&request_token={TOKEN}"
            )
            assert not done.error


def test_states_are_single_use_bound_to_their_account_and_expire() -> None:
    clock = ManualClock()
    states = LoginStates(clock)
    one, two = states.issue("kite"), states.issue("kite")
    assert not states.redeem("other", one)
    assert states.redeem("kite", one) and not states.redeem("kite", one)
    clock.advance(LINK_TTL_S + 1)
    assert not states.is_valid("kite", two)
    many = [states.issue("kite") for _ in range(MAX_LIVE_PER_ACCOUNT + 1)]
    assert not states.is_valid("kite", many[0])  # the oldest made room
    assert all(states.is_valid("kite", s) for s in many[1:])


@pytest.mark.parametrize("listen", ["127.0.0.1", "127.0.0.1:70000", ":8765"])
def test_redirect_listen_must_be_host_and_port(listen: str) -> None:
    with pytest.raises(ConfigError, match="redirect_listen"):
        load_config(None, environ={"POCKETDESK_LOGIN__REDIRECT_LISTEN": listen})
