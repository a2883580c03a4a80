"""Confirmations are single use, bound to their user, expire, and survive restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.confirmations import ActionKind, ConfirmationService, Decision
from core.domain.clock import ManualClock
from core.domain.errors import ConfirmationError
from core.storage import Database


async def _service(path: Path, clock: ManualClock) -> tuple[Database, ConfirmationService]:
    db = await Database.open(path)
    return db, ConfirmationService(db, clock, ttl_s=60)


async def test_a_confirmation_is_used_once(tmp_path: Path) -> None:
    clock = ManualClock()
    db, service = await _service(tmp_path / "c.db", clock)
    try:
        made = await service.create(7, 70, ActionKind.PLACE, {"x": 1})
        used = await service.decide(made.id, 7, Decision.CONFIRM)
        assert used.payload == {"x": 1}
        with pytest.raises(ConfirmationError, match="Already confirmed"):
            await service.decide(made.id, 7, Decision.CONFIRM)
    finally:
        await db.close()


async def test_concurrent_presses_have_exactly_one_winner(tmp_path: Path) -> None:
    clock = ManualClock()
    db, service = await _service(tmp_path / "c.db", clock)
    try:
        made = await service.create(7, 70, ActionKind.PLACE, {})
        results = await asyncio.gather(
            *(service.decide(made.id, 7, Decision.CONFIRM) for _ in range(20)),
            return_exceptions=True,
        )
        winners = [r for r in results if not isinstance(r, BaseException)]
        assert len(winners) == 1
        assert all(isinstance(r, ConfirmationError) for r in results if r not in winners)
    finally:
        await db.close()


async def test_another_user_cannot_press_it(tmp_path: Path) -> None:
    clock = ManualClock()
    db, service = await _service(tmp_path / "c.db", clock)
    try:
        made = await service.create(7, 70, ActionKind.PLACE, {})
        with pytest.raises(ConfirmationError, match="someone else"):
            await service.decide(made.id, 8, Decision.CONFIRM)
        assert (await service.decide(made.id, 7, Decision.CONFIRM)).id == made.id
    finally:
        await db.close()


async def test_an_expired_confirmation_does_nothing_and_says_so(tmp_path: Path) -> None:
    clock = ManualClock()
    db, service = await _service(tmp_path / "c.db", clock)
    try:
        made = await service.create(7, 70, ActionKind.PLACE, {})
        clock.advance(60.5)
        with pytest.raises(ConfirmationError, match="expired"):
            await service.decide(made.id, 7, Decision.CONFIRM)
    finally:
        await db.close()


async def test_a_cancelled_ticket_cannot_then_be_confirmed(tmp_path: Path) -> None:
    clock = ManualClock()
    db, service = await _service(tmp_path / "c.db", clock)
    try:
        made = await service.create(7, 70, ActionKind.PLACE, {})
        await service.decide(made.id, 7, Decision.CANCEL)
        with pytest.raises(ConfirmationError, match="cancelled"):
            await service.decide(made.id, 7, Decision.CONFIRM)
    finally:
        await db.close()


async def test_unknown_ids_are_refused(tmp_path: Path) -> None:
    db, service = await _service(tmp_path / "c.db", ManualClock())
    try:
        with pytest.raises(ConfirmationError, match="not known"):
            await service.decide("forged-id", 7, Decision.CONFIRM)
    finally:
        await db.close()


async def test_a_restart_keeps_live_confirmations_and_not_used_ones(tmp_path: Path) -> None:
    clock = ManualClock()
    db, service = await _service(tmp_path / "c.db", clock)
    live = await service.create(7, 70, ActionKind.PLACE, {"n": 1})
    used = await service.create(7, 70, ActionKind.PLACE, {"n": 2})
    await service.decide(used.id, 7, Decision.CONFIRM)
    await db.close()

    db, service = await _service(tmp_path / "c.db", clock)
    try:
        assert (await service.decide(live.id, 7, Decision.CONFIRM)).payload == {"n": 1}
        with pytest.raises(ConfirmationError):
            await service.decide(used.id, 7, Decision.CONFIRM)
    finally:
        await db.close()
