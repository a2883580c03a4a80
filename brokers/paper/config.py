"""Settings of a paper account, checked once at start-up.

Every mistake becomes a ``ConfigError`` whose message starts with the key, so a user can find the
line in their configuration at once (``cash: must be positive``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from brokers.paper.instruments import bundled_instruments
from core.domain.errors import ConfigError

FILE_FEED_PREFIX = "file:"
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_EXCHANGE_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,15}$")


class FaultSettings(BaseModel):
    """Faults a paper account shows on its own, for demos (``PaperBroker.faults`` for tests).

    ``stall_every_s``: after every that many seconds of streaming, the tick stream goes silent
    for ``stall_for_s`` seconds while prices keep moving. ``reject_every``: every Nth order is
    rejected by the simulated risk system.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    stall_every_s: float | None = None
    stall_for_s: float = 5.0
    reject_every: int | None = None

    @field_validator("stall_every_s", "stall_for_s")
    @classmethod
    def _seconds_positive(cls, value: float | None) -> float | None:
        if value is not None and not value > 0:
            raise ValueError("must be positive")
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number of seconds")
        return value

    @field_validator("reject_every")
    @classmethod
    def _every_at_least_one(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("must be at least 1 (1 rejects every order), or left out")
        return value


class PaperSettings(BaseModel):
    """How the simulated exchange behaves for one paper account."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cash: Decimal = Decimal(1_000_000)
    currency: str = "INR"
    default_exchange: str = "NSE"
    feed: str = "random"
    seed: int = 7
    tick_interval_s: float = 0.5
    book_size: int = 500
    latency_s: float = 0.0
    state_file: str | None = None
    faults: FaultSettings = FaultSettings()

    @field_validator("cash")
    @classmethod
    def _cash_positive(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or value <= 0:
            raise ValueError("must be positive")
        return value

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        code = value.strip().upper()
        if not _CURRENCY_RE.match(code):
            raise ValueError(f"{value!r} is not a three-letter currency code like INR or USD")
        return code

    @field_validator("default_exchange")
    @classmethod
    def _exchange_code(cls, value: str) -> str:
        code = value.strip().upper()
        if not _EXCHANGE_RE.match(code):
            raise ValueError(f"{value!r} is not an exchange code like NSE")
        return code

    @field_validator("feed")
    @classmethod
    def _feed_form(cls, value: str) -> str:
        text = value.strip()
        if text == "random":
            return text
        if text.startswith(FILE_FEED_PREFIX) and text[len(FILE_FEED_PREFIX) :].strip():
            return FILE_FEED_PREFIX + text[len(FILE_FEED_PREFIX) :].strip()
        raise ValueError(f"{value!r} is neither 'random' nor 'file:PATH'")

    @field_validator("tick_interval_s")
    @classmethod
    def _interval_positive(cls, value: float) -> float:
        if not value > 0:
            raise ValueError("must be a positive number of seconds")
        return value

    @field_validator("book_size")
    @classmethod
    def _book_positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1 unit")
        return value

    @field_validator("latency_s")
    @classmethod
    def _latency_not_negative(cls, value: float) -> float:
        if not value >= 0:
            raise ValueError("must be zero or a positive number of seconds")
        return value

    @field_validator("state_file")
    @classmethod
    def _state_path(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must be a file path, or left out")
        return value.strip() if value is not None else None

    @property
    def feed_path(self) -> str | None:
        """The CSV path of a ``file:PATH`` feed, or ``None`` for the random walk."""
        if self.feed.startswith(FILE_FEED_PREFIX):
            return self.feed[len(FILE_FEED_PREFIX) :]
        return None


def validate_settings(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """Check paper settings; raise ``ConfigError`` naming the key, or return the full settings."""
    try:
        settings = PaperSettings.model_validate(dict(raw))
    except ValidationError as err:
        raise ConfigError(_describe(err)) from None
    exchanges = bundled_instruments().exchanges
    if settings.default_exchange not in exchanges:
        raise ConfigError(
            f"default_exchange: the paper broker has no {settings.default_exchange} instruments "
            f"(exchanges: {', '.join(sorted(exchanges))})"
        )
    return settings.model_dump()


def _describe(err: ValidationError) -> str:
    """Turn pydantic's report into one line per problem, each starting with its key."""
    lines = []
    for problem in err.errors():
        loc = problem["loc"]
        key = ".".join(str(part) for part in loc) or "settings"
        if problem["type"] == "extra_forbidden":
            nested = len(loc) > 1 and loc[0] == "faults"
            model, what = (FaultSettings, "fault") if nested else (PaperSettings, "paper")
            known = ", ".join(model.model_fields)
            lines.append(f"{key}: unknown key ({what} settings are: {known})")
            continue
        message = str(problem["msg"]).removeprefix("Value error, ")
        lines.append(f"{key}: {message}")
    return "; ".join(lines)
