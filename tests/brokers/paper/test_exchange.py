"""The matching engine, driven synchronously tick by tick."""

from __future__ import annotations

from decimal import Decimal

import pytest

from brokers.paper.exchange import PaperExchange
from core.domain.errors import BrokerRejected, NotFound
from core.domain.models import InstrumentId, OrderStatus, OrderType, Product, Side, Validity
from tests.brokers.paper import AAA, BBB, LOT5, USD1, make_exchange, request

D = Decimal
S = OrderStatus


def tick(exchange: PaperExchange, instrument: InstrumentId, price: str) -> None:
    exchange.apply_prices([(instrument, D(price))])


# ------------------------------------------------------------------------------ order types


def test_market_order_fills_at_once_at_the_last_price_and_reports_each_step() -> None:
    exchange, updates = make_exchange()

    report = exchange.create_order(request(quantity=10), "c1")

    assert report.status is S.FILLED
    assert (report.filled_quantity, report.average_price) == (10, D("100.00"))
    assert [u.report.status for u in updates] == [S.OPEN, S.FILLED]
    fill = updates[1].fill
    assert fill is not None
    assert (fill.quantity, fill.price, fill.client_order_id) == (10, D("100.00"), "c1")
    assert fill.broker_order_id == report.broker_order_id == "P000001"


def test_market_order_larger_than_the_book_fills_over_later_ticks() -> None:
    exchange, updates = make_exchange(book_size=500, cash=D(1_000_000))

    report = exchange.create_order(request(quantity=1200), "big")
    assert (report.status, report.filled_quantity) == (S.PARTIALLY_FILLED, 500)

    tick(exchange, AAA, "101")
    assert exchange.state.find("P000001").filled_quantity == 1000
    tick(exchange, AAA, "102")
    final = exchange.state.find("P000001").to_report()

    assert (final.status, final.filled_quantity) == (S.FILLED, 1200)
    assert final.average_price == D("100.75")  # (500 x 100 + 500 x 101 + 200 x 102) / 1200
    fills = [u.fill for u in updates if u.fill is not None]
    assert [f.quantity for f in fills] == [500, 500, 200]
    assert len({f.fill_id for f in fills}) == 3


def test_orders_in_the_same_tick_share_the_book_in_arrival_order() -> None:
    exchange, _ = make_exchange(book_size=500)

    first = exchange.create_order(request(quantity=400), "a")
    second = exchange.create_order(request(quantity=400), "b")

    assert first.filled_quantity == 400
    assert (second.status, second.filled_quantity) == (S.PARTIALLY_FILLED, 100)


def test_resting_buy_limit_fills_at_its_limit_when_a_tick_crosses_it() -> None:
    exchange, _ = make_exchange()

    report = exchange.create_order(request(order_type=OrderType.LIMIT, price="99.00"), "l")
    assert report.status is S.OPEN

    tick(exchange, AAA, "99.50")
    assert exchange.state.find("P000001").status is S.OPEN
    tick(exchange, AAA, "98.00")

    done = exchange.state.find("P000001").to_report()
    assert (done.status, done.average_price) == (S.FILLED, D("99.00"))


def test_marketable_limit_fills_at_once_at_the_better_last_price() -> None:
    exchange, _ = make_exchange()

    buy = exchange.create_order(request(order_type=OrderType.LIMIT, price="105.00"), "b")
    exchange.create_order(request(quantity=20), "stock")
    sell = exchange.create_order(
        request(side=Side.SELL, order_type=OrderType.LIMIT, price="95.00"), "s"
    )

    assert (buy.status, buy.average_price) == (S.FILLED, D("100.00"))
    assert (sell.status, sell.average_price) == (S.FILLED, D("100.00"))


