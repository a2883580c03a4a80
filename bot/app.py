"""The composition root: config -> storage -> brokers -> core services -> a front-end.

This is the only module that knows every layer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.redirect import RedirectReceiver
from bot.telegram.alerts import TelegramAlerts
from bot.telegram.front import TelegramFront
from brokers.paper import KIND as PAPER
from brokers.zerodha import KIND as ZERODHA
from core.access.audit import AuditLog
from core.access.login_states import LoginStates
from core.access.redirects import RedirectLogins
from core.access.secret_box import SecretBox
from core.access.secret_store import SecretStore
from core.access.sessions import SessionService
from core.alerts.notifier import AlertSink, Notifier
from core.alerts.outbox import AlertOutbox
from core.autoexit import AutoExits, AutoExitSettings
from core.broker import BrokerKind, BrokerRegistry
from core.config import AppConfig, validate_accounts
from core.confirmations import ConfirmationService
from core.daily_jobs import DailyJobs, build_scheduler
from core.desk import Desk
from core.domain.alerts import Event, EventKind
from core.domain.clock import Clock, SystemClock
from core.domain.errors import ConfigError
from core.domain.exit_rules import SpikeBuffer
from core.domain.market_calendar import MarketCalendar
from core.domain.models import OrderStatus, OrderType
from core.exit_desk import ExitDesk
from core.frontdesk import FrontDeskStore
from core.monitor import MonitorSettings
from core.orders.execution import ExecutionService
from core.orders.gate import TradingGate
from core.orders.locks import PositionLocks
from core.orders.sync import OrderSync, SyncSettings
from core.orders.tracker import OrderTracker
from core.pnl import PnlService
from core.risk.service import RiskService
from core.runtime.supervisor import Supervisor
from core.safety import KillSwitch, Panic
from core.safety_desk import SafetyDesk
from core.scheduler import Scheduler
from core.storage import Database

log = logging.getLogger(__name__)

BROKER_KINDS: tuple[BrokerKind, ...] = (PAPER, ZERODHA)

# Orders whose outcome is still being settled; shutdown waits for these (market orders too).
_SETTLING = (OrderStatus.PENDING_SUBMIT, OrderStatus.UNKNOWN, OrderStatus.PENDING_CANCEL)


@dataclass
class Service:
    config: AppConfig
    clock: Clock
    db: Database
    registry: BrokerRegistry
    tracker: OrderTracker
    alerts: AlertOutbox
    locks: PositionLocks
    gate: TradingGate
    execution: ExecutionService
    confirmations: ConfirmationService
    desk: Desk
    sync: OrderSync
    autoexits: AutoExits
    sessions: SessionService
    supervisor: Supervisor
    scheduler: Scheduler
    audit: AuditLog
    kill_switch: KillSwitch
    pnl: PnlService
    notifier: Notifier | None = None
    redirect: RedirectReceiver | None = None
    connected: list[str] = field(default_factory=list)

    async def start(self, sink: AlertSink, ready_timeout_s: float = 10.0) -> None:
        """Connect the brokers, start the loops, and wait (bounded) for the start-up sync."""
        await self.sessions.restore()
        await self.kill_switch.load()
        await self.autoexits.load()
        for name in self.registry.names():
            broker = self.registry.get(name)
            try:
                await broker.connect()
                self.connected.append(name)
            except Exception as exc:
                # The loops still start: they retry, alert a dead login, and open the account
                # once the broker answers (after a new login, say).
                log.error("account %s could not connect: %s", name, exc)
                self.gate.close(name, f"could not connect: {exc}")
            self.supervisor.start(f"sync:{name}", _bind(self.sync.run_account, name))
            self.supervisor.start(f"order-updates:{name}", _bind(self.sync.run_push, name))
            self.supervisor.start(f"monitor:{name}", self.autoexits.feeds[name].run)
        await self._start_redirect()
        notifier = Notifier(self.db, self.clock, sink)
        self.notifier = notifier
        self.tracker.subscribe(lambda *_: notifier.wake())
        self.supervisor.start("notifier", notifier.run)
        self.supervisor.start("confirmation-expiry", self._expire_confirmations)
        self.supervisor.start("exit-housekeeping", self.autoexits.run_housekeeping)
        await self.wait_ready(ready_timeout_s)
        # After the start-up sync, so a square-off due at start-up finds its accounts open.
        self.supervisor.start("scheduler", self.scheduler.run)

    async def wait_ready(self, timeout_s: float) -> bool:
        """Wait until every connected account has finished its start-up sync."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not all(self.gate.is_open(name) for name in self.connected):
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def settle(self, timeout_s: float = 5.0) -> bool:
        """Wait until no order is mid-flight and every alert has been delivered."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            in_flight = await self.tracker.in_flight()
            busy = [
                o
                for o in in_flight
                if o.status in _SETTLING or o.request.order_type is OrderType.MARKET
            ]
            if not busy and self.notifier is not None:
                await self.notifier.deliver_once()
                if await self.notifier.pending_count() == 0:
                    return True
            await self.tracker.wait_for_change(0.05)
        return False

    @property
    def redirect_port(self) -> int | None:
        """The login redirect receiver's port (None when it does not run)."""
        return None if self.redirect is None else self.redirect.port

    async def _start_redirect(self) -> None:
        """Run the login redirect receiver if ``[login]`` asks for it. An address that is
        taken costs only the convenience: an alert says so, and pasting still works."""
        if self.sessions.states is None:
            return
        audit = FrontDeskStore(self.db, self.clock).audit
        logins = RedirectLogins(
            self.sessions.states,
            self.sessions.login_token,
            self.desk.complete_login,
            self.alerts,
            audit,
        )
        receiver = RedirectReceiver(self.config.login, logins)
        try:
            await receiver.start()
        except OSError as exc:
            message = (
                f"the login redirect receiver cannot listen on {self.config.login.redirect_listen}"
                f" ({exc}); finish logins by pasting the address: /login ACCOUNT ADDRESS"
            )
            log.error("%s", message)
            await self.alerts.add(Event(EventKind.COMPONENT_FAILED, "", {"message": message}))
            return
        self.redirect = receiver

    async def stop(self) -> None:
        if self.redirect is not None:
            await self.redirect.stop()  # first: no login may start while the loops wind down
        await self.supervisor.stop()
        await self.autoexits.close()
        await self.autoexits.save_trails()
        for name in self.connected:
            try:
                await self.registry.get(name).close()
            except Exception:
                log.exception("closing %s failed", name)
        await self.db.close()

    async def _expire_confirmations(self) -> None:
        while True:
            await self.confirmations.expire_due()
            await asyncio.sleep(5)


