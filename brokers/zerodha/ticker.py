"""Kite's WebSocket ticker: one connection (``TickerConnection``); the account's streams built
on up to three of them are in ``ticks.py`` (``KiteStreams``).

A connection is opened with the credentials in the query (``?api_key=&access_token=``). Binary
frames carry market data (``frames.parse_frame``), a 1-byte binary frame is the server's
heartbeat, and text frames are JSON ``{"type": "order" | "error" | "message", "data": ...}``.
A dead token fails the upgrade with HTTP 403 (``AuthenticationFailed``); every other failure to
connect, and every closure we did not ask for, is ``BrokerUnavailable``: call again to reconnect.
A frame that cannot be read is logged and skipped; it never ends a stream.

Kite allows 3,000 instruments per connection and 3 connections per API key, so ``KiteStreams``
splits a subscription over up to three connections and lets order updates ride on the first
one instead of spending a connection of their own. Order updates leave as Kite's raw payloads;
the broker turns them into ``OrderUpdate``s with ``parsing.order_report``.

websockets' keepalive pings stay on: they catch a half-open connection that the official client
(which stopped pinging) never notices. Staleness of the data itself (a server that answers pings
but sends nothing) is the monitor's watchdog's business.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as open_websocket
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from brokers.zerodha.client import KITE_VERSION, USER_AGENT
from brokers.zerodha.errors import redact
from brokers.zerodha.frames import (
    FrameError,
    KitePacket,
    Mode,
    is_heartbeat,
    parse_frame,
    to_datetime,
)
from core.domain.errors import AuthenticationFailed, BrokerRejected, BrokerUnavailable
from core.domain.models import InstrumentId, Tick
from core.runtime.aio import AsyncClosing

log = logging.getLogger(__name__)

MAX_INSTRUMENTS_PER_CONNECTION = 3000
MAX_CONNECTIONS = 3
OPEN_TIMEOUT_S = 10.0
PING_INTERVAL_S = 20.0
PING_TIMEOUT_S = 20.0
CLOSE_TIMEOUT_S = 2.0
# Frames websockets holds before it stops reading the socket. Its default (16 frames; 32 in its
# legacy client) throttles the socket during an expiry-day burst of frames.
MAX_QUEUE = 1024
# A full-mode frame for 3,000 instruments is 2 + 3,000 x (2 + 184) = 558,002 bytes.
MAX_FRAME_BYTES = 2**20
# Events one stream holds for a slow reader before the connection's reader waits for it.
_UNAUTHORIZED, _TOO_MANY = 403, 429

T = TypeVar("T")


class _RedactToken(logging.Filter):
    """websockets logs the request line at DEBUG level, and ours carries the access token."""

    _TOKEN = re.compile(r"(access_token=)[^&\s'\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "access_token=" in text:
            record.msg, record.args = self._TOKEN.sub(r"\1***", text), ()
        return True


_WIRE_LOG = logging.getLogger(f"{__name__}.wire")
_WIRE_LOG.addFilter(_RedactToken())


# --- one connection ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerHeartbeat:
    """The server's 1-byte frame: the connection is alive and has nothing to stream."""


SERVER_HEARTBEAT = ServerHeartbeat()


@dataclass(frozen=True, slots=True)
class OrderPayload:
    """An order update from a ``{"type": "order"}`` text frame: Kite's postback payload."""

    data: dict[str, Any]


TickerEvent = KitePacket | ServerHeartbeat | OrderPayload


async def connect(
    url: str,
    api_key: str,
    access_token: str,
    *,
    open_timeout_s: float = OPEN_TIMEOUT_S,
    ping_interval_s: float | None = PING_INTERVAL_S,
    ping_timeout_s: float | None = PING_TIMEOUT_S,
    max_queue: int = MAX_QUEUE,
) -> TickerConnection:
    """Open one ticker connection; ``AuthenticationFailed`` on a 403, else ``BrokerUnavailable``."""
    query = urlencode({"api_key": api_key, "access_token": access_token})
    try:
        websocket = await open_websocket(
            f"{url}?{query}",
            additional_headers={"X-Kite-Version": KITE_VERSION},
            user_agent_header=USER_AGENT,
            open_timeout=open_timeout_s,
            ping_interval=ping_interval_s,
            ping_timeout=ping_timeout_s,
            close_timeout=CLOSE_TIMEOUT_S,
            max_queue=max_queue,
            max_size=MAX_FRAME_BYTES,
            logger=_WIRE_LOG,
        )
    except InvalidStatus as err:
        status = err.response.status_code
        if status == _UNAUTHORIZED:
            raise AuthenticationFailed(
                "Kite's ticker refused the login (HTTP 403): the access token is invalid or "
                "expired; log in again",
                code="TokenException",
            ) from None
        if status == _TOO_MANY:
            raise BrokerUnavailable(
                f"Kite's ticker refused another connection (HTTP 429): at most {MAX_CONNECTIONS} "
                "per API key",
                code="HTTP 429",
            ) from None
        raise BrokerUnavailable(
            f"Kite's ticker refused the connection (HTTP {status})", code=f"HTTP {status}"
        ) from None
    except (OSError, TimeoutError, WebSocketException) as err:
        reason = redact(str(err) or type(err).__name__, [access_token])
        raise BrokerUnavailable(
            f"could not connect to Kite's ticker ({reason})", code="network"
        ) from None
    return TickerConnection(websocket)


