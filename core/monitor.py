"""The tick monitor: market data in, exit-rule crossings out, never blind.

One ``AccountFeed`` per account (one market-data source) reads the broker's tick stream for the
instruments of that account's armed rules. A watchdog tracks the age of the last message on the
connection and of the last tick per instrument: past ``stale_after_s`` the silent instruments are
polled through ``fetch_quotes`` (within the broker's quote rate limit) until the stream delivers
them again, and a silent connection is reconnected. Both switches raise alerts. Reconnects back
off with jitter; an authentication failure stops reconnecting and asks the owner to log in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

from core.broker import Broker
from core.domain.alerts import Event, EventKind
from core.domain.clock import Clock
from core.domain.errors import AuthenticationFailed
from core.domain.models import InstrumentId, Tick
from core.rule_index import RuleIndex

log = logging.getLogger(__name__)

AlertHook = Callable[[Event], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    stale_after_s: float = 3.0
    poll_interval_s: float = 1.0
    watchdog_interval_s: float = 0.1
    max_backoff_s: float = 30.0


class AccountFeed:
    """Ticks for one account's armed rules, with the watchdog and the polling fallback."""

    def __init__(
        self,
        broker: Broker,
        index: RuleIndex,
        clock: Clock,
        alert: AlertHook,
        settings: MonitorSettings,
    ) -> None:
        self.broker = broker
        self.index = index
        self.clock = clock
        self.alert = alert
        self.settings = settings
        rate = broker.capabilities.quote_rate
        self.poll_every_s = max(settings.poll_interval_s, rate.per_s / max(rate.requests, 1))
        self.last_message = clock.monotonic()
        self.last_tick: dict[InstrumentId, float] = {}
        self.last_price: dict[InstrumentId, Decimal] = {}
        self.price_seen_at: dict[InstrumentId, float] = {}
        self.polled: set[InstrumentId] = set()
        self.auth_failed = False
        self.stalls_detected = 0
        self._subscribed: frozenset[InstrumentId] = frozenset()
        self._restart = asyncio.Event()
        self._next_poll = 0.0
        self._reconnect_at = 0.0

    def instruments_changed(self) -> None:
        """The set of instruments to watch may differ: resubscribe if it does."""
        watched = frozenset(self.index.instruments())
        for gone in [i for i in self.last_tick if i not in watched]:
            # No longer watched: what we knew of it will be stale when it is watched again.
            self.last_tick.pop(gone, None)
            self.last_price.pop(gone, None)
            self.price_seen_at.pop(gone, None)
        if watched != self._subscribed:
            self._restart.set()

    async def run(self) -> None:
        """Read the stream forever (reconnecting), with the watchdog beside it."""
        watchdog = asyncio.create_task(
            self._watchdog(), name=f"monitor[{self.broker.account}] watchdog"
        )
        backoff = 0.5
        try:
            while not self.auth_failed:
                instruments = frozenset(self.index.instruments())
                self._subscribed = instruments
                self._restart.clear()
                if not instruments:
                    await self._restart.wait()
                    continue
                received = await self._read(instruments)
                if self.auth_failed:
                    break
                if self._restart.is_set() and received:
                    backoff = 0.5
                    continue
                backoff = 0.5 if received else min(backoff * 2, self.settings.max_backoff_s)
                await asyncio.sleep(backoff * (0.5 + random.random() / 2))
            await watchdog
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

    async def _read(self, instruments: frozenset[InstrumentId]) -> bool:
        """Consume one connection until it ends, fails, or a restart is asked; True if it spoke."""
        reader = asyncio.create_task(
            self._consume(instruments), name=f"monitor[{self.broker.account}] stream"
        )
        restart = asyncio.create_task(self._restart.wait())
        try:
            await asyncio.wait({reader, restart}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            restart.cancel()
            if not reader.done():
                reader.cancel()
            await asyncio.wait({reader})  # let it finish; its outcome is read below
        if reader.cancelled():
            return True
        exc = reader.exception()
        if isinstance(exc, AuthenticationFailed):
            self.auth_failed = True
            await self.alert(
                Event(
                    EventKind.TOKEN_EXPIRED,
                    self.broker.account,
                    {"message": f"market data refused the login ({exc}); log in again"},
                )
            )
            return False
        if exc is not None:
            log.warning("tick stream of %s failed: %r", self.broker.account, exc)
            return False
        return reader.result()

    async def _consume(self, instruments: frozenset[InstrumentId]) -> bool:
        spoke = False
        stream = self.broker.stream_ticks(instruments)
        # Prices that moved before the subscription took effect were never streamed: read the
        # newcomers' quotes once now, and give each a fresh clock for the watchdog.
        now = self.clock.monotonic()
        newcomers = [i for i in instruments if i not in self.last_tick]
        for instrument in newcomers:
            self.last_tick[instrument] = now
        if newcomers:
            await self._evaluate_quotes(newcomers)
        try:
            async for item in stream:
                now = self.clock.monotonic()
                self.last_message = now
                spoke = True
                if isinstance(item, Tick):
                    self.last_tick[item.instrument] = now
                    self.last_price[item.instrument] = item.last_price
                    self.price_seen_at[item.instrument] = now
                    self.index.on_price(item.instrument, item.last_price, now)
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        return spoke

    # --- the watchdog ----------------------------------------------------------------------

    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(self.settings.watchdog_interval_s)
            try:
                await self.check()
            except Exception:
                log.exception("watchdog of %s failed", self.broker.account)

    async def check(self) -> None:
        """One watchdog round: switch instruments between stream and polling; poll if due."""
        now = self.clock.monotonic()
        stale_after = self.settings.stale_after_s
        connection_stale = now - self.last_message > stale_after
        went_stale: list[InstrumentId] = []
        recovered: list[InstrumentId] = []
        for instrument in self.index.instruments():
            last = self.last_tick.get(instrument, now)
            stale = connection_stale or now - last > stale_after
            if stale and instrument not in self.polled:
                self.polled.add(instrument)
                went_stale.append(instrument)
            elif not stale and instrument in self.polled:
                self.polled.discard(instrument)
                recovered.append(instrument)
        self.polled &= set(self.index.instruments())
        if went_stale:
            self.stalls_detected += 1
            self._next_poll = now  # poll at once, not a full interval later
            await self._switch_alert(EventKind.FEED_FALLBACK, went_stale, connection_stale)
        if connection_stale and now - self._reconnect_at >= stale_after:
            self._reconnect_at = now
            self._restart.set()  # a silent socket is a dead socket: reconnect
        if recovered:
            await self._switch_alert(EventKind.FEED_RECOVERED, recovered, False)
        if self.polled and now >= self._next_poll and not self.auth_failed:
            self._next_poll = now + self.poll_every_s
            await self.poll()

    def recheck(self, instrument: InstrumentId) -> None:
        """Evaluate the last known price again (rules of the instrument just changed).

        Only a fresh price counts: one older than ``stale_after_s`` says nothing about now.
        """
        price = self.last_price.get(instrument)
        now = self.clock.monotonic()
        seen = self.price_seen_at.get(instrument)
        if price is not None and seen is not None and now - seen <= self.settings.stale_after_s:
            self.index.on_price(instrument, price, now)

    async def poll(self) -> None:
        """Fetch quotes for the polled instruments and evaluate them like ticks."""
        await self._evaluate_quotes(sorted(self.polled))

    async def _evaluate_quotes(self, wanted: list[InstrumentId]) -> None:
        try:
            quotes = await self.broker.fetch_quotes(wanted)
        except AuthenticationFailed:
            raise
        except Exception as exc:
            log.warning("quote poll of %s failed: %r", self.broker.account, exc)
            return
        now = self.clock.monotonic()
        for instrument in wanted:
            quote = quotes.get(instrument)
            if quote is not None:
                self.last_price[instrument] = quote.last_price
                self.price_seen_at[instrument] = now
                self.index.on_price(instrument, quote.last_price, now)

    async def _switch_alert(
        self, kind: EventKind, instruments: list[InstrumentId], connection: bool
    ) -> None:
        names = ", ".join(str(i) for i in sorted(instruments))
        if kind is EventKind.FEED_FALLBACK:
            cause = "the connection went silent" if connection else "no ticks arrived"
            message = (
                f"{cause} for {self.settings.stale_after_s:g} s; polling {names} "
                f"every {self.poll_every_s:g} s"
            )
        else:
            message = f"ticks are flowing again for {names}; polling stopped"
        await self.alert(Event(kind, self.broker.account, {"message": message}))
