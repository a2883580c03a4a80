"""The paper matching engine: synchronous and deterministic, so tests can drive it tick by tick.

``PaperBroker`` wraps it for asyncio; nothing here awaits, sleeps or reads the wall clock except
through the injected ``Clock``.

Matching
--------
Every price update is one tick at one price level. Each tick offers ``book_size`` units to buyers
and ``book_size`` units to sellers of that instrument; working orders take from it in arrival
order, and what is left over fills on later ticks (status ``PARTIALLY_FILLED`` meanwhile).

* MARKET fills at the last price.
* LIMIT arriving marketable (BUY: last <= price, SELL: last >= price) fills at the last price,
  which is then the better of the two; resting, it fills at its limit when a tick crosses it.
* SL and SL-M trigger when the last price reaches the trigger (BUY: last >= trigger, SELL:
  last <= trigger), then arrive as a LIMIT at ``price`` or as a MARKET order.
* IOC takes what the book offers on arrival (for a stop: when it triggers) and cancels the rest.

Funds model
-----------
* ``cash`` moves on every fill: a buy pays quantity x price, a sell receives it.
* A working order that opens or adds to a position blocks remaining quantity x reference price x
  margin rate (CNC 100 %, MIS and NRML 20 %); the reference price is the limit price, the trigger
  of an untriggered SL-M, or the last price. The part of an order that only reduces the position
  (covered by it, oldest orders first) blocks nothing.
* Open MIS and NRML positions are carried on margin: they hold |quantity| x last x 20 %, and
  their market value counts towards the funds, because their fills moved the full value through
  cash. Without this, a short sale would *raise* the money available to trade.
* ``used_margin`` = order blocks + position margin;
  ``available`` = cash + market value of MIS/NRML positions - used_margin.
  With only CNC trades this is simply cash - order blocks.
* An order whose block exceeds ``available`` is rejected, naming both amounts.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from decimal import Decimal

from brokers.paper.checks import funds_problem, holdings_problem, modify_problem, request_problem
from brokers.paper.config import PaperSettings
from brokers.paper.instruments import InstrumentMaster
from brokers.paper.state import AccountState, LastPrice, PaperOrder, StateFile
from core.broker import OrderUpdate
from core.domain.clock import Clock
from core.domain.errors import BrokerRejected, ConfigError
from core.domain.models import (
    Fill,
    InstrumentId,
    OrderReport,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    Tick,
    Validity,
)

log = logging.getLogger(__name__)

PRICE_SAVE_INTERVAL_S = 5.0

UpdateListener = Callable[[OrderUpdate], None]
TickListener = Callable[[Tick], None]


class PaperExchange:
    """One paper account's order book, positions and money."""

    def __init__(
        self,
        account: str,
        settings: PaperSettings,
        instruments: InstrumentMaster,
        clock: Clock,
        *,
        store: StateFile | None = None,
    ) -> None:
        self.account = account
        self.instruments = instruments
        self.on_update: UpdateListener | None = None
        self.on_tick: TickListener | None = None
        self._settings = settings
        self._clock = clock
        self._store = store
        self._emitted = 0  # order updates so far; a price batch that changed none saves less
        self._saved_at = clock.monotonic()
        # Units left at the current price level per (instrument, side); every tick refills them.
        self._taken: dict[tuple[InstrumentId, Side], int] = {}
        restored = store.load() if store else None
        if store is not None and restored is not None and restored.account != account:
            raise ConfigError(
                f"state_file: {store.path} belongs to account {restored.account!r}, not {account!r}"
            )
        self._state = restored or AccountState(account, settings.currency, settings.cash)
        now = clock.now()
        for listing in instruments:
            # Start (or extend a restored state) from the bundled prices so quotes always work.
            self._state.last.setdefault(listing.id, LastPrice(listing.reference_price, now))

    @property
    def state(self) -> AccountState:
        """The account's book: orders, fills, positions, money. Read it; change it only here."""
        return self._state

    def last_prices(self) -> dict[InstrumentId, Decimal]:
        """The last price of every instrument the exchange has seen."""
        return {iid: last.price for iid, last in self._state.last.items()}

    # ----------------------------------------------------------------------------- writes

    def create_order(self, request: OrderRequest, client_order_id: str) -> OrderReport:
        """Accept or reject an order and match it at once; return its state afterwards.

        Raise ``NotFound`` for an unknown instrument and ``BrokerRejected`` for a client id
        already used: in both cases no order is created. Every other problem is a REJECTED order.
        """
        order = self._new_order(request, client_order_id)
        reason = (
            request_problem(self._state, request, self.instruments.get(request.instrument))
            or holdings_problem(self._state, order)
            or funds_problem(self._state, order, None)
        )
        if reason:
            self._book(order, OrderStatus.REJECTED, reason)
        else:
            self._book(order, OrderStatus.OPEN, "accepted")
            self._work(order, arriving=True)
        self._save()
        return order.to_report()

    def record_rejected(
        self, request: OrderRequest, client_order_id: str, reason: str
    ) -> OrderReport:
        """Book an order as REJECTED for ``reason`` without checking it; push and save it.

        For a refusal decided outside the exchange's rules, such as a simulated risk system's.
        ``NotFound`` and ``BrokerRejected`` as for ``create_order``.
        """
        order = self._new_order(request, client_order_id)
        self._book(order, OrderStatus.REJECTED, reason)
        self._save()
        return order.to_report()

    def record_accepted(self, request: OrderRequest, client_order_id: str) -> OrderReport:
        """Book an order as OPEN without checking or matching it; push and save it.

        For an order accepted only to be refused a moment later with ``reject``: it does not
        match on arrival, only on the prices after it. Errors as for ``create_order``.
        """
        order = self._new_order(request, client_order_id)
        self._book(order, OrderStatus.OPEN, "accepted")
        self._save()
        return order.to_report()

    def reject(self, order_id: str, reason: str) -> OrderReport:
        """Move a working order with nothing filled to REJECTED for ``reason``; push and save it.

        ``NotFound`` for an unknown id; ``BrokerRejected`` when the order is closed or has fills.
        """
        order = self._state.find(order_id)
        self._require_open(order)
        if order.filled_quantity:
            raise BrokerRejected(
                f"order {order_id} has {order.filled_quantity} filled and cannot be rejected",
                code="order_filled",
            )
        self._close(order, OrderStatus.REJECTED, reason)
        self._save()
        return order.to_report()

    def modify_order(
        self,
        order_id: str,
        *,
        quantity: int | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> OrderReport:
        """Change a working order and match it again at once.

        ``NotFound`` for an unknown id; ``BrokerRejected`` when the order is closed or the change
        is refused, and then the order is left as it was.
        """
        order = self._state.find(order_id)
        self._require_open(order)
        if quantity is None and price is None and trigger_price is None:
            raise BrokerRejected("nothing to modify: give a quantity, price or trigger price")
        candidate = dataclasses.replace(
            order,
            quantity=order.quantity if quantity is None else quantity,
            price=order.price if price is None else price,
            trigger_price=order.trigger_price if trigger_price is None else trigger_price,
        )
        reason = (
            modify_problem(self.instruments, order, candidate, price, trigger_price)
            or holdings_problem(self._state, candidate)
            or funds_problem(self._state, candidate, order)
        )
        if reason:
            raise BrokerRejected(f"cannot modify {order_id}: {reason}", code="modify_refused")
        order.quantity = candidate.quantity
        order.price = candidate.price
        order.trigger_price = candidate.trigger_price
        order.updated_at = self._clock.now()
        if order.remaining == 0:
            order.status = OrderStatus.FILLED
            order.message = f"quantity reduced to the {order.filled_quantity} already filled"
        else:
            order.message = "modified"
        self._emit(order)
        if order.is_open:
            self._work(order, arriving=True)
        self._save()
        return order.to_report()

    def cancel_order(self, order_id: str) -> OrderReport:
        """Cancel a working order; ``BrokerRejected`` when it is already closed."""
        order = self._state.find(order_id)
        self._require_open(order)
        self._close(order, OrderStatus.CANCELLED, "cancelled by user")
        self._save()
        return order.to_report()

    def apply_prices(self, updates: Iterable[tuple[InstrumentId, Decimal]]) -> None:
        """Play price updates in order, each one a tick: record it, publish it, match on it."""
        played = False
        emitted = self._emitted
        for instrument_id, price in updates:
            self._apply_price(instrument_id, price)
            played = True
        # Orders and positions are saved as soon as they change; bare prices only now and then,
        # so a long session does not rewrite the whole account on every tick.
        stale = self._clock.monotonic() - self._saved_at >= PRICE_SAVE_INTERVAL_S
        if played and (self._emitted != emitted or stale):
            self._save()

    # ----------------------------------------------------------------------------- matching

    def _apply_price(self, instrument_id: InstrumentId, price: Decimal) -> None:
        rounded = self.instruments.get(instrument_id).round_price(price)
        if rounded <= 0:
            raise ValueError(f"price {price} for {instrument_id} is not positive")
        now = self._clock.now()
        self._state.last[instrument_id] = LastPrice(rounded, now)
        self._taken.pop((instrument_id, Side.BUY), None)
        self._taken.pop((instrument_id, Side.SELL), None)
        if self.on_tick is not None:
            self.on_tick(Tick(instrument=instrument_id, last_price=rounded, time=now))
        for order in self._state.open_orders():
            if order.instrument == instrument_id and order.is_open:
                self._work(order, arriving=False)

    def _work(self, order: PaperOrder, *, arriving: bool) -> None:
        """Trigger, match and (for IOC) cancel one working order against the current market."""
        last = self._state.last[order.instrument].price
        if order.is_stop and not order.triggered:
            if not _stop_reached(order, last):
                return
            order.triggered = True
            order.message = f"triggered at {last}"
            order.updated_at = self._clock.now()
            self._emit(order)
            arriving = True  # a triggered stop reaches the book as a new order would
        price = _fill_price(order, last, arriving=arriving)
        if price is not None:
            key = (order.instrument, order.side)
            lot = self.instruments.get(order.instrument).lot_size
            # Whole lots only, and at least one lot per tick even when the book is smaller.
            offered = max(self._settings.book_size, lot) - self._taken.get(key, 0)
            quantity = min(order.remaining, offered - offered % lot)
            if quantity > 0:
                self._taken[key] = self._taken.get(key, 0) + quantity
                self._execute(order, quantity, price)
        if arriving and order.validity is Validity.IOC and order.is_open:
            unfilled = order.remaining
            self._close(order, OrderStatus.CANCELLED, f"IOC: {unfilled} unfilled, cancelled")

    def _execute(self, order: PaperOrder, quantity: int, price: Decimal) -> None:
        now = self._clock.now()
        order.filled_quantity += quantity
        order.filled_value += price * quantity
        order.status = OrderStatus.FILLED if order.remaining == 0 else OrderStatus.PARTIALLY_FILLED
        order.message = f"{quantity} filled at {price}"
        order.updated_at = now
        fill = Fill(
            fill_id=self._state.next_fill_id(),
            broker_order_id=order.order_id,
            client_order_id=order.client_order_id,
            instrument=order.instrument,
            side=order.side,
            quantity=quantity,
            price=price,
            time=now,
        )
        self._state.fills.append(fill)
        self._state.position(order.instrument, order.product).apply_fill(
            order.side, quantity, price
        )
        self._state.cash -= order.side.sign * price * quantity
        self._emit(order, fill)

    def _new_order(self, request: OrderRequest, client_order_id: str) -> PaperOrder:
        """A fresh OPEN record for the request, not booked yet: only ``_book`` adds it.

        ``NotFound`` for an unknown instrument, ``BrokerRejected`` for a client id already used.
        """
        self.instruments.get(request.instrument)
        existing = self._state.by_client_id(client_order_id)
        if existing is not None:
            raise BrokerRejected(
                f"client order id {client_order_id!r} is already used by order {existing.order_id}",
                code="duplicate_client_order_id",
            )
        return PaperOrder.from_request(
            self._state.next_order_id(), client_order_id, self.account, request, self._clock.now()
        )

    def _book(self, order: PaperOrder, status: OrderStatus, message: str) -> None:
        """Add a new order to the book with its first status and push it."""
        order.status = status
        order.message = message
        self._state.orders[order.order_id] = order
        self._emit(order)

    def _close(self, order: PaperOrder, status: OrderStatus, message: str) -> None:
        order.status = status
        order.message = message
        order.updated_at = self._clock.now()
        self._emit(order)

    # ----------------------------------------------------------------------------- plumbing

    @staticmethod
    def _require_open(order: PaperOrder) -> None:
        if not order.is_open:
            raise BrokerRejected(
                f"order {order.order_id} is already {order.status}", code="order_closed"
            )

    def _emit(self, order: PaperOrder, fill: Fill | None = None) -> None:
        self._emitted += 1
        if self.on_update is not None:
            self.on_update(OrderUpdate(order.to_report(), fill))

    def _save(self) -> None:
        if self._store is not None:
            self._store.save(self._state)
            self._saved_at = self._clock.monotonic()


def _stop_reached(order: PaperOrder, last: Decimal) -> bool:
    trigger = order.trigger_price
    if trigger is None:
        return True
    return last >= trigger if order.side is Side.BUY else last <= trigger


def _fill_price(order: PaperOrder, last: Decimal, *, arriving: bool) -> Decimal | None:
    """The price a working order fills at on this tick, or ``None`` when it does not cross."""
    if order.order_type in (OrderType.MARKET, OrderType.SL_M) or order.price is None:
        return last
    crosses = last <= order.price if order.side is Side.BUY else last >= order.price
    if not crosses:
        return None
    # Crossing means last is the better price; only an arriving order gets it.
    return last if arriving else order.price
