"""Settings of a Zerodha (Kite Connect) account, checked once at start-up.

Every mistake becomes a ``ConfigError`` whose message starts with the key. Secret values (the API
secret and the access token) are ``SecretStr``: masked in ``repr`` and never quoted in an error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator

from core.domain.errors import ConfigError

# Exchanges Kite takes orders on (NCO exists only as a ticker segment).
KITE_EXCHANGES = frozenset({"NSE", "BSE", "NFO", "BFO", "CDS", "BCD", "MCX"})
# From April 2026 Kite refuses more than 10 orders a second per account, whatever the app asks.
MAX_ORDER_RATE_PER_S = 10
_API_KEY_RE = re.compile(r"^[A-Za-z0-9]{1,64}$")
_SECRET_KEYS = frozenset({"api_secret", "access_token"})


class ZerodhaSettings(BaseModel):
    """One Kite Connect app and the account it logs in to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key: str
    api_secret: SecretStr
    access_token: SecretStr | None = None
    default_exchange: str = "NSE"
    api_url: str = "https://api.kite.trade"
    ticker_url: str = "wss://ws.kite.trade"
    login_url: str = "https://kite.zerodha.com/connect/login"
    order_rate_per_s: int = MAX_ORDER_RATE_PER_S
    quote_rate_per_s: int = 1
    # -1 lets Kite choose the protection; 0 (none) is refused for MARKET/SL-M since April 2026.
    market_protection: int = -1
    timeout_s: float = 7.0

    @field_validator("api_key")
    @classmethod
    def _api_key_form(cls, value: str) -> str:
        key = value.strip()
        if not _API_KEY_RE.match(key):
            raise ValueError("must be the app's API key from the Kite developer console")
        return key

    @field_validator("api_secret")
    @classmethod
    def _secret_given(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("access_token")
    @classmethod
    def _token_given(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("must be a token, or left out to log in at start-up")
        return value

    @field_validator("default_exchange")
    @classmethod
    def _exchange_known(cls, value: str) -> str:
        code = value.strip().upper()
        if code not in KITE_EXCHANGES:
            known = ", ".join(sorted(KITE_EXCHANGES))
            raise ValueError(f"{value!r} is not a Kite exchange ({known})")
        return code

    @field_validator("api_url", "login_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        url = value.strip().rstrip("/")
        if not url.startswith(("https://", "http://")) or len(url) <= len("https://"):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return url

    @field_validator("ticker_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        url = value.strip().rstrip("/")
        if not url.startswith(("wss://", "ws://")) or len(url) <= len("wss://"):
            raise ValueError(f"{value!r} is not a ws(s) URL")
        return url

    @field_validator("order_rate_per_s")
    @classmethod
    def _order_rate(cls, value: int) -> int:
        if not 1 <= value <= MAX_ORDER_RATE_PER_S:
            raise ValueError(f"must be between 1 and {MAX_ORDER_RATE_PER_S} (Kite's limit)")
        return value

    @field_validator("quote_rate_per_s")
    @classmethod
    def _quote_rate(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1 request a second")
        return value

    @field_validator("market_protection")
    @classmethod
    def _protection(cls, value: int) -> int:
        if value == 0:
            raise ValueError(
                "0 (no protection) is refused by Kite for MARKET and SL-M orders since April "
                "2026; use -1 (automatic) or a percentage from 1 to 100"
            )
        if value != -1 and not 1 <= value <= 100:
            raise ValueError("must be -1 (automatic) or a percentage from 1 to 100")
        return value

    @field_validator("timeout_s")
    @classmethod
    def _timeout(cls, value: float) -> float:
        if not (value > 0 and math.isfinite(value)):
            raise ValueError("must be a positive number of seconds")
        return value


def validate_settings(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """Check Zerodha settings; raise ``ConfigError`` naming the key, or return the full settings."""
    try:
        settings = ZerodhaSettings.model_validate(dict(raw))
    except ValidationError as err:
        raise ConfigError(_describe(err)) from None
    return settings.model_dump()


def _describe(err: ValidationError) -> str:
    """One clause per problem, each starting with its key; secret values are never quoted."""
    lines = []
    for problem in err.errors(include_input=False, include_url=False):
        key = ".".join(str(part) for part in problem["loc"]) or "settings"
        if problem["type"] == "extra_forbidden":
            known = ", ".join(ZerodhaSettings.model_fields)
            lines.append(f"{key}: unknown key (zerodha settings are: {known})")
        elif problem["type"] == "missing":
            lines.append(f"{key}: required")
        elif key in _SECRET_KEYS and problem["type"] != "value_error":
            lines.append(f"{key}: must be text")
        else:
            lines.append(f"{key}: {str(problem['msg']).removeprefix('Value error, ')}")
    return "; ".join(lines)