def test_resting_sell_limit_waits_for_a_tick_at_or_above_its_price() -> None:
    exchange, _ = make_exchange()
    exchange.create_order(request(quantity=10), "buy")

    exchange.create_order(
        request(side=Side.SELL, order_type=OrderType.LIMIT, price="110.00"), "sell"
    )
    tick(exchange, AAA, "109.95")
    assert exchange.state.find("P000002").status is S.OPEN
    tick(exchange, AAA, "110.00")

    assert exchange.state.find("P000002").status is S.FILLED


def test_buy_stop_market_triggers_at_the_trigger_and_fills_at_the_last_price() -> None:
    exchange, updates = make_exchange()

    report = exchange.create_order(request(order_type=OrderType.SL_M, trigger="105.00"), "s")
    assert report.status is S.OPEN
    tick(exchange, AAA, "104.95")
    assert exchange.state.find("P000001").filled_quantity == 0
    tick(exchange, AAA, "106.00")

    done = exchange.state.find("P000001")
    assert (done.status, done.average_price, done.triggered) == (S.FILLED, D("106.00"), True)
    assert any(u.report.message == "triggered at 106.00" for u in updates)


def test_sell_stop_limit_triggers_then_rests_as_a_limit_at_its_price() -> None:
    exchange, _ = make_exchange()
    exchange.create_order(request(quantity=10), "buy")
    exchange.create_order(
        request(side=Side.SELL, order_type=OrderType.SL, price="94.00", trigger="95.00"), "sl"
    )

    tick(exchange, AAA, "93.00")  # triggers, but 93 is below the limit of 94: no fill yet
    stop = exchange.state.find("P000002")
    assert (stop.triggered, stop.status, stop.filled_quantity) == (True, S.OPEN, 0)
    tick(exchange, AAA, "94.50")

    assert (stop.status, stop.average_price) == (S.FILLED, D("94.00"))


def test_ioc_takes_what_the_book_has_and_cancels_the_rest() -> None:
    exchange, _ = make_exchange(book_size=500)

    report = exchange.create_order(request(quantity=800, validity=Validity.IOC), "ioc")

    assert (report.status, report.filled_quantity) == (S.CANCELLED, 500)
    assert "300 unfilled" in report.message
    tick(exchange, AAA, "100")
    assert exchange.state.find("P000001").filled_quantity == 500


def test_ioc_limit_that_does_not_cross_is_cancelled_without_a_fill() -> None:
    exchange, updates = make_exchange()

    report = exchange.create_order(
        request(order_type=OrderType.LIMIT, price="90.00", validity=Validity.IOC), "ioc"
    )

    assert (report.status, report.filled_quantity) == (S.CANCELLED, 0)
    assert all(u.fill is None for u in updates)


# ------------------------------------------------------------------------------ rejections


def test_insufficient_funds_rejects_with_required_and_available_amounts() -> None:
    exchange, updates = make_exchange(cash=D(50_000))

    report = exchange.create_order(request(quantity=600), "too-big")

    assert report.status is S.REJECTED
    assert report.message == ("insufficient funds: required 60000.00 INR, available 50000.00 INR")
    assert [u.report.status for u in updates] == [S.REJECTED]
    assert exchange.state.cash == D(50_000)


def test_intraday_needs_only_a_fifth_of_the_value() -> None:
    exchange, _ = make_exchange(cash=D(50_000))

    report = exchange.create_order(request(quantity=2000, product=Product.MIS), "mis")

    assert report.status is not S.REJECTED


def test_unknown_symbol_raises_not_found_and_creates_no_order() -> None:
    exchange, updates = make_exchange()

    with pytest.raises(NotFound, match="NSE:NOPE"):
        exchange.create_order(request(instrument=InstrumentId("NSE", "NOPE")), "x")

    assert exchange.state.orders == {} and updates == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"instrument": LOT5, "quantity": 7}, "not a multiple of the lot size 5"),
        ({"order_type": OrderType.LIMIT, "price": "100.03"}, "price 100.03 is not a multiple"),
        ({"order_type": OrderType.SL_M, "trigger": "101.01"}, "trigger price 101.01 is not"),
        ({"instrument": USD1}, "trades in USD"),
        ({"order_type": OrderType.LIMIT}, "needs a positive price"),
        ({"side": Side.SELL}, "no holdings"),
    ],
)
def test_invalid_orders_are_rejected_with_a_reason(kwargs: dict[str, object], message: str) -> None:
    exchange, _ = make_exchange()

    report = exchange.create_order(request(**kwargs), "bad")  # type: ignore[arg-type]

    assert report.status is S.REJECTED
    assert message in report.message


