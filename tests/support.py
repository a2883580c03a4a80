"""Helpers to run the whole service (paper broker, SQLite, core) inside a test."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.app import BROKER_KINDS, Service, build_service
from core.autoexit import AutoExitSettings
from core.broker import BrokerKind
from core.config import AppConfig, load_config
from core.domain.alerts import Event
from core.domain.clock import Clock
from core.domain.exit_rules import SpikeBuffer
from core.monitor import MonitorSettings
from core.orders.sync import SyncSettings

# Exits that act on the first crossing tick, with a quick watchdog, for tests.
FAST_EXITS = AutoExitSettings(
    monitor=MonitorSettings(stale_after_s=0.3, poll_interval_s=0.05, watchdog_interval_s=0.02),
    buffer=SpikeBuffer(),
    retry_after_s=0.1,
    save_trails_every_s=0.1,
)


# Tests run at any hour: the exchange's session and the day's scheduled jobs (square-off,
# reminders, reports) are switched off unless a test asks for them.
NO_JOBS = {"square_off": {}, "login_reminder": "", "eod_report": "", "instrument_refresh": ""}
ANY_HOUR = {
    "POCKETDESK_RISK__MARKET_HOURS": "false",
    "POCKETDESK_SCHEDULE": json.dumps(NO_JOBS),
}


def paper_config(
    tmp_path: Path,
    *,
    telegram: dict[str, str] | None = None,
    more_accounts: tuple[dict[str, Any], ...] = (),
    risk: dict[str, Any] | None = None,
    **settings: Any,
) -> AppConfig:
    """One paper account named ``paper`` on NSE, its state in ``tmp_path``.

    ``telegram`` adds a ``[telegram]`` section (keys as in the file, values as strings);
    ``more_accounts`` adds account tables after it; ``risk`` is the ``[risk]`` section (market
    hours off unless it says otherwise).
    """
    account = {
        "name": "paper",
        "broker": "paper",
        "default_exchange": "NSE",
        "cash": 1_000_000,
        "currency": "INR",
        "feed": "random",
        "seed": 3,
        "tick_interval_s": 60,
        "state_file": str(tmp_path / "paper-state.json"),
        **settings,
    }
    environ = {
        "POCKETDESK_STORAGE__PATH": str(tmp_path / "desk.db"),
        "POCKETDESK_ACCOUNTS": _json([account, *more_accounts]),
        "POCKETDESK_RISK": _json({"market_hours": False, **(risk or {})}),
        "POCKETDESK_SCHEDULE": _json(NO_JOBS),
    }
    for key, value in (telegram or {}).items():
        environ[f"POCKETDESK_TELEGRAM__{key.upper()}"] = value
    return load_config(None, environ=environ)


def _json(value: object) -> str:
    import json

    return json.dumps(value)


class AlertLog:
    """An alert sink that keeps what it was given."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._arrived = asyncio.Event()

    async def __call__(self, events: list[Event]) -> None:
        self.events.extend(events)
        self._arrived.set()

    async def wait_for(self, kind: str, count: int = 1, timeout_s: float = 5.0) -> list[Event]:
        """Wait until ``count`` alerts of ``kind`` have arrived; return them."""
        async with asyncio.timeout(timeout_s):
            while True:
                found = [e for e in self.events if e.kind.value == kind]
                if len(found) >= count:
                    return found
                self._arrived.clear()
                await self._arrived.wait()

    def kinds(self) -> list[str]:
        return [e.kind.value for e in self.events]


@asynccontextmanager
async def running_service(
    config: AppConfig,
    *,
    kinds: Iterable[BrokerKind] = BROKER_KINDS,
    clock: Clock | None = None,
    sync: SyncSettings | None = None,
    alerts: AlertLog | None = None,
    exits: AutoExitSettings | None = None,
) -> AsyncIterator[Service]:
    service = await build_service(
        config,
        kinds=kinds,
        clock=clock,
        sync_settings=sync or SyncSettings(poll_interval_s=0.05),
        exit_settings=exits or FAST_EXITS,
    )
    try:
        await service.start(alerts or AlertLog())
        yield service
    finally:
        await service.stop()
