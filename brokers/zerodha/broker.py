"""``ZerodhaBroker``: one Kite Connect account behind the ``Broker`` protocol.

Writes go through Kite's REST API with our client order id as the order ``tag``; Kite answers a
placement with the order id only, so the report returned is read back from the order's history.
Reads never return an empty list for "could not ask": they raise. Streams (ticks, order updates)
come from the ticker websocket.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx

from brokers.zerodha.client import KiteClient
from brokers.zerodha.config import ZerodhaSettings
from brokers.zerodha.errors import UnexpectedPayload
from brokers.zerodha.instruments import InstrumentCache
from brokers.zerodha.login import request_token_from
from brokers.zerodha.parsing import (
    balance_from,
    fill_from_trade,
    modify_params,
    order_params,
    order_report,
    position_from,
    quote_from,
)
from brokers.zerodha.ticks import KiteStreams
from core.broker import Capabilities, OrderUpdate, RateLimit
from core.domain.clock import Clock, SystemClock
from core.domain.errors import NotFound
from core.domain.ids import is_own_client_order_id
from core.domain.models import (
    Balance,
    Fill,
    Heartbeat,
    Instrument,
    InstrumentId,
    OrderReport,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Product,
    Quote,
    Tick,
)

log = logging.getLogger(__name__)

VARIETY = "regular"
EXCHANGES = frozenset({"NSE", "BSE", "NFO", "BFO", "CDS", "BCD", "MCX"})
_WORKING = (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_CANCEL)


class ZerodhaBroker:
    """A Kite Connect account. ``transport`` lets tests route HTTP to a fake server."""

    def __init__(
        self,
        account: str,
        settings: ZerodhaSettings,
        *,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._account = account
        self.settings = settings
        self.clock = clock or SystemClock()
        self.client = KiteClient(settings, transport=transport)
        self.instruments = InstrumentCache(self.client.instruments_csv)
        self.streams = KiteStreams(
            settings.ticker_url,
            settings.api_key,
            lambda: self.client.access_token,
            self.instruments.index,
            account,
            clock=self.clock,
        )
        self._capabilities = Capabilities(
            order_types=frozenset(OrderType),
            products=frozenset({Product.CNC, Product.MIS, Product.NRML}),
            exchanges=EXCHANGES,
            max_client_order_id_length=20,
            order_rate=RateLimit(settings.order_rate_per_s, 1.0),
            quote_rate=RateLimit(settings.quote_rate_per_s, 1.0),
            max_stream_instruments=9000,
        )

    @property
    def account(self) -> str:
        return self._account

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def default_exchange(self) -> str:
        return self.settings.default_exchange

    async def connect(self) -> None:
        """Check the session (a dead token raises ``AuthenticationFailed``)."""
        await self.client.__aenter__()  # keeps the token out of httpx's log lines
        await self.client.profile()

    async def close(self) -> None:
        await self.streams.close()
        await self.client.aclose()

    # --- daily login ----------------------------------------------------------------------

    def login_url(self, redirect_params: Mapping[str, str] | None = None) -> str:
        """Kite's login page; ``redirect_params`` go as one URL-encoded query string, which
        Kite appends to the redirect address after the login."""
        url = self.client.login_url()
        if redirect_params:
            url += "&" + urlencode({"redirect_params": urlencode(redirect_params)})
        return url

    def login_token(self, pasted: str) -> str:
        """Kite's ``request_token`` in the redirect address the user pasted, or the bare token."""
        return request_token_from(pasted)

    async def complete_login(self, request_token: str) -> tuple[str, str]:
        session = await self.client.generate_session(request_token)
        return session.user_id, session.access_token

    def use_access_token(self, token: str | None) -> None:
        if token:
            self.client.set_access_token(token)

    # --- instruments ------------------------------------------------------------------------

    async def fetch_instrument(self, instrument: InstrumentId) -> Instrument:
        return (await self.instruments.index()).get(instrument)

    async def refresh_instruments(self) -> int:
        """Download Kite's instrument dump again (the scheduler does this before the open)."""
        return len(await self.instruments.refresh())

    # --- writes -----------------------------------------------------------------------------

    async def create_order(self, request: OrderRequest, client_order_id: str) -> OrderReport:
        order_id = await self.client.place_order(
            VARIETY, order_params(request, client_order_id, self.settings)
        )
        return await self._report_after_write(order_id, request, client_order_id)

    async def modify_order(
        self,
        broker_order_id: str,
        *,
        quantity: int | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> OrderReport:
        form = modify_params(quantity=quantity, price=price, trigger_price=trigger_price)
        await self.client.modify_order(VARIETY, broker_order_id, form)
        return await self.fetch_order(broker_order_id)

    async def cancel_order(self, broker_order_id: str) -> OrderReport:
        await self.client.cancel_order(VARIETY, broker_order_id)
        return await self.fetch_order(broker_order_id)

    async def _report_after_write(
        self, order_id: str, request: OrderRequest, client_order_id: str
    ) -> OrderReport:
        """The order's state just after Kite took it; if that read fails, "sent, state unknown".

        The placement itself succeeded, so a failed read must not look like a failed order:
        the report says PENDING_SUBMIT with Kite's id, and the sync loop reads the rest.
        """
        try:
            return await self.fetch_order(order_id)
        except Exception as exc:
            log.warning("order %s placed; reading it back failed: %r", order_id, exc)
            return OrderReport(
                account=self._account,
                broker_order_id=order_id,
                instrument=request.instrument,
                side=request.side,
                quantity=request.quantity,
                status=OrderStatus.PENDING_SUBMIT,
                order_type=request.order_type,
                product=request.product,
                client_order_id=client_order_id,
                price=request.price,
                trigger_price=request.trigger_price,
            )

    # --- reads ------------------------------------------------------------------------------

    async def fetch_order(self, broker_order_id: str) -> OrderReport:
        history = await self.client.order_history(broker_order_id)
        if not history:
            raise NotFound(f"Kite has no order {broker_order_id}")
        return order_report(history[-1], self._account)

    async def fetch_order_by_client_id(self, client_order_id: str) -> OrderReport | None:
        for payload in await self.client.orders():
            if payload.get("tag") == client_order_id:
                return order_report(payload, self._account)
        return None

    async def fetch_orders(self) -> list[OrderReport]:
        return self._reports(await self.client.orders())

    async def fetch_open_orders(self) -> list[OrderReport]:
        return [r for r in await self.fetch_orders() if r.status in _WORKING]

    async def fetch_fills(self) -> list[Fill]:
        return [fill_from_trade(t) for t in await self.client.trades()]

    async def fetch_positions(self) -> list[Position]:
        net = (await self.client.positions()).get("net", [])
        return [position_from(p, self._account) for p in net]

    async def fetch_balance(self) -> Balance:
        return balance_from(await self.client.margins(), self._account)

    async def fetch_quotes(self, instruments: Iterable[InstrumentId]) -> dict[InstrumentId, Quote]:
        wanted = list(instruments)
        payloads = await self.client.quote(str(i) for i in wanted)
        now = self.clock.now().astimezone(UTC)
        quotes: dict[InstrumentId, Quote] = {}
        for instrument in wanted:
            payload = payloads.get(str(instrument))
            if payload is None:
                raise NotFound(f"Kite has no quote for {instrument}")
            quotes[instrument] = quote_from(instrument, payload, now=now)
        return quotes

    def _reports(self, payloads: list[dict[str, Any]]) -> list[OrderReport]:
        """Orders as reports. An order pocketdesk did not place, in a form it does not know
        (an MTF or cover order from Kite's own app), is skipped with a warning; one of ours
        that cannot be read raises, because skipping it would hide its state."""
        reports: list[OrderReport] = []
        for payload in payloads:
            try:
                reports.append(order_report(payload, self._account))
            except UnexpectedPayload:
                if _is_ours(payload):
                    raise
                log.warning("skipping Kite order %s: %s", payload.get("order_id"), payload)
        return reports

    # --- streams ----------------------------------------------------------------------------

    def stream_ticks(self, instruments: Iterable[InstrumentId]) -> AsyncIterator[Tick | Heartbeat]:
        return self.streams.ticks(list(instruments))

    def stream_order_updates(self) -> AsyncIterator[OrderUpdate]:
        return self._order_updates()

    async def _order_updates(self) -> AsyncIterator[OrderUpdate]:
        async for payload in self.streams.order_updates():
            try:
                report = order_report(payload, self._account)
            except UnexpectedPayload:
                if _is_ours(payload):
                    raise
                log.warning("skipping a Kite order update: %s", payload)
                continue
            yield OrderUpdate(report)


def _is_ours(payload: Mapping[str, Any]) -> bool:
    tag = payload.get("tag")
    return isinstance(tag, str) and is_own_client_order_id(tag)