def test_whole_lots_are_accepted() -> None:
    exchange, _ = make_exchange()

    assert exchange.create_order(request(instrument=LOT5, quantity=15), "ok").status is S.FILLED


def test_cnc_sell_counts_shares_already_promised_to_open_sells() -> None:
    exchange, _ = make_exchange()
    exchange.create_order(request(quantity=10), "buy")
    sell = request(side=Side.SELL, quantity=6, order_type=OrderType.LIMIT, price="120.00")

    first = exchange.create_order(sell, "s1")
    second = exchange.create_order(sell, "s2")

    assert first.status is S.OPEN
    assert second.status is S.REJECTED
    assert "10 held, 6 already in open sell orders" in second.message


def test_a_client_order_id_can_be_used_once() -> None:
    exchange, _ = make_exchange()
    exchange.create_order(request(), "same")

    with pytest.raises(BrokerRejected, match="already used by order P000001"):
        exchange.create_order(request(), "same")


# ------------------------------------------------------------------------------ modify, cancel


def test_modifying_a_resting_limit_to_a_crossing_price_fills_it_at_once() -> None:
    exchange, updates = make_exchange()
    exchange.create_order(request(order_type=OrderType.LIMIT, price="95.00"), "l")

    report = exchange.modify_order("P000001", price=D("101.00"))

    assert (report.status, report.average_price) == (S.FILLED, D("100.00"))
    assert "modified" in [u.report.message for u in updates]


def test_modify_quantity_may_not_go_below_what_has_filled() -> None:
    exchange, _ = make_exchange(book_size=500)
    exchange.create_order(request(quantity=800), "big")

    with pytest.raises(BrokerRejected, match="below the 500 already filled"):
        exchange.modify_order("P000001", quantity=400)
    report = exchange.modify_order("P000001", quantity=500)

    assert (report.status, report.quantity, report.filled_quantity) == (S.FILLED, 500, 500)


def test_modifying_a_stop_trigger_through_the_market_triggers_it() -> None:
    exchange, _ = make_exchange()
    exchange.create_order(request(order_type=OrderType.SL_M, trigger="110.00"), "stop")

    report = exchange.modify_order("P000001", trigger_price=D("100.00"))

    assert report.status is S.FILLED


def test_refused_modify_leaves_the_order_as_it_was() -> None:
    exchange, _ = make_exchange(cash=D(10_000))
    exchange.create_order(request(order_type=OrderType.LIMIT, price="90.00"), "l")

    with pytest.raises(BrokerRejected, match="insufficient funds"):
        exchange.modify_order("P000001", quantity=1000)
    with pytest.raises(BrokerRejected, match="takes no trigger price"):
        exchange.modify_order("P000001", trigger_price=D("95.00"))

    order = exchange.state.find("P000001")
    assert (order.quantity, order.price, order.status) == (10, D("90.00"), S.OPEN)


def test_cancel_moves_a_working_order_to_cancelled_keeping_its_fills() -> None:
    exchange, updates = make_exchange(book_size=500)
    exchange.create_order(request(quantity=800), "big")

    report = exchange.cancel_order("P000001")

    assert (report.status, report.filled_quantity) == (S.CANCELLED, 500)
    assert updates[-1].report.status is S.CANCELLED
    tick(exchange, AAA, "100")
    assert exchange.state.find("P000001").filled_quantity == 500


