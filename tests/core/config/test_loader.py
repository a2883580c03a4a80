"""The configuration: TOML file + environment overrides, checked at start-up with clear errors."""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.config import load_config
from core.domain.errors import ConfigError

TOKEN = "123456789:AAsecret-token-value"
BROKER_SECRET = "broker-api-secret-xyz"

FULL = f"""
[storage]
path = "/data/desk.db"

[telegram]
token = "{TOKEN}"
api_url = "http://127.0.0.1:8081/bot"
owners = [111, 222]
viewers = [333]

[confirmations]
ttl_s = 30

[sync]
poll_interval_s = 0.5

[logging]
level = "debug"

[[accounts]]
name = "main"
broker = "paper"
default_exchange = "nse"
cash = 500000
currency = "INR"
api_secret = "{BROKER_SECRET}"

[[accounts]]
name = "us_2"
broker = "paper"
[accounts.settings]
cash = 1000
"""

TELEGRAM_OK = f'[telegram]\ntoken = "{TOKEN}"\nowners = [111]\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pocketdesk.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str, environ: Mapping[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ or {})
    return str(info.value)


# --- loading -------------------------------------------------------------------------------------


def test_no_file_and_no_environment_gives_the_defaults() -> None:
    config = load_config(None, {})

    assert config.storage.path == "pocketdesk.db"
    assert config.telegram is None
    assert config.confirmations.ttl_s == 60
    assert config.sync.poll_interval_s == 2.0
    assert config.logging.level == "INFO"
    assert config.accounts == []


def test_a_full_file_loads_every_section(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL), {})

    assert config.storage.path == "/data/desk.db"
    assert config.telegram is not None
    assert config.telegram.token.get_secret_value() == TOKEN
    assert config.telegram.api_url == "http://127.0.0.1:8081/bot"
    assert config.telegram.owners == [111, 222]
    assert config.telegram.viewers == [333]
    assert config.confirmations.ttl_s == 30.0
    assert config.sync.poll_interval_s == 0.5
    assert config.logging.level == "DEBUG"
    assert [a.name for a in config.accounts] == ["main", "us_2"]


def test_account_keys_other_than_its_own_are_collected_into_settings(tmp_path: Path) -> None:
    main, us = load_config(write(tmp_path, FULL), {}).accounts

    assert (main.name, main.broker, main.default_exchange) == ("main", "paper", "NSE")
    assert main.settings == {"cash": 500000, "currency": "INR", "api_secret": BROKER_SECRET}
    assert us.default_exchange is None
    assert us.settings == {"cash": 1000}


def test_a_key_both_loose_and_in_the_settings_subtable_is_refused(tmp_path: Path) -> None:
    text = '[[accounts]]\nname = "a"\nbroker = "paper"\ncash = 1\n[accounts.settings]\ncash = 2\n'

    assert "accounts[0]: key 'cash' is given both" in load_error(tmp_path, text)


def test_the_environment_overrides_a_value_from_the_file(tmp_path: Path) -> None:
    environ = {
        "POCKETDESK_SYNC__POLL_INTERVAL_S": "5",
        "POCKETDESK_TELEGRAM__TOKEN": "999:from-env",
        "POCKETDESK_STORAGE__PATH": "/elsewhere.db",
    }

    config = load_config(write(tmp_path, FULL), environ)

    assert config.sync.poll_interval_s == 5.0
    assert config.storage.path == "/elsewhere.db"
    assert config.telegram is not None
    assert config.telegram.token.get_secret_value() == "999:from-env"
    assert config.telegram.owners == [111, 222]  # the rest of the section still comes from the file


def test_the_environment_alone_can_provide_the_telegram_section() -> None:
    environ = {
        "POCKETDESK_TELEGRAM__TOKEN": TOKEN,
        "POCKETDESK_TELEGRAM__OWNERS": "111, 222",
        "POCKETDESK_TELEGRAM__VIEWERS": "[333]",
    }

    config = load_config(None, environ)

    assert config.telegram is not None
    assert config.telegram.owners == [111, 222]
    assert config.telegram.viewers == [333]


