"""Kite failures translated into the core taxonomy, by tables.

Kite answers an error with ``{"status": "error", "message": ..., "error_type": ...}`` and an HTTP
status. What the error means for us depends on both and on whether the request was a read or a
write: a read that failed is simply unavailable, but a write (place, modify, cancel) that failed
after it was sent may have been applied, and must become ``OutcomeUnknown`` so the sync loop looks
for the order by its tag instead of anyone sending it again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from core.domain.errors import (
    AuthenticationFailed,
    BrokerError,
    BrokerRejected,
    BrokerUnavailable,
    NotFound,
    OutcomeUnknown,
)

REDACTED = "***"


class UnexpectedPayload(BrokerError):
    """Kite sent something this adapter has no mapping for (an unknown status, a missing field)."""


@dataclass(frozen=True, slots=True)
class Meaning:
    """The core error a Kite ``error_type`` becomes on a read and on a write."""

    read: type[BrokerError]
    write: type[BrokerError]


# Kite's documented error types. Network, Data and General errors say the OMS or the API had a
# problem, which on a write means it may or may not have taken the order.
ERROR_TYPES: Mapping[str, Meaning] = {
    "TokenException": Meaning(AuthenticationFailed, AuthenticationFailed),
    "UserException": Meaning(BrokerRejected, BrokerRejected),
    "OrderException": Meaning(BrokerRejected, BrokerRejected),
    "InputException": Meaning(BrokerRejected, BrokerRejected),
    "MarginException": Meaning(BrokerRejected, BrokerRejected),
    "HoldingException": Meaning(BrokerRejected, BrokerRejected),
    "PermissionException": Meaning(BrokerRejected, BrokerRejected),
    "NetworkException": Meaning(BrokerUnavailable, OutcomeUnknown),
    "DataException": Meaning(BrokerUnavailable, OutcomeUnknown),
    "GeneralException": Meaning(BrokerUnavailable, OutcomeUnknown),
}

# When the body names no error type (a proxy's HTML page, an empty body): the HTTP status alone.
HTTP_STATUSES: Mapping[int, Meaning] = {
    400: Meaning(BrokerRejected, BrokerRejected),
    403: Meaning(AuthenticationFailed, AuthenticationFailed),
    404: Meaning(NotFound, NotFound),
    405: Meaning(BrokerRejected, BrokerRejected),
    410: Meaning(BrokerRejected, BrokerRejected),
}
UNMAPPED_STATUS = Meaning(BrokerUnavailable, OutcomeUnknown)

# Rate limited: Kite did not process the request. Never retried for a write.
RATE_LIMITED_STATUS = 429

# Messages that settle the meaning whatever the type says (matched case-insensitively).
# The OMS answers this one with a 400 while the order may well be in the book.
OUTCOME_UNKNOWN_MESSAGES = (re.compile(r"order request timed out", re.IGNORECASE),)
NOT_FOUND_MESSAGES = (
    re.compile(r"(couldn't|could not|unable to) find", re.IGNORECASE),
    re.compile(r"invalid\W+order_id", re.IGNORECASE),
    re.compile(r"\bnot found\b", re.IGNORECASE),
)

# Transport failures that happen before a byte of the request left: certainly not applied.
NOT_SENT: tuple[type[httpx.RequestError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.ProxyError,
)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced, for messages and logs."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def error_from_response(
    what: str,
    status: int,
    body: Mapping[str, Any] | None,
    *,
    write: bool,
    secrets: Iterable[str] = (),
) -> BrokerError:
    """The core error for Kite's error answer ``body`` (``None`` when unreadable) to ``what``."""
    body = body or {}
    error_type = str(body.get("error_type") or "")
    kite_message = str(body.get("message") or "").strip() or f"HTTP {status}"
    message = redact(f"{what}: {kite_message}", secrets)
    code = error_type or f"HTTP {status}"
    if status == RATE_LIMITED_STATUS:
        note = "Kite's rate limit, not processed; not retried" if write else "Kite's rate limit"
        return BrokerUnavailable(f"{message} ({note})", code=code)
    if write and (status >= 500 or _matches(kite_message, OUTCOME_UNKNOWN_MESSAGES)):
        return OutcomeUnknown(f"{message} ({_CHECK_BOOK})", code=code)
    meaning = ERROR_TYPES.get(error_type) or HTTP_STATUSES.get(status) or UNMAPPED_STATUS
    kind = meaning.write if write else meaning.read
    if kind is BrokerRejected and _matches(kite_message, NOT_FOUND_MESSAGES):
        kind = NotFound
    if kind is OutcomeUnknown:
        return OutcomeUnknown(f"{message} ({_CHECK_BOOK})", code=code)
    return kind(message, code=code)


def error_from_transport(
    what: str, err: httpx.RequestError, *, write: bool, timeout_s: float
) -> BrokerError:
    """The core error for a request that got no answer at all."""
    if isinstance(err, NOT_SENT):
        return BrokerUnavailable(f"{what}: could not reach Kite ({_describe(err)})", code="network")
    if isinstance(err, httpx.TimeoutException):
        reason = f"no answer from Kite within {timeout_s:g} s"
    else:
        reason = f"the connection to Kite failed ({_describe(err)})"
    if write:
        return OutcomeUnknown(f"{what}: {reason} ({_CHECK_BOOK})", code="network")
    return BrokerUnavailable(f"{what}: {reason}", code="network")


def unreadable_answer(what: str, status: int, *, write: bool) -> BrokerError:
    """The core error for a success status whose body is not Kite's envelope."""
    message = f"{what}: Kite's answer (HTTP {status}) could not be read"
    if write:
        return OutcomeUnknown(f"{message} ({_CHECK_BOOK})", code="unreadable")
    return BrokerUnavailable(message, code="unreadable")


_CHECK_BOOK = "it may have been applied; the order book will tell"


def _matches(text: str, patterns: Iterable[re.Pattern[str]]) -> bool:
    return any(pattern.search(text) for pattern in patterns)


def _describe(err: httpx.RequestError) -> str:
    # httpx messages carry no URL, so no query-string secret can leak through them.
    return str(err) or type(err).__name__
