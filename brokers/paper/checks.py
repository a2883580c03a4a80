"""Why the paper exchange refuses an order or a change; each check returns the reason, or ``""``.

The checks only read the account's records; ``exchange.py`` runs them and acts on the answer (a
REJECTED order for a new one, ``BrokerRejected`` for a modify). The funds model they apply is
described in ``exchange.py``'s module docstring and computed in ``state.py``.
"""

from __future__ import annotations

from decimal import Decimal

from brokers.paper.instruments import InstrumentMaster, lot_problem, price_problem
from brokers.paper.state import AccountState, PaperOrder
from core.domain.models import Instrument, OrderRequest, OrderType, Product, Side

_MONEY = Decimal("0.01")


def request_problem(state: AccountState, request: OrderRequest, instrument: Instrument) -> str:
    """Why the request cannot be accepted, or ``""``."""
    if request.account != state.account:
        return f"the order is for account {request.account!r}, this is {state.account!r}"
    try:
        request.validate()
    except ValueError as err:
        return str(err)
    if instrument.currency != state.currency:
        return (
            f"{instrument.id} trades in {instrument.currency}, but account "
            f"{state.account!r} holds {state.currency}"
        )
    return lot_problem(instrument, request.quantity) or price_problem(
        instrument, request.price, request.trigger_price
    )


def modify_problem(
    instruments: InstrumentMaster,
    order: PaperOrder,
    candidate: PaperOrder,
    price: Decimal | None,
    trigger_price: Decimal | None,
) -> str:
    """Why the change cannot be made, or ``""``."""
    if price is not None and order.order_type not in (OrderType.LIMIT, OrderType.SL):
        return f"a {order.order_type} order takes no price"
    if trigger_price is not None and not order.is_stop:
        return f"a {order.order_type} order takes no trigger price"
    if trigger_price is not None and order.triggered:
        return "the stop has already triggered"
    if candidate.quantity < order.filled_quantity:
        return f"quantity {candidate.quantity} is below the {order.filled_quantity} already filled"
    instrument = instruments.get(order.instrument)
    lot = (
        "" if candidate.quantity == order.quantity else lot_problem(instrument, candidate.quantity)
    )
    return lot or price_problem(instrument, price, trigger_price)


def holdings_problem(state: AccountState, order: PaperOrder) -> str:
    """A CNC sell may only deliver shares held and not already promised to another sell."""
    if order.product is not Product.CNC or order.side is not Side.SELL:
        return ""
    held = max(0, state.held(order.instrument, Product.CNC))
    promised = sum(
        other.remaining
        for other in state.open_orders()
        if other.order_id != order.order_id
        and (other.instrument, other.product, other.side)
        == (order.instrument, Product.CNC, Side.SELL)
    )
    if order.remaining <= held - promised:
        return ""
    if held == 0:
        return f"no holdings: {order.instrument} is not held in CNC, so it cannot be sold"
    return (
        f"no holdings: selling {order.remaining} {order.instrument} needs that many free in "
        f"CNC; {held} held, {promised} already in open sell orders"
    )


def funds_problem(state: AccountState, candidate: PaperOrder, current: PaperOrder | None) -> str:
    """Why the account cannot carry the margin the candidate order blocks, or ``""``.

    ``current`` is the working order a modify would replace, ``None`` for a new order.
    """
    blocked, required = state.order_margins(candidate)
    if current is not None and required <= state.order_margins(current)[1]:
        return ""  # a change that blocks no more than before is always allowed
    available = state.funds(blocked).available
    if required <= available:
        return ""
    return (
        f"insufficient funds: required {required.quantize(_MONEY)} {state.currency}, "
        f"available {available.quantize(_MONEY)} {state.currency}"
    )
