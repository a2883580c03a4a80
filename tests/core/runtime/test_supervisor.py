"""The task supervisor: named background tasks, restarted and reported when they fail."""

from __future__ import annotations

import asyncio

import pytest

from core.domain.models import InstrumentId
from core.runtime.supervisor import Supervisor

INFY = InstrumentId("NSE", "INFY")
TCS = InstrumentId("NSE", "TCS")


async def test_a_crashing_component_is_restarted_and_reported() -> None:
    failures: list[str] = []
    runs = 0
    done = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs < 3:
            raise RuntimeError(f"crash {runs}")
        done.set()
        await asyncio.Event().wait()

    async def hook(name: str, exc: BaseException) -> None:
        failures.append(f"{name}: {exc}")

    supervisor = Supervisor(hook, base_backoff_s=0.001)
    supervisor.start("flaky", flaky)
    await asyncio.wait_for(done.wait(), 5)
    assert failures == ["flaky: crash 1", "flaky: crash 2"]
    assert supervisor.running() == ["flaky"]
    await supervisor.stop()
    assert supervisor.running() == []


async def test_one_component_failing_does_not_stop_another() -> None:
    ticks = 0

    async def steady() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def broken() -> None:
        raise ValueError("always")

    supervisor = Supervisor(base_backoff_s=0.001)
    supervisor.start("steady", steady)
    supervisor.start("broken", broken, restart=False)
    await asyncio.sleep(0.05)
    assert "steady" in supervisor.running() and "broken" not in supervisor.running()
    assert ticks > 0
    await supervisor.stop()


async def test_starting_a_name_twice_is_refused() -> None:
    supervisor = Supervisor()

    async def idle() -> None:
        await asyncio.Event().wait()

    supervisor.start("x", idle)
    with pytest.raises(ValueError):
        supervisor.start("x", idle)
    await supervisor.stop()