class TickerConnection(AsyncClosing):
    """One open WebSocket to Kite's ticker; read it with ``events()``, end it with ``close()``."""

    def __init__(self, websocket: ClientConnection) -> None:
        self._websocket = websocket
        self._modes: dict[int, Mode] = {}
        self._closing = False

    @property
    def subscriptions(self) -> Mapping[int, Mode]:
        """The tokens this connection asked for, and their modes."""
        return MappingProxyType(self._modes)

    async def subscribe(self, tokens: Collection[int], mode: Mode = Mode.QUOTE) -> None:
        """Ask for ``tokens`` in ``mode``: a ``subscribe`` message, then a ``mode`` message.

        Raise ``BrokerRejected`` (sending nothing) when the connection would carry more than
        3,000 instruments.
        """
        wanted = list(dict.fromkeys(tokens))
        if not wanted:
            return
        total = len(self._modes.keys() | set(wanted))
        if total > MAX_INSTRUMENTS_PER_CONNECTION:
            raise BrokerRejected(
                f"a Kite ticker connection carries at most {MAX_INSTRUMENTS_PER_CONNECTION} "
                f"instruments, not {total}",
                code="too_many_instruments",
            )
        await self._send({"a": "subscribe", "v": wanted})
        await self._send({"a": "mode", "v": [str(mode), wanted]})
        self._modes.update(dict.fromkeys(wanted, mode))

    async def set_mode(self, tokens: Collection[int], mode: Mode) -> None:
        """Switch subscribed tokens to ``mode``."""
        wanted = [token for token in dict.fromkeys(tokens) if token in self._modes]
        if wanted:
            await self._send({"a": "mode", "v": [str(mode), wanted]})
            self._modes.update(dict.fromkeys(wanted, mode))

    async def unsubscribe(self, tokens: Collection[int]) -> None:
        """Stop the data of ``tokens``."""
        wanted = list(dict.fromkeys(tokens))
        if wanted:
            await self._send({"a": "unsubscribe", "v": wanted})
            for token in wanted:
                self._modes.pop(token, None)

    async def events(self) -> AsyncIterator[TickerEvent]:
        """Every event the server sends, in order, until the connection ends.

        Ends quietly after our own ``close()``; any other closure raises ``BrokerUnavailable``.
        """
        while True:
            try:
                message = await self._websocket.recv()
            except ConnectionClosed as err:
                if self._closing:
                    return
                raise BrokerUnavailable(
                    f"Kite's ticker connection closed ({err})", code="disconnected"
                ) from None
            if isinstance(message, bytes):
                for event in decode_binary(message):
                    yield event
            else:
                text_event = decode_text(message)
                if text_event is not None:
                    yield text_event

    async def close(self) -> None:
        """Close the connection; ``events()`` ends."""
        self._closing = True
        await self._websocket.close()

    async def _send(self, message: dict[str, Any]) -> None:
        try:
            await self._websocket.send(json.dumps(message, separators=(",", ":")))
        except ConnectionClosed as err:
            raise BrokerUnavailable(
                f"Kite's ticker connection is closed ({err})", code="disconnected"
            ) from None


def decode_binary(data: bytes) -> list[TickerEvent]:
    """The events of one binary frame; a malformed frame is logged and gives none."""
    if is_heartbeat(data):
        return [SERVER_HEARTBEAT]
    try:
        return list(parse_frame(data))
    except FrameError as err:
        log.warning("skipped a malformed Kite ticker frame: %s", err)
        return []


def decode_text(text: str) -> TickerEvent | None:
    """The event of one text frame, if it carries one; errors and alerts are only logged."""
    try:
        message = json.loads(text)
    except ValueError:
        log.warning("skipped a Kite ticker text frame that is not JSON: %.200r", text)
        return None
    if not isinstance(message, dict):
        log.warning("skipped a Kite ticker text frame that is not an object: %.200r", text)
        return None
    kind, data = message.get("type"), message.get("data")
    if kind == "order":
        if isinstance(data, dict) and data:
            return OrderPayload(data)
        log.warning("skipped a Kite order update without an order: %.200r", text)
    elif kind == "error":
        log.warning("Kite's ticker reported an error: %s", data)
    elif kind == "message":
        log.info("Kite's ticker says: %s", data)
    else:
        log.debug("skipped a Kite ticker text frame of type %r", kind)
    return None


def tick_from(packet: KitePacket, instrument: InstrumentId, now: datetime) -> Tick:
    """The core tick of a packet: its exchange time when it has one (full mode), else ``now``."""
    stamp = packet.exchange_timestamp
    time = to_datetime(stamp) if stamp else now
    return Tick(instrument, packet.last_price, time, volume=packet.volume_traded)
