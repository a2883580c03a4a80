"""Helpers to run the whole service (paper broker, SQLite, core) inside a test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.app import BROKER_KINDS, Service, build_service
from core.broker import BrokerKind
from core.clock import Clock
from core.config import AppConfig, load_config
from core.events import Event
from core.sync import SyncSettings


def paper_config(tmp_path: Path, **settings: Any) -> AppConfig:
    """One paper account named ``paper`` on NSE, its state in ``tmp_path``."""
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
    return load_config(
        None,
        environ={
            "POCKETDESK_STORAGE__PATH": str(tmp_path / "desk.db"),
            "POCKETDESK_ACCOUNTS": _json([account]),
        },
    )


def _json(value: object) -> str:
    import json

    return json.dumps(value)


class AlertLog:
    """An alert sink that keeps what it was given."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, events: list[Event]) -> None:
        self.events.extend(events)

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
) -> AsyncIterator[Service]:
    service = await build_service(
        config,
        kinds=kinds,
        clock=clock,
        sync_settings=sync or SyncSettings(poll_interval_s=0.05),
    )
    try:
        await service.start(alerts or AlertLog())
        yield service
    finally:
        await service.stop()
