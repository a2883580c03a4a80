"""The account's Kite streams: ticks and order updates over at most three ticker connections.

``ticker.py`` speaks the protocol on one connection; this module spreads an account's
instruments over connections of at most 3,000 tokens, turns packets into core ticks, and
hands order-update payloads to the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from brokers.zerodha.frames import (
    KitePacket,
    Mode,
)
from brokers.zerodha.ticker import (
    MAX_CONNECTIONS,
    MAX_INSTRUMENTS_PER_CONNECTION,
    OPEN_TIMEOUT_S,
    PING_INTERVAL_S,
    OrderPayload,
    ServerHeartbeat,
    TickerConnection,
    connect,
    tick_from,
)
from core.domain.clock import Clock, SystemClock
from core.domain.errors import AuthenticationFailed, BrokerError, BrokerRejected, BrokerUnavailable
from core.domain.models import Heartbeat, InstrumentId, Tick
from core.runtime.aio import AsyncClosing

log = logging.getLogger(__name__)


INBOX_SIZE = 8192

T = TypeVar("T")


# --- the account's streams -----------------------------------------------------------------


class TokenMap(Protocol):
    """Kite's instrument tokens for the day (``instruments.InstrumentIndex`` is one)."""

    def token(self, instrument: InstrumentId) -> int:
        """The instrument's token; ``NotFound`` when Kite does not list it."""
        ...


