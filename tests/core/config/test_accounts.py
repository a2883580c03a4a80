"""Account tables and the safety sections: ``validate_accounts`` with each broker's checker,
``env:`` references, stored secrets, per-account ``risk`` overrides, ``[schedule]`` times; and the
shipped example and the demo's embedded configuration, checked like a user's."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from core.config import (
    AccountConfig,
    AppConfig,
    demo_config,
    load_config,
)
from core.config.accounts import SettingsCheck, validate_accounts
from core.domain.errors import ConfigError
from tests.core.config.test_loader import TOKEN, load_error, write

# --- validate_accounts ----------------------------------------------------------------------------


def require_cash(settings: Mapping[str, Any]) -> Mapping[str, Any]:
    """A broker validator as a broker package would write one: ``key: what is wrong``."""
    if "cash" not in settings:
        raise ConfigError("cash: required; add cash = <amount>")
    return {**settings, "checked": True}


class StrictSettings(BaseModel):
    cash: int


def strict_settings(settings: Mapping[str, Any]) -> Mapping[str, Any]:
    return StrictSettings.model_validate(settings).model_dump()


def registry_with(*kinds: tuple[str, SettingsCheck]) -> dict[str, SettingsCheck]:
    """The settings checks of some broker kinds, by name, as the composition root hands them."""
    return dict(kinds)


def validate(
    config: AppConfig,
    checks: Mapping[str, SettingsCheck],
    stored: Mapping[str, Mapping[str, str]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[tuple[AccountConfig, Mapping[str, Any]]]:
    return validate_accounts(config.accounts, config.risk, checks, stored, environ)


def config_with_accounts(tmp_path: Path, *tables: str) -> AppConfig:
    return load_config(write(tmp_path, "".join(f"[[accounts]]\n{t}\n" for t in tables)), {})


def test_validate_accounts_returns_each_account_with_its_checked_settings(tmp_path: Path) -> None:
    config = config_with_accounts(
        tmp_path, "name = 'a'\nbroker = 'fake'\ncash = 5", "name = 'b'\nbroker = 'fake'\ncash = 6"
    )

    result = validate(config, registry_with(("fake", require_cash)))

    assert [(account.name, dict(settings)) for account, settings in result] == [
        ("a", {"cash": 5, "checked": True}),
        ("b", {"cash": 6, "checked": True}),
    ]


def test_validate_accounts_prefixes_the_brokers_error_with_the_account(tmp_path: Path) -> None:
    config = config_with_accounts(
        tmp_path, "name = 'a'\nbroker = 'fake'\ncash = 5", "name = 'b'\nbroker = 'fake'"
    )

    with pytest.raises(ConfigError) as info:
        validate(config, registry_with(("fake", require_cash)))

    assert str(info.value) == "accounts[1] (b).cash: required; add cash = <amount>"


def test_validate_accounts_names_an_unknown_broker_and_lists_the_known(tmp_path: Path) -> None:
    config = config_with_accounts(tmp_path, "name = 'a'\nbroker = 'kyte'")

    with pytest.raises(ConfigError) as info:
        validate(config, registry_with(("fake", require_cash), ("paper", require_cash)))

    message = str(info.value)
    assert message.startswith("accounts[0] (a).broker: unknown broker 'kyte'")
    assert "known brokers: fake, paper" in message


def test_validate_accounts_turns_a_pydantic_error_into_a_named_key(tmp_path: Path) -> None:
    config = config_with_accounts(tmp_path, f"name = 'a'\nbroker = 'fake'\ncash = '{TOKEN}'")

    with pytest.raises(ConfigError) as info:
        validate(config, registry_with(("fake", strict_settings)))

    assert "accounts[0] (a).cash: Input should be a valid integer" in str(info.value)
    assert TOKEN not in str(info.value)
    assert info.value.__context__ is None


def test_an_env_reference_is_read_and_a_missing_one_is_named(tmp_path: Path) -> None:
    config = config_with_accounts(tmp_path, "name = 'a'\nbroker = 'fake'\ncash = 'env:PD_CASH'")
    checks = registry_with(("fake", strict_settings))

    [(_, settings)] = validate(config, checks, environ={"PD_CASH": "42"})
    assert settings == {"cash": 42}
    with pytest.raises(ConfigError) as info:
        validate(config, checks, environ={})
    assert str(info.value).startswith("accounts[0] (a).cash names the environment variable PD_CASH")


def test_a_stored_secret_fills_a_missing_key_and_the_file_wins(tmp_path: Path) -> None:
    checks = registry_with(("fake", strict_settings))
    stored = {"a": {"cash": "7"}}
    missing = config_with_accounts(tmp_path, "name = 'a'\nbroker = 'fake'")
    [(_, settings)] = validate(missing, checks, stored)
    assert settings == {"cash": 7}
    given = config_with_accounts(tmp_path, "name = 'a'\nbroker = 'fake'\ncash = 9")
    [(_, settings)] = validate(given, checks, stored)
    assert settings == {"cash": 9}


def test_an_accounts_risk_table_overrides_the_risk_section(tmp_path: Path) -> None:
    config = config_with_accounts(
        tmp_path, "name = 'a'\nbroker = 'fake'\ncash = 1\nrisk = { max_order_value = 5 }"
    )
    assert config.risk_for("a").max_order_value == 5
    assert config.risk_for("a").max_order_quantity == config.risk.max_order_quantity


@pytest.mark.parametrize(
    ("risk", "expected"),
    [
        ("{ max_order_value = -5 }", "accounts[0] (a).risk.max_order_value: "),
        ("{ max_ordr_value = 5 }", "did you mean max_order_value?"),
    ],
)
def test_a_bad_account_risk_table_is_named(tmp_path: Path, risk: str, expected: str) -> None:
    config = config_with_accounts(tmp_path, f"name = 'a'\nbroker = 'fake'\ncash = 1\nrisk = {risk}")
    with pytest.raises(ConfigError) as info:
        validate(config, registry_with(("fake", strict_settings)))
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[schedule]\neod_report = "25:00"', "schedule.eod_report: '25:00' is not a time of day"),
        ('[schedule]\nsquare_off = { nse = "3pm" }', "schedule.square_off.nse: '3pm' is not"),
        ('[schedule]\ntimezone = "Mars/Base"', "'Mars/Base' is not a time zone name"),
        ('[login]\nredirect_listen = "localhost"', "login.redirect_listen: must be host:port"),
        ("[risk]\nprice_band_pct = 150", "risk.price_band_pct"),
    ],
)
def test_the_safety_sections_name_a_bad_value(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in load_error(tmp_path, text)


def test_a_telegram_token_may_name_an_environment_variable(tmp_path: Path) -> None:
    text = '[telegram]\ntoken = "env:PD_TOKEN"\nowners = [1]\n'
    config = load_config(write(tmp_path, text), {"PD_TOKEN": TOKEN})
    assert config.telegram is not None and config.telegram.token.get_secret_value() == TOKEN
    message = load_error(tmp_path, text, {"PD_OTHER": "x"})
    assert "telegram.token: names the environment variable PD_TOKEN, which is not set" in message


# --- the shipped example ------------------------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "pocketdesk.example.toml"


def test_the_example_file_loads_and_its_accounts_pass_validation() -> None:
    config = load_config(EXAMPLE, {})

    assert config.telegram is not None
    assert config.telegram.owners
    assert [a.name for a in config.accounts] == ["paper"]
    assert validate(config, registry_with(("paper", require_cash)))


def test_the_example_token_can_come_from_the_environment() -> None:
    config = load_config(EXAMPLE, {"POCKETDESK_TELEGRAM__TOKEN": TOKEN})

    assert config.telegram is not None
    assert config.telegram.token.get_secret_value() == TOKEN


# --- the demo -----------------------------------------------------------------------------------


def test_demo_config_has_two_paper_accounts_in_the_workdir(tmp_path: Path) -> None:
    config = demo_config(tmp_path)

    assert config.storage.path == str(tmp_path / "pocketdesk-demo.db")
    assert config.telegram is None
    paper, paper_us = config.accounts
    assert isinstance(paper, AccountConfig)
    assert (paper.name, paper.broker, paper.default_exchange) == ("paper", "paper", "NSE")
    assert paper.settings == {
        "cash": 1_000_000,
        "currency": "INR",
        "feed": "random",
        "seed": 7,
        "state_file": str(tmp_path / "pocketdesk-paper-paper.json"),
    }
    assert (paper_us.name, paper_us.broker, paper_us.default_exchange) == (
        "paper-us",
        "paper",
        "NASDAQ",
    )
    assert paper_us.settings == {
        "cash": 100_000,
        "currency": "USD",
        "feed": "random",
        "seed": 11,
        "state_file": str(tmp_path / "pocketdesk-paper-paper-us.json"),
    }


def test_demo_accounts_pass_a_validator_that_requires_cash(tmp_path: Path) -> None:
    result = validate(demo_config(tmp_path), registry_with(("paper", require_cash)))

    assert [account.name for account, _ in result] == ["paper", "paper-us"]