def test_cancelling_or_modifying_a_filled_order_is_rejected_by_the_broker() -> None:
    exchange, _ = make_exchange()
    exchange.create_order(request(), "done")

    with pytest.raises(BrokerRejected, match="order P000001 is already FILLED"):
        exchange.cancel_order("P000001")
    with pytest.raises(BrokerRejected, match="already FILLED"):
        exchange.modify_order("P000001", quantity=20)


def test_modify_and_cancel_of_an_unknown_order_raise_not_found() -> None:
    exchange, _ = make_exchange()

    with pytest.raises(NotFound):
        exchange.cancel_order("P999999")
    with pytest.raises(NotFound):
        exchange.modify_order("P999999", quantity=1)


# ------------------------------------------------------------------------------ positions, money


def test_position_through_buy_add_partial_sell_and_flip() -> None:
    exchange, _ = make_exchange()
    position = exchange.state.position

    exchange.create_order(request(quantity=10, product=Product.MIS), "buy")
    tick(exchange, AAA, "110")
    exchange.create_order(request(quantity=10, product=Product.MIS), "add")
    record = position(AAA, Product.MIS)
    assert (record.quantity, record.average_price) == (20, D("105.00"))

    tick(exchange, AAA, "120")
    exchange.create_order(request(side=Side.SELL, quantity=5, product=Product.MIS), "part")
    assert (record.quantity, record.average_price, record.realised_pnl) == (15, D(105), D(75))

    tick(exchange, AAA, "100")  # selling 25 closes 15 at a loss of 75 and opens a short of 10
    exchange.create_order(request(side=Side.SELL, quantity=25, product=Product.MIS), "flip")
    assert (record.quantity, record.average_price, record.realised_pnl) == (-10, D(100), D(0))

    tick(exchange, AAA, "90")
    assert (D(90) - record.average_price) * record.quantity == D(100)  # a short gains


def test_a_closed_position_stays_visible_flat_with_its_realised_pnl() -> None:
    exchange, _ = make_exchange()
    exchange.create_order(request(quantity=10), "buy")
    tick(exchange, AAA, "103")
    exchange.create_order(request(side=Side.SELL, quantity=10), "sell")

    record = exchange.state.position(AAA, Product.CNC)

    assert (record.quantity, record.realised_pnl) == (0, D(30))


def test_cash_moves_on_fills_and_working_orders_block_margin() -> None:
    exchange, _ = make_exchange(cash=D(100_000))

    exchange.create_order(request(quantity=100), "buy")  # pays 10 000
    exchange.create_order(request(instrument=BBB, order_type=OrderType.LIMIT, price="190.00"), "l")
    funds = exchange.state.funds()

    assert funds.cash == D(90_000)
    assert funds.used_margin == D(1_900)  # 10 x 190 at 100 %
    assert funds.available == D(88_100)

    exchange.cancel_order("P000002")
    exchange.create_order(request(side=Side.SELL, quantity=100), "sell")  # reduces: blocks 0
    assert exchange.state.funds() == type(funds)(D(100_000), D(0), D(100_000))


def test_an_intraday_short_does_not_raise_the_money_available() -> None:
    exchange, _ = make_exchange(cash=D(100_000))

    exchange.create_order(request(side=Side.SELL, quantity=100, product=Product.MIS), "short")
    funds = exchange.state.funds()

    assert funds.cash == D(110_000)  # the sale proceeds
    assert funds.used_margin == D(2_000)  # 20 % of the 10 000 short
    assert funds.available == D(98_000)


def test_order_report_carries_every_field_and_the_exchange_record() -> None:
    exchange, _ = make_exchange()

    report = exchange.create_order(
        request(order_type=OrderType.SL, price="111.00", trigger="110.00", product=Product.MIS),
        "client-7",
    )

    assert report.account == "paper-test"
    assert report.client_order_id == "client-7"
    assert (report.order_type, report.product) == (OrderType.SL, Product.MIS)
    assert (report.price, report.trigger_price) == (D("111.00"), D("110.00"))
    assert report.time is not None
    assert report.raw["order_id"] == "P000001"
    assert report.raw["trigger_price"] == "110.00"