def _bind(method: Callable[[str], Awaitable[None]], name: str) -> Callable[[], Awaitable[None]]:
    return lambda: method(name)


def _pnl_watch(pnl: PnlService, risk: RiskService) -> Callable[[], Awaitable[None]]:
    """The periodic P&L job: record every account, then hold the daily loss limit."""

    async def watch() -> None:
        for account in await pnl.snapshot():
            await risk.note_day_pnl(account, await pnl.day_pnl(account))

    return watch


def exit_settings_from(config: AppConfig) -> AutoExitSettings:
    return AutoExitSettings(
        monitor=MonitorSettings(
            stale_after_s=config.monitor.stale_after_s,
            poll_interval_s=config.monitor.poll_interval_s,
        ),
        buffer=SpikeBuffer(config.exits.band_pct, config.exits.dwell_s),
    )


async def build_service(
    config: AppConfig,
    *,
    kinds: Iterable[BrokerKind] = BROKER_KINDS,
    clock: Clock | None = None,
    sync_settings: SyncSettings | None = None,
    exit_settings: AutoExitSettings | None = None,
) -> Service:
    """Open storage and build every service; nothing runs until ``Service.start``."""
    clock = clock or SystemClock()
    registry = BrokerRegistry()
    for kind in kinds:
        registry.register_kind(kind)
    db = await Database.open(config.storage.path, synchronous=config.storage.synchronous)
    box = SecretBox.load(Path(f"{config.storage.path}.key"))
    try:
        stored = await SecretStore(db, box, clock).values()
        checks = {name: kind.validate_settings for name, kind in registry.kinds.items()}
        accounts = validate_accounts(config.accounts, config.risk, checks, stored)
    except BaseException:
        await db.close()
        raise
    broker_kinds: dict[str, str] = {}
    for account, validated in accounts:
        settings = dict(validated)
        if account.default_exchange:
            settings["default_exchange"] = account.default_exchange
        broker = registry.kind(account.broker).factory(account.name, settings)
        registry.add_account(broker)
        broker_kinds[account.name] = account.broker
    tracker = OrderTracker(db, clock)
    alerts = AlertOutbox(db, clock)
    locks = PositionLocks()
    gate = TradingGate()
    calendar = (
        MarketCalendar.load(Path(config.risk.calendar_file))
        if config.risk.calendar_file
        else MarketCalendar.bundled()
    )
    risk = RiskService(  # halt_reason and day_pnl are attached below, once they exist
        {account.name: config.risk_for(account.name) for account, _ in accounts},
        clock,
        calendar=calendar,
        working=tracker.in_flight,
        alert=alerts.add,
        day_zone=ZoneInfo(config.schedule.timezone),
    )
    execution = ExecutionService(registry, tracker, locks, gate, risk)
    confirmations = ConfirmationService(db, clock, config.confirmations.ttl_s)
    desk = Desk(registry, execution, tracker, confirmations, gate, clock, broker_kinds)
    sync_settings = sync_settings or SyncSettings(poll_interval_s=config.sync.poll_interval_s)
    sync = OrderSync(registry, tracker, gate, alerts, clock, sync_settings)
    exit_settings = exit_settings or exit_settings_from(config)
    base = exit_settings.buffer
    buffers = {
        account.name: SpikeBuffer(
            base.band_pct if account.exit_band_pct is None else account.exit_band_pct,
            base.dwell_s if account.exit_dwell_s is None else account.exit_dwell_s,
        )
        for account, _ in accounts
    }
    autoexits = AutoExits(
        db, registry, execution, tracker, alerts, locks, clock, exit_settings, buffers=buffers
    )
    states = LoginStates(clock) if config.login.redirect_listen else None
    sessions = SessionService(registry, db, box, clock, states)
    desk.attach_sessions(sessions)
    exit_desk = ExitDesk(autoexits)
    sync.position_checks.append(exit_desk.reconcile_positions)
    desk.attach_exit_rules(exit_desk)
    pnl = PnlService(db, registry, clock, config.schedule.timezone)
    desk.attach_pnl(pnl)
    audit = AuditLog(db, clock)
    kill_switch = KillSwitch(db, clock, registry, alerts, audit)
    risk.halt_reason = kill_switch.reason
    risk.day_pnl = pnl.day_pnl
    panic = Panic(registry, execution, tracker, kill_switch)
    desk.attach_safety(SafetyDesk(audit, kill_switch, panic, confirmations))

    daily = DailyJobs(
        registry,
        execution,
        tracker,
        gate,
        alerts,
        is_trading_day=calendar.is_trading_day,
        timezone=config.schedule.timezone,
        snapshots=[_pnl_watch(pnl, risk)],
    )
    scheduler = build_scheduler(config.schedule, daily, clock, exchange_zone=calendar.timezone)
    desk.jobs = scheduler.jobs

    async def on_failure(name: str, exc: BaseException) -> None:
        await alerts.add(
            Event(EventKind.COMPONENT_FAILED, "", {"message": f"{name} failed: {exc}; restarting"})
        )

    return Service(
        config=config,
        clock=clock,
        db=db,
        registry=registry,
        tracker=tracker,
        alerts=alerts,
        locks=locks,
        gate=gate,
        execution=execution,
        confirmations=confirmations,
        desk=desk,
        sync=sync,
        autoexits=autoexits,
        sessions=sessions,
        supervisor=Supervisor(on_failure),
        scheduler=scheduler,
        audit=audit,
        kill_switch=kill_switch,
        pnl=pnl,
    )


@asynccontextmanager
async def telegram_service(
    config: AppConfig,
    *,
    kinds: Iterable[BrokerKind] = BROKER_KINDS,
    clock: Clock | None = None,
    sync_settings: SyncSettings | None = None,
    exit_settings: AutoExitSettings | None = None,
    pace_s: float = 1.0,
    poll_timeout_s: int = 10,
) -> AsyncIterator[tuple[Service, TelegramFront]]:
    """The whole service with the Telegram front-end, started; stopped when the block ends."""
    if config.telegram is None:
        raise ConfigError("the [telegram] section is needed to run the Telegram front-end")
    service = await build_service(
        config, kinds=kinds, clock=clock, sync_settings=sync_settings, exit_settings=exit_settings
    )
    store = FrontDeskStore(service.db, service.clock)
    front = TelegramFront(
        config.telegram, service.desk, store, pace_s=pace_s, poll_timeout_s=poll_timeout_s
    )
    alerts = TelegramAlerts(front.sender, store, front.owner_chats, service.desk.login_link)
    try:
        await front.start()
        try:
            await service.start(alerts.deliver)
            yield service, front
        finally:
            await front.stop()
    finally:
        await service.stop()
