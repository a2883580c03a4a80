"""``KiteClient``: the Kite Connect v3 REST API over one pooled ``httpx.AsyncClient``.

Transport and authentication only: the methods speak Kite's vocabulary (``place_order`` takes
Kite's form fields and returns Kite's order id; reads return Kite's ``data``) and ``parsing.py``
translates. Every failure leaves as a ``core.domain.errors`` type (see ``errors.py``); nothing here
retries, and a write is never sent twice. Requests are paced per account (``limits.py``).

The access token is a secret: it appears only in the ``Authorization`` header and in the query
of the logout call, and is redacted from every error message and from httpx's request log.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from brokers.zerodha.config import ZerodhaSettings
from brokers.zerodha.errors import (
    UnexpectedPayload,
    error_from_response,
    error_from_transport,
    redact,
    unreadable_answer,
)
from brokers.zerodha.limits import KiteLimits, RateLimiter
from brokers.zerodha.parsing import parse_timestamp
from core.domain.errors import AuthenticationFailed, BrokerError

log = logging.getLogger(__name__)

KITE_VERSION = "3"
USER_AGENT = "pocketdesk-kite/1"
# Kite's caps on instruments per market-data call.
MAX_QUOTE_INSTRUMENTS = 500
MAX_LTP_INSTRUMENTS = 1000


@dataclass(frozen=True, slots=True)
class KiteSession:
    """What ``POST /session/token`` returns; the tokens are kept out of ``repr``."""

    user_id: str
    access_token: str = field(repr=False)
    public_token: str = field(default="", repr=False)
    login_time: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


class KiteClient:
    """One account's REST session: ``async with KiteClient(settings) as kite:``."""

    def __init__(
        self,
        settings: ZerodhaSettings,
        *,
        limits: KiteLimits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        token = settings.access_token
        self._access_token = token.get_secret_value() if token is not None else None
        self._limits = limits or KiteLimits.per_account(
            settings.order_rate_per_s, settings.quote_rate_per_s
        )
        self._http = httpx.AsyncClient(
            base_url=settings.api_url,
            headers={"X-Kite-Version": KITE_VERSION, "User-Agent": USER_AGENT},
            timeout=httpx.Timeout(settings.timeout_s),
            transport=transport,
            follow_redirects=False,
        )
        self._log_filter = _RedactingFilter(self)

    async def __aenter__(self) -> KiteClient:
        logging.getLogger("httpx").addFilter(self._log_filter)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        logging.getLogger("httpx").removeFilter(self._log_filter)
        await self._http.aclose()

    # -- session -------------------------------------------------------------------------------

    @property
    def has_session(self) -> bool:
        """Whether an access token is set (it may still have expired at the server)."""
        return self._access_token is not None

    @property
    def access_token(self) -> str | None:
        """The session's token (for the ticker's connection); never log it."""
        return self._access_token

    def set_access_token(self, token: str | None) -> None:
        """Use ``token`` from now on (``None`` forgets it)."""
        self._access_token = token or None

    def login_url(self) -> str:
        """Where the user logs in; Kite then redirects with ``request_token``."""
        return f"{self._settings.login_url}?api_key={self._settings.api_key}&v={KITE_VERSION}"

    def checksum(self, request_token: str) -> str:
        """``sha256(api_key + request_token + api_secret)`` in hex, as ``/session/token`` wants."""
        secret = self._settings.api_secret.get_secret_value()
        text = self._settings.api_key + request_token + secret
        return hashlib.sha256(text.encode()).hexdigest()

    async def generate_session(self, request_token: str) -> KiteSession:
        """Trade a login's ``request_token`` for an access token, and use it from now on."""
        form = {
            "api_key": self._settings.api_key,
            "request_token": request_token,
            "checksum": self.checksum(request_token),
        }
        data = await self._call(
            "POST", "/session/token", what="log in", form=form, auth=False, secrets=[request_token]
        )
        if not isinstance(data, Mapping) or not data.get("access_token"):
            raise AuthenticationFailed("log in: Kite's answer had no access token", code="login")
        session = KiteSession(
            user_id=str(data.get("user_id") or ""),
            access_token=str(data["access_token"]),
            public_token=str(data.get("public_token") or ""),
            login_time=parse_timestamp(data.get("login_time")),
            raw=data,
        )
        self._access_token = session.access_token
        return session

    async def invalidate(self) -> None:
        """Log out: Kite kills the access token; this client forgets it."""
        if self._access_token is None:
            return
        params = httpx.QueryParams(
            {"api_key": self._settings.api_key, "access_token": self._access_token}
        )
        try:
            await self._call("DELETE", "/session/token", what="log out", params=params)
        finally:
            self._access_token = None

    # -- account -------------------------------------------------------------------------------

    async def profile(self) -> dict[str, Any]:
        """``GET /user/profile``."""
        return _mapping(await self._call("GET", "/user/profile", what="fetch the profile"))

    async def margins(self, segment: str | None = None) -> dict[str, Any]:
        """``GET /user/margins[/equity|/commodity]``."""
        path = f"/user/margins/{segment}" if segment else "/user/margins"
        return _mapping(await self._call("GET", path, what="fetch margins"))

    # -- orders --------------------------------------------------------------------------------

    async def place_order(self, variety: str, params: Mapping[str, str]) -> str:
        """``POST /orders/{variety}`` with Kite's form fields; return Kite's order id."""
        data = await self._call(
            "POST", f"/orders/{variety}", what="place order", form=params, write=True
        )
        return self._order_id(data, "place order", write=True)

    async def modify_order(self, variety: str, order_id: str, params: Mapping[str, str]) -> str:
        """``PUT /orders/{variety}/{order_id}`` with the fields to change."""
        data = await self._call(
            "PUT", f"/orders/{variety}/{order_id}", what="modify order", form=params, write=True
        )
        return self._order_id(data, "modify order", write=True)

    async def cancel_order(self, variety: str, order_id: str) -> str:
        """``DELETE /orders/{variety}/{order_id}``."""
        data = await self._call(
            "DELETE", f"/orders/{variety}/{order_id}", what="cancel order", write=True
        )
        return self._order_id(data, "cancel order", write=True)

    async def orders(self) -> list[dict[str, Any]]:
        """``GET /orders``: today's orders, open and closed."""
        return _records(await self._call("GET", "/orders", what="fetch orders"))

    async def order_history(self, order_id: str) -> list[dict[str, Any]]:
        """``GET /orders/{order_id}``: every state of one order, oldest first."""
        what = f"fetch order {order_id}"
        return _records(await self._call("GET", f"/orders/{order_id}", what=what))

    async def order_trades(self, order_id: str) -> list[dict[str, Any]]:
        """``GET /orders/{order_id}/trades``."""
        what = f"fetch trades of order {order_id}"
        return _records(await self._call("GET", f"/orders/{order_id}/trades", what=what))

    async def trades(self) -> list[dict[str, Any]]:
        """``GET /trades``: today's executions."""
        return _records(await self._call("GET", "/trades", what="fetch trades"))

    # -- portfolio -----------------------------------------------------------------------------

    async def positions(self) -> dict[str, list[dict[str, Any]]]:
        """``GET /portfolio/positions``: ``{"net": [...], "day": [...]}``."""
        data = _mapping(await self._call("GET", "/portfolio/positions", what="fetch positions"))
        return {"net": _records(data.get("net", [])), "day": _records(data.get("day", []))}

    async def holdings(self) -> list[dict[str, Any]]:
        """``GET /portfolio/holdings``."""
        return _records(await self._call("GET", "/portfolio/holdings", what="fetch holdings"))

    # -- market data ---------------------------------------------------------------------------

    async def quote(self, instruments: Iterable[str]) -> dict[str, dict[str, Any]]:
        """``GET /quote?i=NSE:INFY&i=...``; unknown instruments are absent from the answer."""
        return await self._market("/quote", instruments, MAX_QUOTE_INSTRUMENTS, "fetch quotes")

    async def ltp(self, instruments: Iterable[str]) -> dict[str, dict[str, Any]]:
        """``GET /quote/ltp?i=...``: last prices only."""
        return await self._market("/quote/ltp", instruments, MAX_LTP_INSTRUMENTS, "fetch prices")

    async def instruments_csv(self, exchange: str | None = None) -> str:
        """``GET /instruments[/{exchange}]``: the day's instrument dump, as CSV text."""
        path = f"/instruments/{exchange}" if exchange else "/instruments"
        response = await self._send("GET", path, what="fetch instruments", auth=True)
        if response.status_code >= 400 or "csv" not in response.headers.get("content-type", ""):
            raise self._error(response, "fetch instruments", write=False, body=_json(response))
        return response.text

    # -- plumbing ------------------------------------------------------------------------------

    async def _market(
        self, path: str, instruments: Iterable[str], cap: int, what: str
    ) -> dict[str, dict[str, Any]]:
        keys = list(dict.fromkeys(instruments))
        if not keys:
            return {}
        if len(keys) > cap:
            raise ValueError(f"{what}: at most {cap} instruments per call, not {len(keys)}")
        params = httpx.QueryParams([("i", key) for key in keys])
        data = await self._call("GET", path, what=what, params=params)
        return {str(key): _mapping(value) for key, value in _mapping(data).items()}

    async def _call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: httpx.QueryParams | None = None,
        form: Mapping[str, str] | None = None,
        write: bool = False,
        auth: bool = True,
        secrets: Iterable[str] = (),
    ) -> Any:
        """Send one request and return the envelope's ``data``, or raise a core error."""
        response = await self._send(
            method, path, what=what, params=params, form=form, write=write, auth=auth
        )
        body = _json(response)
        if (
            body is None
            or response.status_code >= 400
            or body.get("status") == "error"
            or "error_type" in body  # Kite's own client treats any error_type as an error
        ):
            raise self._error(response, what, write=write, body=body, secrets=secrets)
        if "data" not in body:
            raise unreadable_answer(what, response.status_code, write=write)
        return body["data"]

    async def _send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: httpx.QueryParams | None = None,
        form: Mapping[str, str] | None = None,
        write: bool = False,
        auth: bool,
    ) -> httpx.Response:
        if auth and self._access_token is None:
            raise AuthenticationFailed(f"{what}: not logged in to Kite", code="no_session")
        await self._limiter(path, write).acquire()
        headers = {}
        if auth:
            headers["Authorization"] = f"token {self._settings.api_key}:{self._access_token}"
        try:
            response = await self._http.request(
                method, path, params=params, data=form, headers=headers
            )
        except httpx.RequestError as err:
            raise error_from_transport(
                what, err, write=write, timeout_s=self._settings.timeout_s
            ) from err
        log.debug("kite %s %s -> %d", method, path, response.status_code)
        return response

    def _limiter(self, path: str, write: bool) -> RateLimiter:
        if write:
            return self._limits.orders
        if path.startswith("/quote"):
            return self._limits.quotes
        return self._limits.other

    def _error(
        self,
        response: httpx.Response,
        what: str,
        *,
        write: bool,
        body: Mapping[str, Any] | None = None,
        secrets: Iterable[str] = (),
    ) -> BrokerError:
        if response.status_code < 400 and body is None:
            return unreadable_answer(what, response.status_code, write=write)
        hidden = [*self._secrets(), *secrets]
        return error_from_response(what, response.status_code, body, write=write, secrets=hidden)

    @staticmethod
    def _order_id(data: Any, what: str, *, write: bool) -> str:
        order_id = data.get("order_id") if isinstance(data, Mapping) else None
        if not order_id:
            raise unreadable_answer(what, 200, write=write)
        return str(order_id)

    def _secrets(self) -> list[str]:
        secret = self._settings.api_secret.get_secret_value()
        return [s for s in (self._access_token, secret) if s]


class _RedactingFilter(logging.Filter):
    """Blanks the client's secrets in httpx's request log (the logout URL carries the token)."""

    def __init__(self, client: KiteClient) -> None:
        super().__init__()
        self._client = client

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._client._secrets()
        text = record.getMessage()
        if any(secret in text for secret in secrets):
            record.msg, record.args = redact(text, secrets), ()
        return True


def _json(response: httpx.Response) -> dict[str, Any] | None:
    """The JSON object in the body, or ``None`` when there is none."""
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _mapping(data: Any) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise UnexpectedPayload(f"Kite answered {type(data).__name__} where an object was due")
    return dict(data)


def _records(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise UnexpectedPayload(f"Kite answered {type(data).__name__} where a list was due")
    return [_mapping(item) for item in data]
