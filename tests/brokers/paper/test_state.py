"""The JSON snapshot: a restarted paper account carries on where it stopped."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from brokers.paper import PaperBroker
from brokers.paper.state import StateFile
from core.domain.clock import ManualClock
from core.domain.errors import ConfigError
from core.domain.models import OrderStatus, OrderType, Product, Side
from tests.brokers.paper import AAA, ACCOUNT, BBB, quiet_settings, request, small_master

D = Decimal


def make_broker(path: Path, account: str = ACCOUNT) -> PaperBroker:
    return PaperBroker(
        account,
        quiet_settings(state_file=str(path), book_size=100),
        clock=ManualClock(),
        instruments=small_master(),
    )


def names_in(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir())


async def test_a_restarted_broker_has_the_same_orders_fills_positions_and_money(
    tmp_path: Path,
) -> None:
    path = tmp_path / "pocketdesk-paper-test.json"
    before = make_broker(path)
    await before.create_order(request(quantity=150, product=Product.MIS), "partial")
    await before.create_order(request(instrument=BBB, order_type=OrderType.LIMIT, price="190"), "l")
    before.set_price(AAA, "103.05")
    await before.close()

    after = make_broker(path)

    assert await after.fetch_orders() == await before.fetch_orders()
    assert await after.fetch_fills() == await before.fetch_fills()
    assert await after.fetch_positions() == await before.fetch_positions()
    assert await after.fetch_balance() == await before.fetch_balance()
    assert await after.fetch_quotes([AAA]) == await before.fetch_quotes([AAA])
    next_order = await after.create_order(request(side=Side.SELL, product=Product.MIS), "next")
    assert next_order.broker_order_id == "P000003"
    assert [f.fill_id for f in await after.fetch_fills()][-1] == "F000003"


async def test_resting_orders_keep_working_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    before = make_broker(path)
    await before.create_order(request(order_type=OrderType.SL_M, trigger="105.00"), "stop")

    after = make_broker(path)
    after.set_price(AAA, "106")

    report = await after.fetch_order("P000001")
    assert (report.status, report.average_price) == (OrderStatus.FILLED, D("106.00"))


async def test_the_snapshot_is_json_with_decimals_as_strings_and_no_temp_files(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.json"
    broker = make_broker(path)
    await broker.create_order(request(quantity=3), "c")

    data = json.loads(path.read_text())

    assert data["cash"] == "99700.00"
    assert data["orders"][0]["filled_value"] == "300.00"
    assert data["fills"][0]["price"] == "100.00"
    assert names_in(tmp_path) == ["state.json"]


def test_a_damaged_snapshot_stops_start_up_instead_of_being_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{not json")

    with pytest.raises(ConfigError, match=r"state_file: .* is not a paper snapshot"):
        make_broker(path)
    assert path.read_text() == "{not json"


async def test_a_snapshot_of_another_account_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    await make_broker(path, "alice").create_order(request(quantity=1), "c")

    with pytest.raises(ConfigError, match="belongs to account 'alice'"):
        make_broker(path, "bob")


def test_no_file_means_a_fresh_account(tmp_path: Path) -> None:
    assert StateFile(tmp_path / "missing.json").load() is None
