"""An in-process fake of Kite's WebSocket ticker, served by aiohttp on loopback.

Point a client at ``fake.url`` (``ws://127.0.0.1:PORT``). Like Kite it authenticates the upgrade
from the query (``?api_key=&access_token=``) and answers a bad or expired token with HTTP 403
before upgrading, refuses a connection past the third with HTTP 429, takes ``subscribe`` /
``unsubscribe`` / ``mode`` text messages (a new subscription is in quote mode; a connection holds
at most 3,000 tokens and answers more with an ``error`` text frame), and sends each subscriber
binary frames in its own mode, 1-byte heartbeats every ``heartbeat_s`` seconds, and order updates
as ``{"type": "order", "data": ...}`` text frames.

Faults: ``push_garbage`` (any bytes or text), ``go_silent`` (the socket stays open and answers
pings but sends nothing), ``drop`` (close every connection, cleanly or not), ``expire_token``.

The binary encoder here is written from the documented packet layouts, separately from the
parser under test (``brokers/zerodha/frames.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

MAX_TOKENS = 3000
MAX_CONNECTIONS = 3
TOO_MANY_TOKENS = "Can't subscribe to more than 3000 instruments."
HEARTBEAT = b"\x00"
SEGMENT_INDICES = 9
DIVISORS = {3: 10_000_000, 6: 10_000, 12: 10_000}  # CDS, BCD, NCO; every other segment: 100
MODES = ("ltp", "quote", "full")
Price = Decimal | str | int


@dataclass(frozen=True)
class Handshake:
    """One upgrade request as the fake saw it, and the status it answered (101 = accepted)."""

    query: dict[str, str]
    headers: dict[str, str]
    status: int


@dataclass(eq=False)
class Connection:
    """One accepted WebSocket: its messages from the client and its subscriptions."""

    number: int
    ws: web.WebSocketResponse
    request: web.Request
    messages: list[Any] = field(default_factory=list)
    modes: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Market:
    """The fields of one packet besides the token and last price (prices as given, unscaled)."""

    last_quantity: int = 0
    average_price: Price = 0
    volume: int = 0
    buy_quantity: int = 0
    sell_quantity: int = 0
    open: Price = 0
    high: Price = 0
    low: Price = 0
    close: Price = 0
    last_trade_time: int = 0
    oi: int = 0
    oi_day_high: int = 0
    oi_day_low: int = 0
    exchange_timestamp: int = 0


class FakeKiteTicker:
    """The fake ticker: ``async with FakeKiteTicker() as ticker:``; ``ticker.url`` is its root."""

    def __init__(
        self,
        api_key: str = "fakekey",
        access_token: str = "fake-access-token-0001",
        *,
        heartbeat_s: float | None = 1.0,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.api_key, self.access_token = api_key, access_token
        # Where the REST fake's current token can be read, so a login there also works here.
        self.token_source: Callable[[], str] | None = None
        self.heartbeat_s = heartbeat_s
        self.max_connections = max_connections
        self.token_expired = False
        self.silent = False
        self.port = 0
        self.handshakes: list[Handshake] = []
        self.open: list[Connection] = []
        self.accepted = 0
        self._runner: web.AppRunner | None = None
        self._beating: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The ticker root, like ``wss://ws.kite.trade``; clients add the query."""
        return f"ws://127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        """How many connections are open now."""
        return len(self.open)

    @property
    def messages(self) -> list[Any]:
        """Every message the open connections received, connection by connection."""
        return [message for connection in self.open for message in connection.messages]

    async def start(self) -> None:
        """Listen on a free loopback port, and start the heartbeat."""
        app = web.Application()
        app.router.add_get("/", self._upgrade)
        self._runner = web.AppRunner(app, shutdown_timeout=0.2, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        if self.heartbeat_s:
            self._beating = asyncio.create_task(self._beat(self.heartbeat_s), name="fake-beat")

    async def stop(self) -> None:
        if self._beating is not None:
            self._beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating
        await self.drop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeKiteTicker:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- what the server sends -------------------------------------------------------------------

    async def push_ticks(
        self, token: int, last_price: Price, *, mode: str | None = None, **market: Any
    ) -> int:
        """Send a one-packet frame to every connection subscribed to ``token``, in the mode that
        connection asked for (or ``mode``); ``market`` sets ``Market`` fields. Returns how many
        connections it went to."""
        sent = 0
        for connection in list(self.open):
            chosen = mode or connection.modes.get(token)
            if chosen is not None:
                packet = encode_packet(token, last_price, chosen, Market(**market))
                sent += await self._send(connection, encode_frame(packet))
        return sent

    async def push_frame(self, frame: bytes) -> None:
        """Send raw binary bytes to every connection."""
        for connection in list(self.open):
            await self._send(connection, frame)

    async def heartbeat(self) -> None:
        """Send the 1-byte heartbeat to every connection."""
        await self.push_frame(HEARTBEAT)

    async def push_order(self, payload: dict[str, Any]) -> None:
        """Send an order update text frame to every connection."""
        await self.push_text(json.dumps({"type": "order", "data": payload}))

    async def push_error(self, message: str) -> None:
        """Send an ``error`` text frame to every connection."""
        await self.push_text(json.dumps({"type": "error", "data": message}))

    async def push_text(self, text: str) -> None:
        """Send a text frame to every connection."""
        for connection in list(self.open):
            await self._send(connection, text)

    async def push_garbage(self, data: bytes | str) -> None:
        """Send anything, as a binary frame (bytes) or a text frame (str)."""
        if isinstance(data, bytes):
            await self.push_frame(data)
        else:
            await self.push_text(data)

    # -- faults ---------------------------------------------------------------------------------

    def go_silent(self) -> None:
        """Send nothing from now on, not even heartbeats; the sockets stay open and answer pings."""
        self.silent = True

    def speak(self) -> None:
        """Send again after ``go_silent``."""
        self.silent = False

    def expire_token(self) -> None:
        """Refuse every new connection with HTTP 403; open connections stay open."""
        self.token_expired = True

    async def drop(self, *, clean: bool = False) -> None:
        """Close every connection: with a close frame if ``clean``, else by cutting the TCP
        connection (the client sees 1006, as after a real network failure)."""
        dropped, self.open = self.open, []
        for connection in dropped:
            transport = connection.request.transport
            if clean or transport is None:
                await connection.ws.close(code=1001, message=b"going away")
            else:
                transport.abort()

    async def until(self, condition: Callable[[], bool], timeout_s: float = 2.0) -> None:
        """Wait until ``condition()`` holds; fail the test after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("the fake ticker waited in vain")
            await asyncio.sleep(0.005)

    def subscribed(self, *tokens: int) -> bool:
        """Whether some open connection streams each of ``tokens``."""
        held = {token for connection in self.open for token in connection.modes}
        return set(tokens) <= held

    # -- plumbing -------------------------------------------------------------------------------

    async def _upgrade(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        expected = self.token_source() if self.token_source else self.access_token
        good = (query.get("api_key"), query.get("access_token")) == (self.api_key, expected)
        status = 101
        if not good or self.token_expired:
            status = 403
        elif len(self.open) >= self.max_connections:
            status = 429
        self.handshakes.append(Handshake(query, dict(request.headers), status))
        if status != 101:
            reason = "Forbidden" if status == 403 else "Too Many Requests"
            return web.Response(status=status, text=reason)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.accepted += 1
        connection = Connection(self.accepted, ws, request)
        self.open.append(connection)
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self._on_text(connection, message.data)
        finally:
            if connection in self.open:
                self.open.remove(connection)
        return ws

    async def _on_text(self, connection: Connection, text: str) -> None:
        try:
            message = json.loads(text)
            action, value = message["a"], message["v"]
        except (ValueError, KeyError, TypeError):
            connection.messages.append(text)
            return
        connection.messages.append(message)
        if action == "subscribe":
            new = [token for token in value if token not in connection.modes]
            if len(connection.modes) + len(new) > MAX_TOKENS:
                await self._send(connection, json.dumps({"type": "error", "data": TOO_MANY_TOKENS}))
                return
            connection.modes.update(dict.fromkeys(new, "quote"))
        elif action == "unsubscribe":
            for token in value:
                connection.modes.pop(token, None)
        elif action == "mode":
            mode, tokens = value
            for token in tokens:
                if token in connection.modes and mode in MODES:
                    connection.modes[token] = mode

    async def _send(self, connection: Connection, data: bytes | str) -> int:
        if self.silent or connection.ws.closed:
            return 0
        try:
            if isinstance(data, bytes):
                await connection.ws.send_bytes(data)
            else:
                await connection.ws.send_str(data)
        except ConnectionError:
            return 0
        return 1

    async def _beat(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            await self.heartbeat()


# --- the encoder ---------------------------------------------------------------------------------


def raw_price(token: int, price: Price) -> int:
    """The wire integer of a price on the token's segment; the price must be exact there."""
    scaled = Decimal(price) * DIVISORS.get(token & 0xFF, 100)
    if scaled != scaled.to_integral_value() or not 0 <= scaled < 2**32:
        raise ValueError(f"{price} cannot be sent exactly for token {token}")
    return int(scaled)


def encode_packet(token: int, last_price: Price, mode: str, market: Market | None = None) -> bytes:
    """One packet of ``mode`` for ``token``: an index layout on segment 9, else a tradable one."""
    m = market or Market()
    last = raw_price(token, last_price)
    if mode == "ltp":
        return struct.pack(">II", token, last)
    ohlc = [raw_price(token, p) for p in (m.open, m.high, m.low, m.close)]
    if token & 0xFF == SEGMENT_INDICES:
        open_, high, low, close = ohlc
        change = max(last - close, 0)  # unsigned on the wire; clients ignore it anyway
        packet = struct.pack(">7I", token, last, high, low, open_, close, change)
        return packet + struct.pack(">I", m.exchange_timestamp) if mode == "full" else packet
    average = raw_price(token, m.average_price)
    quantities = (m.last_quantity, average, m.volume, m.buy_quantity, m.sell_quantity)
    packet = struct.pack(">11I", token, last, *quantities, *ohlc)
    if mode == "quote":
        return packet
    extra = (m.last_trade_time, m.oi, m.oi_day_high, m.oi_day_low, m.exchange_timestamp)
    depth = struct.pack(">IIH2x", 0, 0, 0) * 10
    return packet + struct.pack(">5I", *extra) + depth


def encode_frame(*packets: bytes) -> bytes:
    """A binary frame: the packet count, then each packet behind its length (big-endian)."""
    body = b"".join(struct.pack(">H", len(packet)) + packet for packet in packets)
    return struct.pack(">H", len(packets)) + body