class _Inbox(Generic[T]):
    """One stream's queue. After ``end``, ``get`` returns the items already queued, then ``None``
    or raises the error ``end`` was given. ``end`` never waits, so a connection's reader can end
    its streams even when one of them is full."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[T | None] = asyncio.Queue(INBOX_SIZE)
        self._ended = False
        self._error: BrokerError | None = None

    async def put(self, item: T) -> None:
        if not self._ended:
            await self._queue.put(item)

    def end(self, error: BrokerError | None = None) -> None:
        if self._ended:
            return
        self._ended, self._error = True, error
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)  # wakes a waiting reader; a full queue has no reader

    async def get(self) -> T | None:
        if not (self._ended and self._queue.empty()):
            item = await self._queue.get()
            if item is not None:
                return item
        error, self._error = self._error, None
        if error is not None:
            raise error
        return None


@dataclass(eq=False)
class _Link:
    """One connection of the account, its reader task, and the streams it feeds."""

    connection: TickerConnection
    ticks: _Inbox[KitePacket | ServerHeartbeat] | None = None
    orders: set[_Inbox[dict[str, Any]]] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    closed: bool = False


@dataclass(eq=False)
class _TickSession:
    inbox: _Inbox[KitePacket | ServerHeartbeat]
    links: list[_Link] = field(default_factory=list)
    released: bool = False


class KiteStreams(AsyncClosing):
    """The account's tick stream and order-update stream over at most three connections.

    ``instruments`` loads the day's token map (``InstrumentCache.index``); ``access_token`` is
    read at every connect, so a new login is picked up by the next reconnect. One tick stream is
    open at a time: a new ``ticks`` call ends the previous one. Order updates come from the first
    connection, which a tick stream shares (its first 3,000 instruments subscribe there).
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        access_token: Callable[[], str | None],
        instruments: Callable[[], Awaitable[TokenMap]],
        account: str,
        *,
        mode: Mode = Mode.QUOTE,
        clock: Clock | None = None,
        ping_interval_s: float | None = PING_INTERVAL_S,
        open_timeout_s: float = OPEN_TIMEOUT_S,
    ) -> None:
        self._url, self._api_key, self._access_token = url, api_key, access_token
        self._instruments = instruments
        self.account = account
        self.mode = mode
        self._clock: Clock = clock or SystemClock()
        self._ping_interval_s = ping_interval_s
        self._open_timeout_s = open_timeout_s
        self._primary: _Link | None = None
        self._session: _TickSession | None = None
        self._links: set[_Link] = set()
        self._order_inboxes: set[_Inbox[dict[str, Any]]] = set()
        self._opened = 0
        self._lock = asyncio.Lock()
        self._attaching = asyncio.Lock()

    @property
    def connections(self) -> int:
        """How many ticker connections are open."""
        return len(self._links)

    async def ticks(self, instruments: Iterable[InstrumentId]) -> AsyncIterator[Tick | Heartbeat]:
        """Ticks of the instruments and a ``Heartbeat`` per server heartbeat, per connection.

        Raises ``BrokerRejected`` for more than 9,000 instruments and ``NotFound`` for one Kite
        does not list (before connecting), ``AuthenticationFailed`` for a dead login and
        ``BrokerUnavailable`` when a connection fails or drops; call again to reconnect. A
        packet with no price yet (0) is not a tick.
        """
        wanted = list(dict.fromkeys(instruments))
        capacity = MAX_INSTRUMENTS_PER_CONNECTION * MAX_CONNECTIONS
        if len(wanted) > capacity:
            raise BrokerRejected(
                f"Kite streams at most {capacity} instruments per API key "
                f"({MAX_CONNECTIONS} connections of {MAX_INSTRUMENTS_PER_CONNECTION}), "
                f"not {len(wanted)}",
                code="too_many_instruments",
            )
        token_map = await self._instruments()
        by_token = {token_map.token(instrument): instrument for instrument in wanted}
        tokens = list(by_token)
        size = MAX_INSTRUMENTS_PER_CONNECTION
        chunks = [tokens[i : i + size] for i in range(0, len(tokens), size)] or [[]]
        session = _TickSession(_Inbox())
        try:
            async with self._attaching:  # one subscription at a time on the shared connection
                if self._session is not None:
                    await self._release(self._session)
                self._session = session
                await self._attach(session, chunks)
            while (event := await session.inbox.get()) is not None:
                now = self._clock.now()
                if isinstance(event, ServerHeartbeat):
                    yield Heartbeat(now)
                    continue
                instrument = by_token.get(event.instrument_token)
                if instrument is not None and event.last_price:
                    yield tick_from(event, instrument, now)
        finally:
            await self._release(session)

    async def order_updates(self) -> AsyncIterator[dict[str, Any]]:
        """Kite's order payloads (``{"type": "order"}`` frames) as they arrive.

        Raises ``AuthenticationFailed`` for a dead login and ``BrokerUnavailable`` when the
        connection fails or drops; call again to reconnect.
        """
        inbox: _Inbox[dict[str, Any]] = _Inbox()
        self._order_inboxes.add(inbox)
        link: _Link | None = None
        try:
            link = await self._first_link()
            link.orders.add(inbox)
            while (payload := await inbox.get()) is not None:
                yield payload
        finally:
            self._order_inboxes.discard(inbox)
            if link is not None:
                link.orders.discard(inbox)
                await self._close_if_idle(link)

    async def close(self) -> None:
        """End every stream and close every connection."""
        for inbox in self._order_inboxes:
            inbox.end()
        if self._session is not None:
            self._session.inbox.end()
        self._primary = self._session = None
        for link in list(self._links):
            await self._close(link)

    # --- connections -------------------------------------------------------------------------

    async def _attach(self, session: _TickSession, chunks: list[list[int]]) -> None:
        first = await self._first_link()
        for number, chunk in enumerate(chunks):
            link = first if number == 0 else await self._open()
            if session.released:  # a newer tick stream replaced this one meanwhile
                await self._close_if_idle(link)
                return
            session.links.append(link)
            link.ticks = session.inbox
            await link.connection.subscribe(chunk, self.mode)

    async def _release(self, session: _TickSession) -> None:
        """End a tick stream: close its own connections, unsubscribe it from the shared one."""
        if session.released:
            return
        session.released = True
        session.inbox.end()
        if self._session is session:
            self._session = None
        for link in session.links:
            if link.ticks is session.inbox:
                link.ticks = None
            if link is not self._primary:
                await self._close(link)
                continue
            with contextlib.suppress(BrokerError):
                await link.connection.unsubscribe(list(link.connection.subscriptions))
            await self._close_if_idle(link)

    async def _first_link(self) -> _Link:
        async with self._lock:
            if self._primary is None or self._primary.closed:
                self._primary = await self._open()
            return self._primary

    async def _open(self) -> _Link:
        token = self._access_token()
        if not token:
            raise AuthenticationFailed("no Kite access token: log in first", code="no_session")
        connection = await connect(
            self._url,
            self._api_key,
            token,
            open_timeout_s=self._open_timeout_s,
            ping_interval_s=self._ping_interval_s,
        )
        link = _Link(connection)
        self._opened += 1
        name = f"kite-ticker-{self.account}-{self._opened}"
        link.task = asyncio.create_task(self._pump(link), name=name)
        self._links.add(link)
        return link

    async def _pump(self, link: _Link) -> None:
        """Hand a connection's events to its streams; on failure, fail them all."""
        try:
            async for event in link.connection.events():
                if isinstance(event, OrderPayload):
                    for inbox in list(link.orders):
                        await inbox.put(event.data)
                elif link.ticks is not None:
                    await link.ticks.put(event)
            return
        except BrokerError as err:
            error: BrokerError = err
        except Exception as err:  # a bug here must still end the streams, not hang them
            log.exception("the Kite ticker reader of %s failed", self.account)
            error = BrokerUnavailable(f"Kite's ticker reader failed ({err!r})", code="reader")
        log.warning("Kite ticker connection of %s lost: %s", self.account, error)
        self._forget(link)
        if link.ticks is not None:
            link.ticks.end(error)
        for inbox in list(link.orders):
            inbox.end(error)

    async def _close_if_idle(self, link: _Link) -> None:
        if link.ticks is None and not link.orders:
            await self._close(link)

    async def _close(self, link: _Link) -> None:
        self._forget(link)
        task = link.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await link.connection.close()

    def _forget(self, link: _Link) -> None:
        link.closed = True
        self._links.discard(link)
        if self._primary is link:
            self._primary = None
