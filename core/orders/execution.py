"""The execution pipeline: persist intent -> call the broker -> persist the outcome.

Placement is never retried. When the broker's answer is lost (``OutcomeUnknown``, a crash, a
cancelled task) the order stays in flight under its client order id, and the sync loop settles it
by finding that id in the broker's order book; nothing here sends the same order twice.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal

from core.broker import Broker, BrokerRegistry
from core.domain.errors import (
    AuthenticationFailed,
    BrokerRejected,
    BrokerUnavailable,
    IllegalTransition,
    NotFound,
    OrderDenied,
    UserError,
)
from core.domain.ids import new_client_order_id
from core.domain.models import (
    Instrument,
    InstrumentId,
    Order,
    OrderPurpose,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Product,
    Side,
)
from core.domain.order_fsm import OrderEvent, OrderEventKind
from core.orders.gate import TradingGate
from core.orders.locks import PositionLocks
from core.orders.tracker import IntentHook, OrderTracker
from core.risk.service import RiskService

log = logging.getLogger(__name__)


def normalise(request: OrderRequest, instrument: Instrument) -> OrderRequest:
    """Check a request against the instrument; round prices to its tick size."""
    try:
        request.validate()
    except ValueError as exc:
        raise OrderDenied(str(exc), rule="request") from None
    if not instrument.is_whole_lots(request.quantity):
        raise OrderDenied(
            f"quantity {request.quantity} is not a multiple of the lot size "
            f"{instrument.lot_size} of {instrument.id}",
            rule="lot_size",
        )
    price = None if request.price is None else instrument.round_price(request.price, request.side)
    trigger = (
        None
        if request.trigger_price is None
        else instrument.round_price(request.trigger_price, request.side.opposite)
    )
    return replace(request, price=price, trigger_price=trigger)


class ExecutionService:
    """Places, modifies, cancels and exits orders under the position's lock."""

    def __init__(
        self,
        registry: BrokerRegistry,
        tracker: OrderTracker,
        locks: PositionLocks,
        gate: TradingGate,
        risk: RiskService | None = None,
    ) -> None:
        self.registry = registry
        self.tracker = tracker
        self.locks = locks
        self.gate = gate
        self.risk = risk

    async def place(
        self, request: OrderRequest, purpose: OrderPurpose = OrderPurpose.ENTRY
    ) -> Order:
        """Place an order, waiting for the position's lock."""
        async with self.locks.hold(request.account, request.instrument):
            return await self.place_locked(request, purpose)

    async def place_locked(
        self,
        request: OrderRequest,
        purpose: OrderPurpose = OrderPurpose.ENTRY,
        *,
        with_intent: IntentHook | None = None,
    ) -> Order:
        """Place an order; the caller holds the position's lock.

        ``with_intent`` runs in the transaction that stores the intent (see ``OrderTracker``).
        The risk checks run before the intent is stored: a denial records and sends nothing.
        """
        self.gate.check(request.account)
        broker = self.registry.get(request.account)
        if request.order_type not in broker.capabilities.order_types:
            raise OrderDenied(f"{broker.account} does not support {request.order_type} orders")
        if request.product not in broker.capabilities.products:
            raise OrderDenied(f"{broker.account} does not support the {request.product} product")
        instrument = await self._instrument(broker, request)
        request = normalise(request, instrument)
        if self.risk is not None:
            await self.risk.check(broker, request, instrument, purpose)
        client_order_id = new_client_order_id()
        await self.tracker.record_intent(request, client_order_id, purpose, with_intent=with_intent)
        return await self._submit(broker, request, client_order_id)

    async def _instrument(self, broker: Broker, request: OrderRequest) -> Instrument:
        try:
            return await broker.fetch_instrument(request.instrument)
        except NotFound:
            raise OrderDenied(
                f"{broker.account} does not know {request.instrument}", rule="instrument"
            ) from None

    async def _submit(self, broker: Broker, request: OrderRequest, client_order_id: str) -> Order:
        try:
            report = await broker.create_order(request, client_order_id)
        except (BrokerRejected, AuthenticationFailed) as exc:
            return await self._settle(client_order_id, OrderEventKind.REJECTED, str(exc))
        except (BrokerUnavailable, OrderDenied) as exc:
            # Certain that nothing reached the broker: the order does not exist there.
            return await self._settle(client_order_id, OrderEventKind.REJECTED, f"not sent: {exc}")
        except Exception as exc:
            # Anything else may have reached the broker; the sync loop finds out which.
            log.warning("order %s outcome unknown: %r", client_order_id, exc)
            return await self._settle(
                client_order_id, OrderEventKind.OUTCOME_UNKNOWN, f"awaiting the broker: {exc}"
            )
        order = await self.tracker.apply_report(report)
        if order is None:  # the broker answered for another order: a broker bug
            return await self._settle(
                client_order_id, OrderEventKind.OUTCOME_UNKNOWN, "the broker's answer did not match"
            )
        return order

    async def _settle(self, client_order_id: str, kind: OrderEventKind, message: str) -> Order:
        # A push update may already have settled the order; then this outcome is stale.
        return await self.tracker.apply(
            client_order_id, [OrderEvent(kind, message=message)], skip_illegal=True
        )

    async def cancel(self, client_order_id: str) -> Order:
        """Ask the broker to cancel a working order."""
        order = await self._working(client_order_id, "cancel")
        async with self.locks.hold(order.account, order.instrument):
            order = await self._working(client_order_id, "cancel")
            broker = self.registry.get(order.account)
            order = await self.tracker.apply(
                client_order_id, [OrderEvent(OrderEventKind.CANCEL_REQUESTED)]
            )
            try:
                report = await broker.cancel_order(order.broker_order_id or "")
            except BrokerRejected as exc:
                # The order may have filled meanwhile: let the broker's view decide.
                await self._refresh(broker, order)
                refreshed = await self.tracker.get(client_order_id) or order
                if refreshed.status is OrderStatus.PENDING_CANCEL:
                    refreshed = await self.tracker.apply(
                        client_order_id,
                        [OrderEvent(OrderEventKind.CANCEL_REFUSED, message=str(exc))],
                    )
                raise UserError(f"the broker refused the cancel: {exc}") from None
            except Exception as exc:
                log.warning("cancel of %s unanswered: %r", client_order_id, exc)
                raise UserError(
                    "the broker did not answer the cancel; the order book will show the outcome"
                ) from None
            return await self.tracker.apply_report(report) or order

    async def modify(
        self,
        client_order_id: str,
        *,
        quantity: int | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> Order:
        """Change a working order's quantity, price or trigger at the broker."""
        order = await self._working(client_order_id, "modify")
        async with self.locks.hold(order.account, order.instrument):
            order = await self._working(client_order_id, "modify")
            broker = self.registry.get(order.account)
            instrument = await broker.fetch_instrument(order.instrument)
            if price is not None:
                if order.request.order_type in (OrderType.MARKET, OrderType.SL_M):
                    raise OrderDenied(f"a {order.request.order_type} order has no price to change")
                price = instrument.round_price(price, order.request.side)
            if trigger_price is not None:
                if order.request.order_type not in (OrderType.SL, OrderType.SL_M):
                    raise OrderDenied("only stop orders have a trigger price")
                trigger_price = instrument.round_price(trigger_price, order.request.side.opposite)
            if quantity is not None:
                if quantity <= order.filled_quantity or not instrument.is_whole_lots(quantity):
                    raise OrderDenied(
                        f"quantity must be whole lots of {instrument.lot_size} and above the "
                        f"{order.filled_quantity} already filled"
                    )
            if self.risk is not None:
                await self.risk.check_modify(
                    broker,
                    order,
                    instrument,
                    quantity=quantity,
                    price=price,
                    trigger_price=trigger_price,
                )
            try:
                report = await broker.modify_order(
                    order.broker_order_id or "",
                    quantity=quantity,
                    price=price,
                    trigger_price=trigger_price,
                )
            except BrokerRejected as exc:
                raise UserError(f"the broker refused the change: {exc}") from None
            return await self.tracker.apply_report(report) or order

    async def exit_position(self, account: str, position: Position) -> Order:
        """Close a position with a market order sized to the broker's live quantity.

        Exits already working for the position count against it, so an /exit racing an
        automatic exit places one exit between them, not two.
        """
        async with self.locks.hold(account, position.instrument):
            live = await self.live_position(account, position)
            if live is None or live.is_flat:
                raise UserError(f"no open position in {position.instrument} on {account}")
            side = Side.SELL if live.quantity > 0 else Side.BUY
            pending = await self.pending_exit_quantity(account, live.instrument, live.product, side)
            quantity = abs(live.quantity) - pending
            if quantity <= 0:
                raise UserError(
                    f"an exit of {live.instrument} on {account} is already working; "
                    "/orders shows it"
                )
            request = OrderRequest(
                account=account,
                instrument=live.instrument,
                side=side,
                quantity=quantity,
                order_type=OrderType.MARKET,
                product=live.product,
            )
            return await self.place_locked(request, OrderPurpose.EXIT)

    async def pending_exit_quantity(
        self, account: str, instrument: InstrumentId, product: Product, side: Side
    ) -> int:
        """Quantity still to fill on exit orders working for this position."""
        return sum(
            order.remaining_quantity
            for order in await self.tracker.in_flight(account)
            if order.purpose is OrderPurpose.EXIT
            and order.instrument == instrument
            and order.request.product == product
            and order.request.side is side
        )

    async def live_position(self, account: str, position: Position) -> Position | None:
        """The broker's current view of the position (same instrument and product)."""
        broker = self.registry.get(account)
        for candidate in await broker.fetch_positions():
            if (
                candidate.instrument == position.instrument
                and candidate.product == position.product
            ):
                return candidate
        return None

    async def _working(self, client_order_id: str, verb: str) -> Order:
        order = await self.tracker.get(client_order_id)
        if order is None:
            raise UserError(f"no order {client_order_id}")
        if order.status not in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED):
            raise UserError(f"cannot {verb} order {client_order_id}: it is {order.status}")
        if order.broker_order_id is None:
            raise UserError(f"cannot {verb} order {client_order_id}: the broker has no id for it")
        self.gate.check(order.account)
        return order

    async def _refresh(self, broker: Broker, order: Order) -> None:
        try:
            report = await broker.fetch_order(order.broker_order_id or "")
        except Exception:
            log.warning("could not refresh order %s", order.client_order_id, exc_info=True)
            return
        try:
            await self.tracker.apply_report(report)
        except IllegalTransition:
            log.warning("refresh of %s produced an illegal move", order.client_order_id)
