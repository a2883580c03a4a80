"""The kill switch and the audit log end to end: /halt, /resume, /panic and /audit."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.handlers import handle_button, handle_text
from bot.render import DISMISS_PREFIX
from bot.replies import Reply, to_plain
from brokers.paper import PaperBroker
from core.domain.models import InstrumentId, OrderStatus
from tests.support import AlertLog, paper_config, running_service
from tests.test_flows import OWNER, VIEWER, confirm_data

SECOND = {
    "name": "paper2",
    "broker": "paper",
    "default_exchange": "NSE",
    "cash": 1_000_000,
    "currency": "INR",
    "feed": "random",
    "seed": 5,
    "tick_interval_s": 60,
}


def two_accounts(tmp_path: Path, **risk: Any) -> Any:
    second = {**SECOND, "state_file": str(tmp_path / "paper2.json")}
    return paper_config(tmp_path, more_accounts=(second,), risk={"price_band_pct": 0, **risk})


def broker(service: Any, name: str) -> PaperBroker:
    found = service.registry.get(name)
    assert isinstance(found, PaperBroker)
    return found


async def place(service: Any, line: str) -> str:
    [ticket] = await handle_text(service.desk, OWNER, line)
    assert ticket.buttons, ticket.html
    [result] = await handle_button(service.desk, OWNER, confirm_data(ticket))
    return to_plain(result.html)


async def text(service: Any, line: str, user: Any = OWNER) -> str:
    replies = await handle_text(service.desk, user, line)
    return "\n".join(to_plain(r.html) for r in replies)


# --- /halt and /resume ----------------------------------------------------------------------


async def test_halt_stops_entries_but_not_exits_and_survives_a_restart(tmp_path: Path) -> None:
    config = paper_config(tmp_path)
    async with running_service(config) as service:
        assert "filled 10" in await place(service, "/buy RELIANCE 10")
        answer = await text(service, "/halt")
        assert "Halted" in answer and "paper" in answer
        denied = await text(service, "/buy INFY 1")
        assert "halt" in denied.lower(), denied
        assert len(await broker(service, "paper").fetch_orders()) == 1
    async with running_service(config) as service:
        assert "halt" in (await text(service, "/buy INFY 1")).lower()
        assert "Halted every account" in await text(service, "/status")
        # An exit still goes out while halted.
        assert "filled 10" in await place(service, "/exit RELIANCE")
        assert "Resumed" in await text(service, "/resume")
        assert "filled 1" in await place(service, "/buy INFY 1")
        assert "Halted" not in await text(service, "/status")


async def test_resume_of_one_account_keeps_the_others_halted(tmp_path: Path) -> None:
    async with running_service(two_accounts(tmp_path)) as service:
        await text(service, "/halt all")
        assert "paper2" in await text(service, "/resume paper2")
        assert "filled 1" in await place(service, "/buy INFY 1 on=paper2")
        assert "halt" in (await text(service, "/buy INFY 1 on=paper")).lower()
        assert len(await broker(service, "paper").fetch_orders()) == 0
        # Halting one account leaves the other trading.
        await text(service, "/resume")
        await text(service, "/halt paper2")
        assert "filled 1" in await place(service, "/buy INFY 1 on=paper")
        assert "halt" in (await text(service, "/buy INFY 1 on=paper2")).lower()


async def test_viewers_cannot_use_the_kill_switch_or_read_the_audit_log(tmp_path: Path) -> None:
    async with running_service(paper_config(tmp_path)) as service:
        for line in ("/halt", "/resume", "/panic", "/audit"):
            assert "view, not trade" in await text(service, line, VIEWER), line
        assert "Halted" not in await text(service, "/status")


async def test_halt_of_an_unknown_account_says_so_and_halts_nothing(tmp_path: Path) -> None:
    async with running_service(paper_config(tmp_path)) as service:
        answer = await text(service, "/halt nosuch")
        assert "nosuch" in answer
        assert "Halted" not in await text(service, "/status")
        assert "filled 1" in await place(service, "/buy INFY 1")


# --- /panic ------------------------------------------------------------------------------------


async def open_book(service: Any) -> None:
    """A position and a resting limit order on each account."""
    for account in ("paper", "paper2"):
        assert "filled 10" in await place(service, f"/buy RELIANCE 10 on={account}")
        infy = InstrumentId.parse("NSE:INFY")
        last = (await broker(service, account).fetch_quotes([infy]))[infy].last_price
        low = (last / 2).quantize(Decimal(1))
        answer = await place(service, f"/buy INFY 1 @{low} on={account}")
        assert "working" in answer, answer


async def test_panic_asks_twice_then_flattens_every_account_and_reports_a_failing_cancel(
    tmp_path: Path,
) -> None:
    alerts = AlertLog()
    async with running_service(two_accounts(tmp_path), alerts=alerts) as service:
        await open_book(service)
        broker(service, "paper2").faults.refuse_cancels(1)

        [first] = await handle_text(service.desk, OWNER, "/panic")
        plan = to_plain(first.html)
        assert "paper: 1 open orders, 1 positions" in plan
        assert "paper2: 1 open orders, 1 positions" in plan
        [second] = await handle_button(service.desk, OWNER, confirm_data(first))
        assert second.edit and "Last check" in to_plain(second.html)
        # Nothing happened yet: both books are as they were.
        assert len(await broker(service, "paper").fetch_open_orders()) == 1

        [report] = await handle_button(service.desk, OWNER, confirm_data(second))
        done = to_plain(report.html)
        assert "with failures" in done
        assert "FAILED: the broker refused the cancel: RMS: cancel refused" in done
        assert done.count("closing SELL 10 NSE:RELIANCE") == 2

        assert await service.settle(5)
        for account in ("paper", "paper2"):
            positions = await broker(service, account).fetch_positions()
            assert all(p.is_flat for p in positions), account
        assert await broker(service, "paper").fetch_open_orders() == []
        [left] = await broker(service, "paper2").fetch_open_orders()
        assert left.status is OrderStatus.OPEN
        # Everything is halted afterwards.
        assert "halt" in (await text(service, "/buy INFY 1 on=paper2")).lower()
        assert "Halted every account: panic" in await text(service, "/status")


async def test_panic_cancelled_at_either_step_does_nothing(tmp_path: Path) -> None:
    async with running_service(two_accounts(tmp_path)) as service:
        await open_book(service)
        [first] = await handle_text(service.desk, OWNER, "/panic")
        await handle_button(service.desk, OWNER, _dismiss(first))
        [first] = await handle_text(service.desk, OWNER, "/panic")
        [second] = await handle_button(service.desk, OWNER, confirm_data(first))
        [cancelled] = await handle_button(service.desk, OWNER, _dismiss(second))
        assert "Nothing was sent" in to_plain(cancelled.html)
        # The first step's button cannot be reused to skip a step.
        [again] = await handle_button(service.desk, OWNER, confirm_data(first))
        assert "Already confirmed" in to_plain(again.html)
        for account in ("paper", "paper2"):
            assert len(await broker(service, account).fetch_open_orders()) == 1
        assert "Halted" not in await text(service, "/status")


def _dismiss(reply: Reply) -> str:
    [[_confirm, cancel]] = reply.buttons
    assert cancel.data.startswith(DISMISS_PREFIX)
    return cancel.data


# --- /audit ------------------------------------------------------------------------------------


async def test_audit_records_commands_confirmations_orders_denials_and_halts(
    tmp_path: Path,
) -> None:
    async with running_service(paper_config(tmp_path, risk={"max_order_quantity": 100})) as svc:
        await place(svc, "/buy RELIANCE 10")
        await text(svc, "/buy RELIANCE 1000")
        await text(svc, "/login paper https://secret.example/?request_token=abc123")
        await text(svc, "/halt")
        log = await text(svc, "/audit 50")
    assert "1 command: /buy RELIANCE 10" in log
    assert "1 confirmation confirm:" in log
    assert "desk order intent:" in log and "BUY 10 NSE:RELIANCE" in log
    assert "1 place done:" in log and "-> FILLED" in log
    assert "denied (max_order_quantity)" in log
    assert "1 halt: paper" in log
    assert "/login paper [redacted]" in log
    assert "abc123" not in log