def test_variables_without_the_prefix_are_ignored() -> None:
    config = load_config(None, {"SYNC__POLL_INTERVAL_S": "9", "STORAGE__PATH": "x.db"})

    assert config.sync.poll_interval_s == 2.0
    assert config.storage.path == "pocketdesk.db"


def test_the_config_is_frozen() -> None:
    config = load_config(None, {})

    with pytest.raises(ValidationError):
        config.storage = config.storage  # type: ignore[misc]


# --- errors name the key and the fix --------------------------------------------------------------


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"

    with pytest.raises(ConfigError) as info:
        load_config(missing, {})

    assert f"config file {missing} not found; create it" in str(info.value)


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    message = load_error(tmp_path, '[storage]\npath = "a.db"\n\n[sync\n')

    assert "not valid TOML" in message
    assert "line 4" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[sync]\npoll_interval_s = 'fast'\n", "sync.poll_interval_s: Input should be a valid num"),
        ("[sync]\npoll_interval_s = 0\n", "sync.poll_interval_s: Input should be greater than 0"),
        ("[confirmations]\nttl_s = -1\n", "confirmations.ttl_s: Input should be greater than 0"),
        ("[storage]\npath = 5\n", "storage.path: Input should be a valid string"),
        ("[storage]\npath = ''\n", "storage.path: must not be empty"),
        ("[logging]\nlevel = 'LOUD'\n", "logging.level: Input should be 'DEBUG'"),
        ("storage = 'x.db'\n", "storage: Input should be a valid dictionary"),
        (
            "[accounts]\nname = 'a'\n",
            "accounts: Input should be a valid list; write one [[accounts]]",
        ),
        (
            TELEGRAM_OK.replace("[111]", "[111, 'me']"),
            "telegram.owners[1]: Input should be a valid integer",
        ),
        (TELEGRAM_OK.replace("[111]", "[-5]"), "telegram.owners: -5 is not a Telegram user id"),
        (TELEGRAM_OK + "api_url = 'api.telegram.org'\n", "telegram.api_url: must start with http"),
        ("[[accounts]]\nname = 'my account'\nbroker = 'paper'\n", "accounts[0].name: 'my account'"),
        ("[[accounts]]\nname = '" + "x" * 33 + "'\nbroker = 'paper'\n", "use 1-32 letters"),
        (
            "[[accounts]]\nname = 'a'\nbroker = 7\n",
            "accounts[0].broker: Input should be a valid str",
        ),
        (
            "[[accounts]]\nname = 'a'\nbroker = 'paper'\nsettings = 3\n",
            "accounts[0].settings: Input should be a valid dictionary",
        ),
    ],
)
def test_a_wrong_value_names_its_key(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in load_error(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[storge]\npath = 'x.db'\n", "unknown key storge; remove it or fix its spelling"),
        ("[sync]\npoll_interval = 1\n", "unknown key sync.poll_interval;"),
        (TELEGRAM_OK + "owner = [1]\n", "unknown key telegram.owner;"),
        ("[logging]\nfile = 'x.log'\n", "unknown key logging.file;"),
    ],
)
def test_an_unknown_key_is_refused_by_name(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in load_error(tmp_path, text)


def test_an_unknown_key_suggests_the_close_spelling(tmp_path: Path) -> None:
    assert "did you mean poll_interval_s?" in load_error(tmp_path, "[sync]\npoll_interval = 1\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[telegram]\nowners = [1]\n", "telegram.token is required"),
        (f"[telegram]\ntoken = '{TOKEN}'\n", "telegram.owners is required"),
        ("[[accounts]]\nbroker = 'paper'\n", "accounts[0].name is required"),
        (
            "[[accounts]]\nname = 'a'\nbroker = 'paper'\n[[accounts]]\nname = 'b'\n",
            "accounts[1].broker is required",
        ),
    ],
)
def test_a_missing_key_is_named(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in load_error(tmp_path, text)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    message = load_error(tmp_path, "[telegram]\n[sync]\npoll_interval_s = 0\n")

    assert "3 problems" in message
    for key in ("telegram.token", "telegram.owners", "sync.poll_interval_s"):
        assert key in message


def test_a_telegram_section_without_owners_is_refused_deny_by_default(tmp_path: Path) -> None:
    message = load_error(tmp_path, TELEGRAM_OK.replace("[111]", "[]"))

    assert "telegram.owners: needs at least one Telegram user id" in message


def test_a_user_cannot_be_both_owner_and_viewer(tmp_path: Path) -> None:
    message = load_error(tmp_path, TELEGRAM_OK + "viewers = [222, 111]\n")

    assert "user 111 is in both telegram.owners and telegram.viewers" in message


def test_two_accounts_with_one_name_are_refused(tmp_path: Path) -> None:
    text = "[[accounts]]\nname = 'a'\nbroker = 'paper'\n" * 2

    assert "accounts[0].name and accounts[1].name" in load_error(tmp_path, text)


def test_a_bad_environment_value_names_its_variable(tmp_path: Path) -> None:
    message = load_error(tmp_path, "", {"POCKETDESK_SYNC__POLL_INTERVAL_S": "soon"})

    assert "sync.poll_interval_s" in message
    assert "POCKETDESK_SYNC__POLL_INTERVAL_S" in message


def test_an_unknown_key_from_the_environment_is_refused(tmp_path: Path) -> None:
    message = load_error(tmp_path, "", {"POCKETDESK_SYNC__INTERVAL": "1"})

    assert "unknown key sync.interval" in message
    assert "POCKETDESK_SYNC__INTERVAL" in message


def test_an_environment_list_that_is_not_json_is_named(tmp_path: Path) -> None:
    message = load_error(tmp_path, "", {"POCKETDESK_ACCOUNTS": "paper"})

    assert "POCKETDESK_ACCOUNTS is not valid JSON" in message


# --- secrets never leak ---------------------------------------------------------------------------


def test_repr_and_str_mask_the_token_and_account_settings(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL), {})

    for text in (repr(config), str(config), repr(config.telegram), repr(config.accounts[0])):
        assert TOKEN not in text
        assert BROKER_SECRET not in text
    assert "api_secret" in repr(config.accounts[0])  # the key is shown, its value is not


