"""Paper settings: checked at start-up, every mistake named by its key."""

from __future__ import annotations

from decimal import Decimal

import pytest

from brokers.paper import KIND, PaperBroker, PaperSettings, validate_settings
from core.broker import Broker
from core.domain.errors import ConfigError


def test_defaults_are_valid_and_complete() -> None:
    settings = validate_settings({})

    assert settings == PaperSettings().model_dump()
    assert settings["cash"] == Decimal(1_000_000)
    assert settings["feed"] == "random"
    assert settings["faults"] == {"stall_every_s": None, "stall_for_s": 5.0, "reject_every": None}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"cash": -5}, "cash: must be positive"),
        ({"cash": 0}, "cash: must be positive"),
        ({"currency": "rupees"}, "currency: 'rupees' is not a three-letter currency code"),
        ({"feed": "websocket"}, "feed: 'websocket' is neither 'random' nor 'file:PATH'"),
        ({"feed": "file:"}, "feed:"),
        ({"tick_interval_s": 0}, "tick_interval_s: must be a positive number of seconds"),
        ({"book_size": 0}, "book_size: must be at least 1 unit"),
        ({"latency_s": -1}, "latency_s: must be zero or a positive number"),
        ({"state_file": " "}, "state_file: must be a file path"),
        ({"default_exchange": "BSE"}, "default_exchange: the paper broker has no BSE"),
        ({"seed": "abc"}, "seed:"),
        ({"csh": 5}, "csh: unknown key (paper settings are: cash, currency"),
        ({"faults": {"stall_for_s": 0}}, "faults.stall_for_s: must be positive"),
        ({"faults": {"stall_every_s": -1}}, "faults.stall_every_s: must be positive"),
        ({"faults": {"stall_every_s": "inf"}}, "faults.stall_every_s: must be a finite number"),
        ({"faults": {"reject_every": 0}}, "faults.reject_every: must be at least 1"),
        ({"faults": {"stall": 5}}, "faults.stall: unknown key (fault settings are: stall_every_s"),
    ],
)
def test_a_bad_setting_raises_config_error_naming_the_key(
    raw: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_settings(raw)

    assert str(caught.value).startswith(message)


def test_a_file_feed_and_codes_are_normalised() -> None:
    settings = PaperSettings.model_validate(
        {"feed": " file: /tmp/prices.csv ", "currency": "usd", "default_exchange": "nasdaq"}
    )

    assert settings.feed_path == "/tmp/prices.csv"
    assert (settings.currency, settings.default_exchange) == ("USD", "NASDAQ")
    assert PaperSettings().feed_path is None


def test_the_broker_kind_builds_a_paper_broker_from_validated_settings() -> None:
    settings = KIND.validate_settings({"cash": "250000", "tick_interval_s": 60})

    broker = KIND.factory("demo", settings)

    assert KIND.name == "paper"
    assert isinstance(broker, PaperBroker) and isinstance(broker, Broker)
    assert broker.account == "demo"
