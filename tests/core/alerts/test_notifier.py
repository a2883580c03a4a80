"""The notifier loses no alert, sends none twice, and keeps their order."""

from __future__ import annotations

import asyncio
from pathlib import Path

from core.alerts.notifier import Notifier
from core.domain.alerts import Event, EventKind
from core.domain.clock import ManualClock
from core.storage import Database
from core.storage.outbox import OutboxRepository


async def _db_with_alerts(path: Path, count: int) -> Database:
    db = await Database.open(path)
    async with db.transaction() as tx:
        for n in range(count):
            await OutboxRepository().add(
                tx, Event(EventKind.ORDER_FILLED, "paper", {"n": str(n)}), ManualClock().now()
            )
    return db


async def test_concurrent_drains_deliver_each_alert_once_in_order(tmp_path: Path) -> None:
    db = await _db_with_alerts(tmp_path / "n.db", 45)
    seen: list[str] = []

    async def sink(events: list[Event]) -> None:
        await asyncio.sleep(0)
        seen.extend(e.data["n"] for e in events)

    notifier = Notifier(db, ManualClock(), sink, batch=10)
    try:
        for _ in range(4):
            await asyncio.gather(*(notifier.deliver_once() for _ in range(3)))
        await notifier.deliver_once()
        assert seen == [str(n) for n in range(45)]
        assert await notifier.pending_count() == 0
    finally:
        await db.close()


async def test_a_failing_front_end_keeps_alerts_until_it_answers(tmp_path: Path) -> None:
    db = await _db_with_alerts(tmp_path / "n.db", 3)
    seen: list[str] = []
    down = True

    async def sink(events: list[Event]) -> None:
        if down:
            raise ConnectionError("front-end unreachable")
        seen.extend(e.data["n"] for e in events)

    notifier = Notifier(db, ManualClock(), sink)
    try:
        for _ in range(3):
            try:
                await notifier.deliver_once()
            except ConnectionError:
                pass
        assert await notifier.pending_count() == 3
        down = False
        await notifier.deliver_once()
        assert seen == ["0", "1", "2"]
    finally:
        await db.close()


async def test_alerts_survive_a_restart(tmp_path: Path) -> None:
    db = await _db_with_alerts(tmp_path / "n.db", 2)
    await db.close()
    db = await Database.open(tmp_path / "n.db")
    seen: list[Event] = []

    async def sink(events: list[Event]) -> None:
        seen.extend(events)

    try:
        await Notifier(db, ManualClock(), sink).deliver_once()
        assert [e.data["n"] for e in seen] == ["0", "1"]
    finally:
        await db.close()
