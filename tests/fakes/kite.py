"""An in-process fake of the Kite Connect v3 REST API, served by aiohttp on loopback.

Point a client at ``fake.api_url``. It answers in Kite's envelope and Kite's error shape, checks
the ``Authorization`` header, keeps an order book whose orders walk through Kite's statuses on a
script (``script_next_order``, then ``step``), and records every request. Faults: an expired token
(``expire_token``), 429s (``rate_limit_next``), any Kite error (``fail_next``, optionally after the
request took effect), and answers held back until the client has given up (``delay_next``).

The payloads are written for this project to the documented shapes; nothing here is copied from
Zerodha's mocks.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import web

from tests.fakes.kite_payloads import (
    _ACCEPTED_PATH,
    _PROTECTED,
    _REQUIRED,
    EQUITY_MARGINS,
    HOLDING,
    INSTRUMENTS_CSV,
    MAX_MODIFICATIONS,
    PRICES,
    PROFILE,
    TOKEN_ERROR,
    TOKENS,
    depth,
    now_ist,
    position,
)

JSON = dict[str, Any]


@dataclass(frozen=True)
class Request:
    """One request as the fake saw it; ``query`` keeps repeated keys (``i=..&i=..``)."""

    method: str
    path: str
    query: list[tuple[str, str]]
    form: dict[str, str]
    headers: dict[str, str]
    at: float


@dataclass
class Script:
    """What happens to an order after placement: each ``step`` applies the next event.

    An event is a quantity to fill (at ``fill_price``, else the order's price or the last price)
    or ``"reject"``, which rejects with ``status_message``. ``at_once`` applies them all when the
    order is placed.
    """

    events: list[int | str] = field(default_factory=list)
    status_message: str = "Insufficient funds. Required margin is 9541.84 but available is 7425.80."
    fill_price: Decimal | None = None
    at_once: bool = False


class KiteError(Exception):
    """A Kite-shaped failure: ``{"status": "error", "message", "error_type"}``."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message

    def response(self) -> web.Response:
        body = {"status": "error", "message": self.message, "error_type": self.error_type}
        return web.json_response(body, status=self.status)


@dataclass
class _Fault:
    error: KiteError | None = None
    delay_s: float = 0.0
    after: bool = False  # the request takes effect before the error is answered
    path: str | None = None  # only a request whose path starts with this (None: any)


class FakeKite:
    """The fake REST server: ``async with FakeKite() as kite:``; ``kite.api_url`` is its root."""

    def __init__(self, api_key: str = "fakekey", api_secret: str = "fakesecret") -> None:
        self.api_key, self.api_secret = api_key, api_secret
        self.access_token = "fake-access-token-0001"
        self.request_tokens = {"fake-request-token"}
        self.port = 0
        self.requests: list[Request] = []
        self.orders: dict[str, list[JSON]] = {}  # order id -> history, newest last
        self.trades: list[JSON] = []
        self.holdings: list[JSON] = [dict(HOLDING)]
        self.prices = {key: Decimal(value) for key, value in PRICES.items()}
        self.instruments_csv = INSTRUMENTS_CSV
        self.token_expired = False
        self._faults: deque[_Fault] = deque()
        self._scripts: deque[Script] = deque()
        self._plans: dict[str, Script] = {}
        self._ids = itertools.count(260105000000001)
        self._trade_ids = itertools.count(70000001)
        self._runner: web.AppRunner | None = None

    @property
    def api_url(self) -> str:
        """The API root, served at ``/`` like Kite's."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application()
        routes = [
            ("POST", "/session/token", self._login),
            ("DELETE", "/session/token", self._logout),
            ("GET", "/user/profile", lambda r: PROFILE),
            ("GET", "/user/margins", lambda r: {"equity": EQUITY_MARGINS}),
            ("GET", "/user/margins/equity", lambda r: EQUITY_MARGINS),
            ("POST", "/orders/{variety}", self._place),
            ("PUT", "/orders/{variety}/{order_id}", self._modify),
            ("DELETE", "/orders/{variety}/{order_id}", self._cancel),
            ("GET", "/orders", lambda r: [h[-1] for h in self.orders.values()]),
            ("GET", "/orders/{order_id}", self._history),
            ("GET", "/orders/{order_id}/trades", lambda r: self._trades_of(r)),
            ("GET", "/trades", lambda r: list(self.trades)),
            ("GET", "/portfolio/positions", self._positions),
            ("GET", "/portfolio/holdings", lambda r: list(self.holdings)),
            ("GET", "/quote", self._quote),
            ("GET", "/quote/ltp", self._quote),
            ("GET", "/instruments", self._instruments),
            ("GET", "/instruments/{exchange}", self._instruments),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, self._wrap(handler))
        self._runner = web.AppRunner(
            app, shutdown_timeout=0.2, handler_cancellation=True, access_log=None
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeKite:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- scripting and faults ------------------------------------------------------------------

    def script_next_order(self, *events: int | str, at_once: bool = False, **kw: Any) -> None:
        """The next placed order follows ``Script(events, at_once=..., **kw)``."""
        self._scripts.append(Script(list(events), at_once=at_once, **kw))

    def step(self, order_id: str | None = None) -> None:
        """Apply the next scripted event of one order (or of every order with one left)."""
        for oid in [order_id] if order_id else list(self._plans):
            plan = self._plans.get(oid)
            if plan is not None and plan.events:
                self._apply(oid, plan.events.pop(0), plan)

    def expire_token(self) -> None:
        """Every authenticated call answers 403 TokenException from now on."""
        self.token_expired = True

    def rate_limit_next(self, calls: int = 1) -> None:
        """The next ``calls`` requests answer 429 "Too many requests", untouched."""
        for _ in range(calls):
            self.fail_next(429, "NetworkException", "Too many requests")

    def fail_next(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        after: bool = False,
        path: str | None = None,
    ) -> None:
        """The next request (to ``path``, when given) answers this error; ``after``: once the
        request took effect."""
        error = KiteError(status, error_type, message)
        self._faults.append(_Fault(error, after=after, path=path))

    def delay_next(self, seconds: float, *, path: str | None = None) -> None:
        """The next request (to ``path``, when given) takes effect at once, but its answer comes
        ``seconds`` later."""
        self._faults.append(_Fault(delay_s=seconds, path=path))

    def _take_fault(self, path: str) -> _Fault:
        for index, fault in enumerate(self._faults):
            if fault.path is None or path.startswith(fault.path):
                del self._faults[index]
                return fault
        return _Fault()

    def of(self, method: str, path: str) -> list[Request]:
        """The recorded requests with this method whose path starts with ``path``."""
        return [r for r in self.requests if r.method == method and r.path.startswith(path)]

    def order(self, order_id: str) -> JSON:
        """The current state of an order."""
        return self.orders[order_id][-1]

    def by_tag(self, tag: str) -> list[JSON]:
        """Current states of the orders placed with ``tag``."""
        return [h[-1] for h in self.orders.values() if h[-1]["tag"] == tag]

    # -- plumbing ------------------------------------------------------------------------------

    def _wrap(self, handler: Any) -> Any:
        async def handle(request: web.Request) -> web.StreamResponse:
            form = {k: str(v) for k, v in (await request.post()).items()}
            seen = (request.method, request.path, list(request.query.items()), form)
            self.requests.append(Request(*seen, dict(request.headers), time.monotonic()))
            fault = self._take_fault(request.path)
            try:
                if fault.error is not None and not fault.after:
                    raise fault.error
                if request.path != "/session/token":
                    self._check_auth(request)
                result = handler(request)
                if fault.error is not None:
                    raise fault.error
            except KiteError as err:
                return err.response()
            if fault.delay_s:
                await asyncio.sleep(fault.delay_s)
            if isinstance(result, web.StreamResponse):
                return result
            return web.json_response({"status": "success", "data": result})

        return handle

    def _check_auth(self, request: web.Request) -> None:
        expected = f"token {self.api_key}:{self.access_token}"
        if self.token_expired or request.headers.get("Authorization") != expected:
            raise KiteError(403, "TokenException", TOKEN_ERROR)

    # -- session and account -------------------------------------------------------------------

    def _login(self, request: web.Request) -> JSON:
        form = self.requests[-1].form
        token = form.get("request_token", "")
        text = self.api_key + token + self.api_secret
        checksum = hashlib.sha256(text.encode()).hexdigest()
        if form.get("api_key") != self.api_key or token not in self.request_tokens:
            raise KiteError(403, "TokenException", "Token is invalid or has expired.")
        if form.get("checksum") != checksum:
            raise KiteError(403, "TokenException", "Invalid `checksum`.")
        self.request_tokens.discard(token)  # single use
        self.access_token = f"fake-access-token-{next(self._ids)}"
        self.token_expired = False
        tokens = {"access_token": self.access_token, "public_token": "fake-public"}
        return (
            PROFILE
            | tokens
            | {"api_key": self.api_key, "refresh_token": "", "login_time": now_ist()}
        )

    def _logout(self, request: web.Request) -> bool:
        query = request.query
        if query.get("api_key") != self.api_key or query.get("access_token") != self.access_token:
            raise KiteError(403, "TokenException", TOKEN_ERROR)
        self.token_expired = True
        return True

    # -- orders --------------------------------------------------------------------------------

    def _place(self, request: web.Request) -> JSON:
        form = self.requests[-1].form
        for key in _REQUIRED:
            if not form.get(key):
                raise KiteError(400, "InputException", f"Missing or empty field `{key}`")
        symbol = f"{form['exchange']}:{form['tradingsymbol']}"
        if symbol not in self.prices:
            raise KiteError(400, "InputException", "Invalid `tradingsymbol`.")
        if len(form.get("tag", "")) > 20 or not form.get("tag", "x").isalnum():
            raise KiteError(400, "InputException", "Invalid `tag`.")
        kind = form["order_type"]
        if kind in _PROTECTED and form.get("market_protection", "0") == "0":
            raise KiteError(
                400, "InputException", "Market orders without market protection are not allowed."
            )
        if kind in ("LIMIT", "SL") and not form.get("price"):
            raise KiteError(400, "InputException", "Missing or empty field `price`")
        order_id = str(next(self._ids))
        quantity = int(form["quantity"])
        order: JSON = {
            "placed_by": "AB1234", "order_id": order_id, "exchange_order_id": None,
            "parent_order_id": None, "status": _ACCEPTED_PATH[0], "status_message": None,
            "status_message_raw": None, "order_timestamp": now_ist(),
            "exchange_update_timestamp": None, "exchange_timestamp": None,
            "variety": request.match_info["variety"], "modified": False,
            "exchange": form["exchange"], "tradingsymbol": form["tradingsymbol"],
            "instrument_token": TOKENS.get(symbol, 0), "order_type": kind,
            "transaction_type": form["transaction_type"], "validity": form.get("validity", "DAY"),
            "validity_ttl": 0, "product": form["product"], "quantity": quantity,
            "disclosed_quantity": 0, "price": float(form.get("price", 0)),
            "trigger_price": float(form.get("trigger_price", 0)), "average_price": 0,
            "filled_quantity": 0, "pending_quantity": quantity, "cancelled_quantity": 0,
            "market_protection": int(form.get("market_protection", 0)), "meta": {},
            "tag": form.get("tag"), "tags": [form["tag"]] if form.get("tag") else [],
            "guid": f"guid{order_id}",
        }  # fmt: skip
        self.orders[order_id] = [order]
        for status in _ACCEPTED_PATH[1:]:
            self._push(order_id, status=status)
        resting = "TRIGGER PENDING" if kind in ("SL", "SL-M") else "OPEN"
        self._push(order_id, status=resting, exchange_order_id=f"13{order_id}",
                   exchange_timestamp=now_ist(), exchange_update_timestamp=now_ist())  # fmt: skip
        plan = self._scripts.popleft() if self._scripts else Script()
        self._plans[order_id] = plan
        while plan.at_once and plan.events:
            self.step(order_id)
        return {"order_id": order_id}

    def _modify(self, request: web.Request) -> JSON:
        order_id, form = request.match_info["order_id"], self.requests[-1].form
        current = self._working(order_id, "modified")
        if sum(1 for o in self.orders[order_id] if o["status"] == "MODIFIED") >= MAX_MODIFICATIONS:
            raise KiteError(400, "OrderException", "Maximum allowed order modifications exceeded.")
        changes: JSON = {"modified": True}
        for key in ("quantity", "price", "trigger_price"):
            if key in form:
                changes[key] = int(form[key]) if key == "quantity" else float(form[key])
        if "quantity" in changes:
            changes["pending_quantity"] = changes["quantity"] - current["filled_quantity"]
        for status in ("MODIFY VALIDATION PENDING", "MODIFY PENDING", "MODIFIED"):
            self._push(order_id, status=status, **changes)
        self._push(order_id, status=current["status"])
        return {"order_id": order_id}

    def _cancel(self, request: web.Request) -> JSON:
        order_id = request.match_info["order_id"]
        current = self._working(order_id, "cancelled")
        self._push(order_id, status="CANCEL PENDING")
        self._push(order_id, status="CANCELLED", pending_quantity=0,
                   cancelled_quantity=current["pending_quantity"])  # fmt: skip
        return {"order_id": order_id}

    def _working(self, order_id: str, verb: str) -> JSON:
        if order_id not in self.orders:
            raise KiteError(400, "InputException", "Couldn't find that `order_id`.")
        current = self.order(order_id)
        if current["status"] in ("COMPLETE", "CANCELLED", "REJECTED"):
            status = current["status"].lower()
            raise KiteError(400, "OrderException", f"Order cannot be {verb} as it is {status}.")
        return current

    def _apply(self, order_id: str, event: int | str, plan: Script) -> None:
        current = self.order(order_id)
        if event == "reject":
            self._push(order_id, status="REJECTED", status_message=plan.status_message,
                       status_message_raw=f"RMS:{plan.status_message}", pending_quantity=0,
                       exchange_order_id=None, exchange_timestamp=None)  # fmt: skip
            return
        quantity = min(int(event), current["pending_quantity"])
        symbol = f"{current['exchange']}:{current['tradingsymbol']}"
        price = plan.fill_price or Decimal(str(current["price"])) or self.prices[symbol]
        filled = current["filled_quantity"] + quantity
        average = (Decimal(str(current["average_price"])) * current["filled_quantity"]
                   + price * quantity) / filled  # fmt: skip
        pending = current["quantity"] - filled
        self._push(order_id, status="COMPLETE" if pending == 0 else "OPEN",
                   filled_quantity=filled, pending_quantity=pending,
                   average_price=float(round(average, 4)))  # fmt: skip
        self.trades.append({
            "trade_id": str(next(self._trade_ids)), "order_id": order_id,
            "exchange": current["exchange"], "tradingsymbol": current["tradingsymbol"],
            "instrument_token": current["instrument_token"], "product": current["product"],
            "average_price": float(price), "quantity": quantity,
            "exchange_order_id": current["exchange_order_id"],
            "transaction_type": current["transaction_type"], "fill_timestamp": now_ist(),
            "order_timestamp": now_ist()[11:], "exchange_timestamp": now_ist(),
        })  # fmt: skip

    def _push(self, order_id: str, **changes: Any) -> None:
        self.orders[order_id].append(self.order(order_id) | changes)

    def _history(self, request: web.Request) -> list[JSON]:
        order_id = request.match_info["order_id"]
        if order_id not in self.orders:
            raise KiteError(400, "InputException", "Couldn't find that `order_id`.")
        return self.orders[order_id]

    def _trades_of(self, request: web.Request) -> list[JSON]:
        return [t for t in self.trades if t["order_id"] == request.match_info["order_id"]]

    # -- portfolio and market data -------------------------------------------------------------

    def _positions(self, request: web.Request) -> JSON:
        books: dict[tuple[str, str, str], JSON] = {}
        for t in self.trades:
            key = (t["exchange"], t["tradingsymbol"], t["product"])
            book = books.setdefault(key, {"buy": [0, Decimal(0)], "sell": [0, Decimal(0)]})
            side = book["buy" if t["transaction_type"] == "BUY" else "sell"]
            side[0] += t["quantity"]
            side[1] += Decimal(str(t["average_price"])) * t["quantity"]
        net = [
            position(*key, book, self.prices[f"{key[0]}:{key[1]}"]) for key, book in books.items()
        ]
        return {"net": net, "day": net}

    def _quote(self, request: web.Request) -> JSON:
        full = request.path == "/quote"
        out: JSON = {}
        for key in request.query.getall("i", []):
            if key in self.prices:
                price = float(self.prices[key])
                out[key] = {"instrument_token": TOKENS[key], "last_price": price}
                if full:
                    out[key] |= depth(price)
        return out

    def _instruments(self, request: web.Request) -> web.Response:
        text = self.instruments_csv
        exchange = request.match_info.get("exchange")
        if exchange:
            lines = text.splitlines()
            text = "\n".join([lines[0], *(ln for ln in lines[1:] if ln.endswith("," + exchange))])
        return web.Response(text=text, content_type="text/csv")
