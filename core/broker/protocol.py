"""The ``Broker`` protocol every adapter implements, and its capabilities.

The verbs follow one naming rule: ``create_`` / ``modify_`` / ``cancel_`` for writes, ``fetch_``
for reads (singular returns one thing, plural a list), ``stream_`` for push data. A REST+push
broker (Kite, FYERS) and an event-driven one (IBKR) both fit: ``create_order`` returns the first
report the broker gives (an IBKR order is still PENDING_SUBMIT then), and every later change
arrives through ``stream_order_updates`` or a ``fetch_``.

Failures are raised as ``core.domain.errors`` types: a read never returns an empty list for
"I could not ask"; a write that may have reached the broker raises ``OutcomeUnknown``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

from core.domain.models import (
    Balance,
    Fill,
    Heartbeat,
    Instrument,
    InstrumentId,
    OrderReport,
    OrderRequest,
    OrderType,
    Position,
    Product,
    Quote,
    Tick,
)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``requests`` per ``per_s`` seconds."""

    requests: int
    per_s: float


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a broker supports, so core can refuse early instead of failing at the broker."""

    order_types: frozenset[OrderType]
    products: frozenset[Product]
    exchanges: frozenset[str]
    streams_ticks: bool = True
    streams_order_updates: bool = True
    max_client_order_id_length: int = 20
    order_rate: RateLimit = RateLimit(10, 1.0)
    quote_rate: RateLimit = RateLimit(1, 1.0)
    max_stream_instruments: int = 3000


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """A push from the broker: the order's new state, and the execution that caused it if any."""

    report: OrderReport
    fill: Fill | None = None


@runtime_checkable
class Broker(Protocol):
    """One connected account at one broker."""

    @property
    def account(self) -> str:
        """The account name from the configuration."""
        ...

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def default_exchange(self) -> str: ...

    async def connect(self) -> None:
        """Open sessions and streams; raise ``AuthenticationFailed`` when the login is dead."""
        ...

    async def close(self) -> None: ...

    async def fetch_instrument(self, instrument: InstrumentId) -> Instrument:
        """Raise ``NotFound`` for a symbol the broker does not know."""
        ...

    async def create_order(self, request: OrderRequest, client_order_id: str) -> OrderReport: ...

    async def modify_order(
        self,
        broker_order_id: str,
        *,
        quantity: int | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> OrderReport: ...

    async def cancel_order(self, broker_order_id: str) -> OrderReport: ...

    async def fetch_order(self, broker_order_id: str) -> OrderReport: ...

    async def fetch_order_by_client_id(self, client_order_id: str) -> OrderReport | None:
        """Search today's orders for our client order id; ``None`` when the broker has none."""
        ...

    async def fetch_orders(self) -> list[OrderReport]:
        """Today's orders, open and closed."""
        ...

    async def fetch_open_orders(self) -> list[OrderReport]: ...

    async def fetch_fills(self) -> list[Fill]:
        """Today's executions."""
        ...

    async def fetch_positions(self) -> list[Position]: ...

    async def fetch_balance(self) -> Balance: ...

    async def fetch_quotes(self, instruments: Iterable[InstrumentId]) -> dict[InstrumentId, Quote]:
        """Raise ``NotFound`` when any instrument is unknown."""
        ...

    def stream_ticks(self, instruments: Iterable[InstrumentId]) -> AsyncIterator[Tick | Heartbeat]:
        """Ticks of the instruments, and heartbeats while the connection is alive.

        The iterator ends or raises ``BrokerUnavailable`` when the connection drops (call again
        to reconnect) and raises ``AuthenticationFailed`` when the session is dead.
        """
        ...

    def stream_order_updates(self) -> AsyncIterator[OrderUpdate]: ...


@runtime_checkable
class LoginCapable(Protocol):
    """A broker whose sessions come from a daily login in the browser (Kite, FYERS)."""

    def login_url(self, redirect_params: Mapping[str, str] | None = None) -> str:
        """The page where the user logs in; the broker then redirects with a request token.

        ``redirect_params`` come back as query parameters of that redirect (Kite's
        ``redirect_params``; a broker with a single ``state`` field packs them into it).
        """
        ...

    def login_token(self, pasted: str) -> str:
        """The one-time token in what the user pasted or the browser brought back: the redirect
        address, or the bare token. Each broker names it its own way (Kite's ``request_token``,
        FYERS's ``auth_code``). Raises ``UserError`` when there is none, or when the address says
        the login did not succeed."""
        ...

    async def complete_login(self, token: str) -> tuple[str, str]:
        """Trade the one-time token for a session: (user id, access token); uses it at once."""
        ...

    def use_access_token(self, token: str | None) -> None:
        """Use a stored session's token."""
        ...


@runtime_checkable
class InstrumentsRefreshable(Protocol):
    """A broker with a downloaded instrument master (Kite's daily dump) that can be renewed."""

    async def refresh_instruments(self) -> int:
        """Download the instrument master again and use it; return how many instruments it has.

        A failed download raises and keeps the master in hand.
        """
        ...