@pytest.mark.parametrize(
    "text",
    [
        TELEGRAM_OK.replace("[111]", "['x']"),  # another key in the section is wrong
        TELEGRAM_OK + f"tokn = '{TOKEN}'\n",  # the secret under a misspelt key
        f"[telegram]\ntoken = {TOKEN}\nowners = [1]\n",  # unquoted: a TOML syntax error
        f"[sync]\npoll_interval_s = '{TOKEN}'\n",  # the secret pasted into the wrong key
        f"[[accounts]]\nname = 'a'\nbroker = 'paper'\n[accounts.settings]\napi_secret = 1\n"
        f"[[accounts]]\nname = 'b'\napi_secret = '{TOKEN}'\n",
    ],
)
def test_error_messages_and_tracebacks_never_carry_a_secret(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), {})

    err = info.value
    assert TOKEN not in str(err)
    # A chained pydantic error would print the input values in a traceback.
    assert err.__cause__ is None
    assert err.__context__ is None
    assert TOKEN not in "".join(traceback.format_exception(err))


def test_a_secret_from_the_environment_never_appears_in_a_message() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, {"POCKETDESK_TELEGRAM__TOKEN": TOKEN})

    assert "telegram.owners is required" in str(info.value)
    assert TOKEN not in str(info.value)


def test_a_token_with_a_trailing_newline_is_stripped() -> None:
    environ = {"POCKETDESK_TELEGRAM__TOKEN": TOKEN + "\n", "POCKETDESK_TELEGRAM__OWNERS": "1"}

    telegram = load_config(None, environ).telegram

    assert telegram is not None
    assert telegram.token.get_secret_value() == TOKEN
