"""Secrets at rest: `pocketdesk secrets`, stored secrets used at start-up, env: references,
and no secret in the database file, the logs, /status or an error message."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path

import pytest

from bot.cli import main
from bot.handlers import handle_text
from bot.replies import to_plain
from core.access.secret_box import SecretBox
from core.access.secret_store import SecretStore
from core.domain.clock import SystemClock
from core.domain.errors import ConfigError
from core.storage import Database
from tests.brokers.zerodha.test_service import kite_desk, kite_fakes
from tests.support import AlertLog
from tests.test_flows import OWNER

SECRET = "fakesecret"  # what the fake Kite checks the login checksum with
PASTED = "https://127.0.0.1/cb?action=login&status=success&request_token=fake-request-token"


def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "pocketdesk.toml"
    path.write_text(
        f'[storage]\npath = "{tmp_path / "desk.db"}"\n\n'
        '[[accounts]]\nname = "kite"\nbroker = "zerodha"\napi_key = "fakekey"\n'
    )
    return path


def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str,
            stdin: str = "") -> tuple[int, str]:  # fmt: skip
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def database_bytes(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp_path.glob("desk.db*") if p.suffix != ".key")


def test_secrets_set_list_delete_never_show_or_store_the_value_in_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = str(config_file(tmp_path))
    code, out = run_cli(
        monkeypatch, capsys, "secrets", "set", "kite", "api_secret", "--config", cfg,
        stdin="s3cr3t-value\n",
    )  # fmt: skip
    assert code == 0 and "stored kite.api_secret" in out and "s3cr3t" not in out
    code, out = run_cli(monkeypatch, capsys, "secrets", "list", "--config", cfg)
    assert code == 0 and "kite.api_secret" in out and "s3cr3t" not in out
    assert b"s3cr3t-value" not in database_bytes(tmp_path)
    assert (tmp_path / "desk.db.key").stat().st_mode & 0o777 == 0o600

    code, out = run_cli(
        monkeypatch, capsys, "secrets", "set", "nosuch", "api_secret", "--config", cfg, stdin="x\n"
    )
    assert code == 2 and "no account 'nosuch'" in out
    code, out = run_cli(monkeypatch, capsys, "secrets", "set", "kite", "broker", "--config", cfg)
    assert code == 2 and "not a broker setting" in out
    code, out = run_cli(
        monkeypatch, capsys, "secrets", "set", "kite", "api_secret", "--config", cfg, stdin="\n"
    )
    assert code == 2 and "empty" in out
    code, out = run_cli(
        monkeypatch, capsys, "secrets", "delete", "kite", "api_secret", "--config", cfg
    )
    assert code == 0 and "deleted kite.api_secret" in out
    code, out = run_cli(monkeypatch, capsys, "secrets", "list", "--config", cfg)
    assert "no secrets are stored" in out


async def store_secret(tmp_path: Path, name: str, value: str) -> None:
    db = await Database.open(str(tmp_path / "desk.db"))
    try:
        box = SecretBox.load(tmp_path / "desk.db.key")
        await SecretStore(db, box, SystemClock()).put("kite", name, value)
    finally:
        await db.close()


async def login_and_check(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, **settings: object
) -> None:
    caplog.set_level(logging.DEBUG)
    alerts = AlertLog()
    async with kite_desk(tmp_path, alerts, access_token=None, **settings) as (service, rest, _):
        [done] = await handle_text(service.desk, OWNER, f"/login kite {PASTED}")
        assert "Logged in" in done.html, done.html
        async with asyncio.timeout(5):
            while not service.gate.is_open("kite"):
                await service.tracker.wait_for_change(0.05)
        shown = ""
        for line in ("/status", "/accounts", "/audit 50"):
            shown += "".join(to_plain(r.html) for r in await handle_text(service.desk, OWNER, line))
        token = rest.access_token
    for secret in (SECRET, token):
        assert secret not in shown
        assert secret not in caplog.text
        assert secret.encode() not in database_bytes(tmp_path)


async def test_a_stored_secret_logs_in_and_appears_nowhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await store_secret(tmp_path, "api_secret", SECRET)
    await login_and_check(tmp_path, caplog, api_secret=None)


async def test_a_config_value_may_name_an_environment_variable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PD_TEST_KITE_SECRET", SECRET)
    await login_and_check(tmp_path, caplog, api_secret="env:PD_TEST_KITE_SECRET")


async def test_a_missing_environment_variable_is_named_without_a_value(tmp_path: Path) -> None:
    async with kite_fakes() as fakes:
        with pytest.raises(ConfigError) as caught:
            async with kite_desk(tmp_path, AlertLog(), fakes, api_secret="env:PD_TEST_UNSET_VAR"):
                pass
    message = str(caught.value)
    assert "accounts[0] (kite).api_secret" in message and "PD_TEST_UNSET_VAR" in message


async def test_without_any_secret_the_account_is_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"api_secret"):
        async with kite_desk(tmp_path, AlertLog(), api_secret=None):
            pass
