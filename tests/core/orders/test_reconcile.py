"""Reconciliation is pure: (our order, the broker's report) -> events."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from core.domain.models import OrderReport, OrderStatus, Side
from core.domain.order_fsm import OrderEventKind, apply
from core.orders.reconcile import events_from_report
from tests.core.domain.test_order_fsm import T1, make_order

S, E = OrderStatus, OrderEventKind


def report(
    status: OrderStatus, filled: int = 0, avg: str | None = None, **kw: object
) -> OrderReport:
    base = OrderReport(
        account="paper",
        broker_order_id="B1",
        instrument=make_order().instrument,
        side=Side.BUY,
        quantity=10,
        status=status,
        client_order_id="pd0001",
        filled_quantity=filled,
        average_price=None if avg is None else Decimal(avg),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def kinds(order_status: OrderStatus, rep: OrderReport, filled: int = 0) -> list[OrderEventKind]:
    return [e.kind for e in events_from_report(make_order(order_status, filled=filled), rep)]


def test_an_unanswered_submit_found_working_is_adopted() -> None:
    assert kinds(S.UNKNOWN, report(S.OPEN)) == [E.ACCEPTED]


def test_a_fill_found_for_a_pending_submit_is_accepted_then_filled() -> None:
    assert kinds(S.PENDING_SUBMIT, report(S.FILLED, 10, "100")) == [E.ACCEPTED, E.FILL]


def test_rejection_after_placed() -> None:
    events = events_from_report(make_order(S.OPEN), report(S.REJECTED, message="RMS: margin"))
    assert [e.kind for e in events] == [E.REJECTED]
    assert events[0].message == "RMS: margin"


def test_a_partial_fill_then_broker_cancel_reports_both() -> None:
    assert kinds(S.OPEN, report(S.CANCELLED, 4, "100")) == [E.FILL, E.CANCELLED]


def test_fill_delta_price_comes_from_the_change_in_average() -> None:
    order = make_order(S.PARTIALLY_FILLED, filled=4)  # 4 at 100
    events = events_from_report(order, report(S.FILLED, 10, "106"))
    assert [e.kind for e in events] == [E.FILL]
    assert events[0].fill_quantity == 6
    assert events[0].fill_price == Decimal("110")


def test_a_stale_working_report_does_not_move_a_filled_order_back() -> None:
    assert kinds(S.FILLED, report(S.OPEN), filled=10) == []


def test_a_stale_report_with_less_filled_produces_no_fill() -> None:
    assert kinds(S.PARTIALLY_FILLED, report(S.PARTIALLY_FILLED, 2, "100"), filled=4) == []


def test_a_cancel_refused_by_the_broker_returns_the_order_to_working() -> None:
    assert kinds(S.PENDING_CANCEL, report(S.OPEN)) == [E.CANCEL_REFUSED]


def test_a_fill_racing_our_cancel() -> None:
    assert kinds(S.PENDING_CANCEL, report(S.FILLED, 10, "100")) == [E.FILL]


def test_a_price_change_made_outside_is_a_modification() -> None:
    order = make_order(S.OPEN)
    order = replace(order, request=replace(order.request, price=Decimal("100")))
    events = events_from_report(order, report(S.OPEN, price=Decimal("99")))
    assert [e.kind for e in events] == [E.MODIFIED]
    assert events[0].new_price == Decimal("99")


_reports = st.builds(
    report,
    status=st.sampled_from([s for s in OrderStatus if s not in (S.UNKNOWN, S.LOST)]),
    filled=st.integers(0, 10),
    avg=st.sampled_from(["100", "101.5", "99"]),
)


@given(status=st.sampled_from(list(OrderStatus)), filled=st.integers(0, 9), rep=_reports)
def test_reconciled_events_always_apply_and_never_lose_fills(
    status: OrderStatus, filled: int, rep: OrderReport
) -> None:
    order = make_order(status, filled=filled if status is not S.FILLED else 10)
    current = order
    for event in events_from_report(order, rep):
        current = apply(current, event, T1)
    assert current.filled_quantity >= order.filled_quantity
    assert current.filled_quantity <= 10


@given(rep=_reports)
def test_applying_the_same_report_twice_changes_nothing_the_second_time(rep: OrderReport) -> None:
    order = make_order(S.OPEN)
    for event in events_from_report(order, rep):
        order = apply(order, event, T1)
    assert events_from_report(order, rep) == []
