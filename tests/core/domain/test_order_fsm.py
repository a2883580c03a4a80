"""The order state machine: every legal move, and illegal moves change nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain.errors import IllegalTransition
from core.domain.models import InstrumentId, Order, OrderRequest, OrderStatus, Side
from core.domain.order_fsm import TRANSITIONS, OrderEvent, OrderEventKind, apply, can_apply

S, E = OrderStatus, OrderEventKind
T0 = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)
T1 = T0 + timedelta(seconds=1)


def make_order(
    status: OrderStatus = S.PENDING_SUBMIT, quantity: int = 10, filled: int = 0
) -> Order:
    request = OrderRequest("paper", InstrumentId("NSE", "INFY"), Side.BUY, quantity)
    return Order(
        client_order_id="pd0001",
        request=request,
        status=status,
        created_at=T0,
        updated_at=T0,
        broker_order_id=None if status is S.PENDING_SUBMIT else "B1",
        filled_quantity=filled,
        average_price=Decimal("100") if filled else None,
    )


def event_for(kind: OrderEventKind, quantity: int = 1) -> OrderEvent:
    if kind is E.FILL:
        return OrderEvent(kind, fill_quantity=quantity, fill_price=Decimal("101"))
    if kind is E.MODIFIED:
        return OrderEvent(kind, new_price=Decimal("99"))
    return OrderEvent(kind)


def test_every_status_has_a_row_in_the_table() -> None:
    assert set(TRANSITIONS) == set(OrderStatus)


@pytest.mark.parametrize(
    ("status", "kind", "target"),
    [
        (status, kind, target)
        for status, row in TRANSITIONS.items()
        for kind, target in row.items()
        if kind is not E.FILL
    ],
)
def test_each_listed_transition_reaches_its_target(
    status: OrderStatus, kind: OrderEventKind, target: OrderStatus
) -> None:
    order = make_order(status)
    after = apply(order, event_for(kind), T1)
    assert after.status is target
    assert after.version == order.version + 1
    assert after.updated_at == T1


@pytest.mark.parametrize("status", [s for s, row in TRANSITIONS.items() if E.FILL in row])
def test_partial_and_complete_fills_from_every_status_that_allows_them(
    status: OrderStatus,
) -> None:
    order = make_order(status)
    partial = apply(order, event_for(E.FILL, 4), T1)
    assert partial.status is TRANSITIONS[status][E.FILL]
    assert partial.filled_quantity == 4
    done = apply(order, event_for(E.FILL, 10), T1)
    assert done.status is S.FILLED
    assert done.average_price == Decimal("101")


def test_fill_racing_a_cancel_ends_filled() -> None:
    cancelled = make_order(S.CANCELLED)
    assert apply(cancelled, event_for(E.FILL, 10), T1).status is S.FILLED


def test_average_price_is_weighted_across_fills() -> None:
    order = make_order(S.OPEN)
    order = apply(order, OrderEvent(E.FILL, fill_quantity=4, fill_price=Decimal("100")), T1)
    order = apply(order, OrderEvent(E.FILL, fill_quantity=6, fill_price=Decimal("110")), T1)
    assert order.status is S.FILLED
    assert order.average_price == Decimal("106")


def test_overfill_is_illegal() -> None:
    order = make_order(S.PARTIALLY_FILLED, filled=8)
    with pytest.raises(IllegalTransition):
        apply(order, event_for(E.FILL, 3), T1)


def test_cancel_refused_after_a_partial_fill_returns_to_partially_filled() -> None:
    order = make_order(S.PENDING_CANCEL, filled=3)
    assert apply(order, event_for(E.CANCEL_REFUSED), T1).status is S.PARTIALLY_FILLED


def test_a_different_broker_id_is_illegal() -> None:
    order = make_order(S.OPEN)
    with pytest.raises(IllegalTransition):
        apply(order, OrderEvent(E.ACCEPTED, broker_order_id="OTHER"), T1)


def test_modify_below_filled_quantity_is_illegal() -> None:
    order = make_order(S.PARTIALLY_FILLED, filled=5)
    with pytest.raises(IllegalTransition):
        apply(order, OrderEvent(E.MODIFIED, new_quantity=4), T1)


def test_filled_is_final() -> None:
    assert TRANSITIONS[S.FILLED] == {}


@settings(max_examples=300)
@given(status=st.sampled_from(list(OrderStatus)), kind=st.sampled_from(list(OrderEventKind)))
def test_illegal_moves_raise_and_change_nothing(status: OrderStatus, kind: OrderEventKind) -> None:
    order = make_order(status)
    snapshot = replace(order)
    if can_apply(status, kind):
        apply(order, event_for(kind), T1)
    else:
        with pytest.raises(IllegalTransition):
            apply(order, event_for(kind), T1)
    assert order == snapshot


@settings(max_examples=300)
@given(kinds=st.lists(st.sampled_from(list(OrderEventKind)), max_size=12))
def test_any_sequence_keeps_the_invariants(kinds: list[OrderEventKind]) -> None:
    order = make_order()
    for kind in kinds:
        before = order
        try:
            order = apply(order, event_for(kind, 3), T1)
        except IllegalTransition:
            assert order is before
            continue
        expected = TRANSITIONS[before.status][kind]
        if order.filled_quantity == order.request.quantity:
            expected = S.FILLED
        elif kind is E.CANCEL_REFUSED and order.filled_quantity > 0:
            expected = S.PARTIALLY_FILLED
        assert order.status is expected
        assert 0 <= order.filled_quantity <= order.request.quantity
        assert (order.status is S.FILLED) == (order.filled_quantity == order.request.quantity)
        assert order.version == before.version + 1
