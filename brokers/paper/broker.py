"""``PaperBroker``: the simulated exchange behind the ``core.broker.Broker`` protocol.

The exchange (``exchange.py``) is synchronous; this module adds what a real adapter has around
it: a background price feed with heartbeats, push streams with fan-out (``streams.py``), an answer
delay for writes, injectable faults (``faults.py``), clean start and stop. Everything runs on the
event loop thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from decimal import Decimal
from types import TracebackType

from brokers.paper.config import PaperSettings
from brokers.paper.exchange import PaperExchange
from brokers.paper.faults import FailedStream, PaperFaults
from brokers.paper.instruments import InstrumentMaster, bundled_instruments
from brokers.paper.state import StateFile
from brokers.paper.streams import FanOut, Subscription
from brokers.paper.ticks import PriceUpdate, make_feed
from core.broker import Capabilities, OrderUpdate, RateLimit
from core.domain.clock import Clock, SystemClock
from core.domain.errors import ConfigError
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

log = logging.getLogger(__name__)

# A subscriber that stops reading ticks loses the oldest ones rather than growing without bound;
# order updates are never dropped, since a lost fill would corrupt the position.
TICK_QUEUE_LIMIT = 10_000
CLOSE_TIMEOUT_S = 5.0
# Margins are 20 % of prices with two decimals; reports show whole cents.
_CENT = Decimal("0.01")


class PaperBroker:
    """A paper account: real orders, simulated prices, no network; ``faults`` injects failures."""

    def __init__(
        self,
        account: str,
        settings: PaperSettings | None = None,
        *,
        clock: Clock | None = None,
        instruments: InstrumentMaster | None = None,
    ) -> None:
        self._account = account
        self._settings = settings or PaperSettings()
        self._instruments = instruments or bundled_instruments()
        if self._settings.default_exchange not in self._instruments.exchanges:
            known = ", ".join(sorted(self._instruments.exchanges))
            raise ConfigError(
                f"default_exchange: the paper broker has no {self._settings.default_exchange} "
                f"instruments (exchanges: {known})"
            )
        store = StateFile(self._settings.state_file) if self._settings.state_file else None
        self._clock = clock or SystemClock()
        self._exchange = PaperExchange(
            account, self._settings, self._instruments, self._clock, store=store
        )
        self.order_updates: FanOut[OrderUpdate] = FanOut()
        self.ticks: FanOut[Tick | Heartbeat] = FanOut(TICK_QUEUE_LIMIT)
        self.faults = PaperFaults(self._settings, self._exchange, self.ticks)
        self._exchange.on_update = self.order_updates.publish
        self._exchange.on_tick = self._publish_tick
        self._feed = make_feed(
            self._settings, self._instruments, self._exchange.last_prices, self._play, self._beat
        )
        self._feed_task: asyncio.Task[None] | None = None
        self._capabilities = Capabilities(
            order_types=frozenset(OrderType),
            products=frozenset(Product),
            exchanges=self._instruments.exchanges,
            max_client_order_id_length=64,
            order_rate=RateLimit(1000, 1.0),
            quote_rate=RateLimit(1000, 1.0),
        )

    # ----------------------------------------------------------------------------- identity

    @property
    def account(self) -> str:
        """The account name from the configuration."""
        return self._account

    @property
    def capabilities(self) -> Capabilities:
        """All order types and products, the bundled exchanges, generous rate limits."""
        return self._capabilities

    @property
    def default_exchange(self) -> str:
        """The exchange of a bare symbol."""
        return self._settings.default_exchange

    # ----------------------------------------------------------------------------- lifecycle

    async def connect(self) -> None:
        """Start the price feed and any stall cycle (once; connecting again does nothing)."""
        if self._feed_task is not None and not self._feed_task.done():
            return
        self._feed_task = asyncio.create_task(
            self._feed.run(), name=f"paper[{self._account}] price feed"
        )
        self._feed_task.add_done_callback(self._feed_stopped)
        self.faults.start()

    async def close(self) -> None:
        """Stop the feed and end every stream; the account keeps its state for a reconnect."""
        task, self._feed_task = self._feed_task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=CLOSE_TIMEOUT_S)
            if not task.done():
                log.warning("paper[%s]: the price feed did not stop in time", self._account)
        await self.faults.stop()
        self.order_updates.end_all()
        self.ticks.end_all()

    async def __aenter__(self) -> PaperBroker:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # ----------------------------------------------------------------------------- writes

    async def create_order(self, request: OrderRequest, client_order_id: str) -> OrderReport:
        """Place an order; the report is its state right after acceptance (maybe with fills).

        Raise ``NotFound`` for an unknown instrument; other problems give a REJECTED report.
        """
        await self._answer_delay()
        return self.faults.create_order(request, client_order_id)

    async def modify_order(
        self,
        broker_order_id: str,
        *,
        quantity: int | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> OrderReport:
        """Change a working order; ``BrokerRejected`` when closed, ``NotFound`` when unknown."""
        await self._answer_delay()
        self.faults.settle()
        return self._exchange.modify_order(
            broker_order_id, quantity=quantity, price=price, trigger_price=trigger_price
        )

    async def cancel_order(self, broker_order_id: str) -> OrderReport:
        """Cancel a working order; ``BrokerRejected`` when closed, ``NotFound`` when unknown."""
        await self._answer_delay()
        self.faults.settle()
        self.faults.check_cancel()
        return self._exchange.cancel_order(broker_order_id)

    def set_price(self, instrument_id: InstrumentId | str, price: Decimal | int | str) -> None:
        """Play one price as if the feed sent it: publish the tick and match resting orders.

        For tests and demos. The price is rounded to the tick size; ``NotFound`` for an
        instrument the paper broker does not list.
        """
        if isinstance(instrument_id, str):
            instrument_id = InstrumentId.parse(instrument_id, self.default_exchange)
        self.faults.settle()
        self._exchange.apply_prices([(instrument_id, Decimal(price))])

    # ----------------------------------------------------------------------------- reads

    async def fetch_instrument(self, instrument: InstrumentId) -> Instrument:
        """The listed instrument, or ``NotFound``."""
        return self._instruments.get(instrument)

    async def fetch_order(self, broker_order_id: str) -> OrderReport:
        """One order, or ``NotFound``."""
        return self._exchange.state.find(broker_order_id).to_report()

    async def fetch_order_by_client_id(self, client_order_id: str) -> OrderReport | None:
        """The order created with this client order id, or ``None``."""
        order = self._exchange.state.by_client_id(client_order_id)
        return order.to_report() if order else None

    async def fetch_orders(self) -> list[OrderReport]:
        """Every order of the account, open and closed, oldest first."""
        return [order.to_report() for order in self._exchange.state.orders.values()]

    async def fetch_open_orders(self) -> list[OrderReport]:
        """Working orders, oldest first."""
        return [order.to_report() for order in self._exchange.state.open_orders()]

    async def fetch_fills(self) -> list[Fill]:
        """Every execution, oldest first."""
        return list(self._exchange.state.fills)

    async def fetch_positions(self) -> list[Position]:
        """Every position traded, flat ones included with their realised P&L."""
        book = self._exchange.state
        return [
            Position(
                account=self._account,
                instrument=record.instrument,
                product=record.product,
                quantity=record.quantity,
                average_price=record.average_price,
                last_price=book.mark(record.instrument, record.average_price),
                realised_pnl=record.realised_pnl,
                currency=self._currency_of(record.instrument),
            )
            for record in book.positions.values()
        ]

    async def fetch_balance(self) -> Balance:
        """Cash, available funds and used margin (the funds model is in ``exchange.py``)."""
        funds = self._exchange.state.funds()
        return Balance(
            account=self._account,
            currency=self._exchange.state.currency,
            cash=funds.cash.quantize(_CENT),
            available=funds.available.quantize(_CENT),
            used_margin=funds.used_margin.quantize(_CENT),
        )

    async def fetch_quotes(self, instruments: Iterable[InstrumentId]) -> dict[InstrumentId, Quote]:
        """Last prices; ``NotFound`` when any instrument is unknown."""
        self.faults.check_quotes()
        quotes = {}
        for instrument in instruments:
            self._instruments.get(instrument)
            last = self._exchange.state.last[instrument]
            quotes[instrument] = Quote(instrument=instrument, last_price=last.price, time=last.time)
        return quotes

    # ----------------------------------------------------------------------------- streams

    def stream_ticks(self, instruments: Iterable[InstrumentId]) -> AsyncIterator[Tick | Heartbeat]:
        """Ticks of these instruments (``NotFound`` if unknown) and heartbeats, until ``close``."""
        wanted = frozenset(instruments)
        for instrument in wanted:
            self._instruments.get(instrument)
        error = self.faults.take_connect_error()
        if error is not None:
            return FailedStream(error)
        return self.ticks.subscribe(
            lambda item: isinstance(item, Heartbeat) or item.instrument in wanted
        )

    def stream_order_updates(self) -> AsyncIterator[OrderUpdate]:
        """Every order update from now until ``close``; each subscriber gets all of them."""
        return self.order_updates.subscribe()

    # ----------------------------------------------------------------------------- internals

    async def _answer_delay(self) -> None:
        if self.faults.order_delay_s > 0:
            await asyncio.sleep(self.faults.order_delay_s)

    def _publish_tick(self, item: Tick | Heartbeat) -> None:
        if not self.faults.stalled:
            self.ticks.publish(item)

    def _beat(self) -> None:
        self._publish_tick(Heartbeat(self._clock.now()))

    def _play(self, updates: Sequence[PriceUpdate]) -> None:
        # A failure on one batch (a full disk under the state file, say) must not stop prices.
        try:
            self.faults.settle()
            self._exchange.apply_prices(updates)
        except Exception:
            log.exception("paper[%s]: could not play %d prices", self._account, len(updates))

    def _currency_of(self, instrument: InstrumentId) -> str:
        if instrument in self._instruments:
            return self._instruments.get(instrument).currency
        return self._exchange.state.currency  # delisted since the state was saved

    def _feed_stopped(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("paper[%s]: the price feed failed", self._account, exc_info=error)


__all__ = ["FanOut", "PaperBroker", "Subscription"]
