"""The desk: what a front-end can ask of pocketdesk, answered with result objects.

Front-ends (console, Telegram) parse text, call these methods and render what comes back; they
never touch storage or a broker. Every order-changing method only *prepares* a ticket; nothing
reaches a broker until the ticket's confirmation is used.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from core.access.sessions import SessionService
from core.broker import Broker, BrokerRegistry
from core.confirmations import ActionKind, ConfirmationService, Decision
from core.domain.clock import Clock
from core.domain.codec import request_from_dict, request_to_dict
from core.domain.errors import BrokerError, NotFound, OrderDenied, PocketdeskError, UserError
from core.domain.models import (
    InstrumentId,
    Order,
    OrderRequest,
    Position,
    Product,
    Quote,
)
from core.exit_desk import ExitDesk
from core.orders.execution import ExecutionService, normalise
from core.orders.gate import TradingGate
from core.orders.tracker import OrderTracker, describe_order
from core.pnl import PnlReport, PnlService
from core.resolve import AccountResolver
from core.results import (
    AccountInfo,
    AccountPositions,
    ActionResult,
    OrderInput,
    StatusReport,
    Ticket,
)
from core.safety import PanicReport
from core.safety_desk import SafetyDesk
from core.scheduler import JobStatus
from core.storage.outbox import OutboxRepository

__all__ = [
    "AccountInfo",
    "AccountPositions",
    "ActionResult",
    "Desk",
    "OrderInput",
    "StatusReport",
    "Ticket",
]


class Desk:
    def __init__(
        self,
        registry: BrokerRegistry,
        execution: ExecutionService,
        tracker: OrderTracker,
        confirmations: ConfirmationService,
        gate: TradingGate,
        clock: Clock,
        broker_kinds: dict[str, str],
    ) -> None:
        self.registry = registry
        self.execution = execution
        self.tracker = tracker
        self.confirmations = confirmations
        self.gate = gate
        self.clock = clock
        self.broker_kinds = broker_kinds
        self.started_at = clock.now()
        self.resolver = AccountResolver(registry)
        self._exit_rules: ExitDesk | None = None
        self.sessions: SessionService | None = None
        self._safety: SafetyDesk | None = None
        self.jobs: Callable[[], list[JobStatus]] = list  # the scheduler's, once attached
        self._pnl: PnlService | None = None

    def attach_sessions(self, sessions: SessionService) -> None:
        self.sessions = sessions

    def login_link(self, account: str) -> str:
        """Where to log in to a broker that needs a daily login."""
        if self.sessions is None:
            raise UserError("logins are not available")
        return self.sessions.login_link(self.registry.get(account).account)

    @property
    def login_returns_by_itself(self) -> bool:
        """Whether a browser login comes back to pocketdesk (the redirect receiver runs)."""
        return self.sessions is not None and self.sessions.states is not None

    async def complete_login(self, account: str, response: str) -> str:
        """Finish a login from what the user pasted; the broker's user id."""
        if self.sessions is None:
            raise UserError("logins are not available")
        return await self.sessions.complete(self.registry.get(account).account, response)

    def attach_safety(self, safety: SafetyDesk) -> None:
        self._safety = safety

    def safety(self) -> SafetyDesk:
        """The audit log, the kill switch and /panic."""
        if self._safety is None:
            raise UserError("the kill switch is not running")
        return self._safety

    def attach_pnl(self, service: PnlService) -> None:
        self._pnl = service

    async def pnl(self, period: str = "today", account: str | None = None) -> PnlReport:
        """Profit and loss per account for /pnl: "today" or "week"."""
        if self._pnl is None:
            raise UserError("P&L is not available")
        return await self._pnl.report(period, account)

    def attach_exit_rules(self, exit_desk: ExitDesk) -> None:
        self._exit_rules = exit_desk

    def exit_rules(self) -> ExitDesk:
        """The exit-rule commands (/sl, /tp, /trail, /exits)."""
        if self._exit_rules is None:
            raise UserError("automatic exits are not running")
        return self._exit_rules

    # --- resolving what the user named -------------------------------------------------------

    async def resolve(self, symbol: str, account: str | None) -> tuple[Broker, InstrumentId]:
        """The account to use and the full instrument id for a symbol as typed."""
        return await self.resolver.resolve(symbol, account)

    async def _find_order(self, ref: str) -> Order:
        found = await self.tracker.find(ref.strip())
        if not found:
            raise UserError(f"no order {ref}; /orders lists them")
        if len(found) > 1:
            raise UserError(f"{ref} matches several orders; use more of the id")
        return found[0]

    # --- tickets ------------------------------------------------------------------------------

    async def preview_order(self, user_id: int, chat_id: int, order: OrderInput) -> Ticket:
        """Check an order and store its confirmation; nothing is sent."""
        broker, instrument_id = await self.resolve(order.symbol, order.account)
        request = OrderRequest(
            account=broker.account,
            instrument=instrument_id,
            side=order.side,
            quantity=order.quantity,
            order_type=order.order_type,
            price=order.price,
            trigger_price=order.trigger_price,
            product=order.product or Product.CNC,
            exits=order.exits,
        )
        try:
            instrument = await broker.fetch_instrument(instrument_id)
        except NotFound:
            raise UserError(f"{broker.account} does not know {instrument_id}") from None
        request = normalise(request, instrument)
        if request.order_type not in broker.capabilities.order_types:
            raise OrderDenied(f"{broker.account} does not support {request.order_type} orders")
        last = await self._last_price(broker, instrument_id)
        if self.execution.risk is not None:  # a denial here makes no ticket
            await self.execution.risk.check(broker, request, instrument, last_price=last)
        basis = request.price or request.trigger_price or last
        value = basis * request.quantity if basis is not None else None
        warnings = self._warnings(broker.account, request, last)
        confirmation = await self.confirmations.create(
            user_id, chat_id, ActionKind.PLACE, {"request": request_to_dict(request)}
        )
        return Ticket(
            confirmation=confirmation,
            kind=ActionKind.PLACE,
            request=request,
            last_price=last,
            estimated_value=value,
            currency=instrument.currency,
            warnings=warnings,
        )

    def _warnings(
        self, account: str, request: OrderRequest, last: Decimal | None
    ) -> tuple[str, ...]:
        notes: list[str] = []
        if not self.gate.is_open(account):
            notes.append(f"{account} cannot trade yet: {self.gate.reason(account)}")
        if last is not None and request.price is not None and last > 0:
            gap = abs(request.price - last) / last * 100
            if gap >= 5:
                notes.append(f"the price is {gap:.1f}% away from the last price {last}")
        return tuple(notes)

    async def preview_cancel(self, user_id: int, chat_id: int, ref: str) -> Ticket:
        order = await self._find_order(ref)
        if not order.status.is_in_flight:
            raise UserError(f"order {ref} is {order.status}; there is nothing to cancel")
        confirmation = await self.confirmations.create(
            user_id, chat_id, ActionKind.CANCEL, {"client_order_id": order.client_order_id}
        )
        return Ticket(confirmation=confirmation, kind=ActionKind.CANCEL, order=order)

    async def preview_modify(
        self,
        user_id: int,
        chat_id: int,
        ref: str,
        *,
        quantity: int | None,
        price: Decimal | None,
        trigger_price: Decimal | None,
    ) -> Ticket:
        order = await self._find_order(ref)
        if not order.status.is_in_flight:
            raise UserError(f"order {ref} is {order.status}; it cannot be changed")
        payload: dict[str, Any] = {
            "client_order_id": order.client_order_id,
            "quantity": quantity,
            "price": None if price is None else str(price),
            "trigger_price": None if trigger_price is None else str(trigger_price),
        }
        confirmation = await self.confirmations.create(user_id, chat_id, ActionKind.MODIFY, payload)
        return Ticket(
            confirmation=confirmation,
            kind=ActionKind.MODIFY,
            order=order,
            new_quantity=quantity,
            new_price=price,
            new_trigger_price=trigger_price,
        )

    async def preview_exit(
        self, user_id: int, chat_id: int, symbol: str, account: str | None
    ) -> Ticket:
        broker, instrument_id = await self.resolve(symbol, account)
        positions = [
            p
            for p in await broker.fetch_positions()
            if p.instrument == instrument_id and not p.is_flat
        ]
        if not positions:
            raise UserError(f"no open position in {instrument_id} on {broker.account}")
        if len(positions) > 1:
            products = ", ".join(p.product.value for p in positions)
            raise UserError(f"{instrument_id} is held under several products ({products})")
        position = positions[0]
        confirmation = await self.confirmations.create(
            user_id,
            chat_id,
            ActionKind.EXIT,
            {
                "account": broker.account,
                "instrument": str(instrument_id),
                "product": position.product.value,
            },
        )
        return Ticket(
            confirmation=confirmation,
            kind=ActionKind.EXIT,
            position=position,
            last_price=position.last_price,
            estimated_value=position.last_price * abs(position.quantity),
            currency=position.currency,
        )

    # --- decisions ----------------------------------------------------------------------------

    async def confirm(
        self, confirmation_id: str, user_id: int
    ) -> ActionResult | Ticket | PanicReport:
        """Use a confirmation and carry out its action (once, however often it is pressed)."""
        confirmation = await self.confirmations.decide(confirmation_id, user_id, Decision.CONFIRM)
        payload = confirmation.payload
        if confirmation.kind is ActionKind.PANIC_ARM:
            return await self.safety().panic_ticket(
                confirmation.user_id, confirmation.chat_id, armed=True
            )
        if confirmation.kind is ActionKind.PANIC:
            return await self.safety().panic.run(user_id)
        try:
            order = await self._carry_out(confirmation.kind, payload)
        except PocketdeskError as exc:
            await self._audit(user_id, f"{confirmation.kind} failed", str(exc))
            raise
        await self._audit(user_id, f"{confirmation.kind} done", describe_order(order))
        return ActionResult(kind=confirmation.kind, order=order)

    async def _audit(self, user_id: int, action: str, detail: str) -> None:
        if self._safety is not None:
            await self._safety.record(user_id, action, detail)

    async def _carry_out(self, kind: ActionKind, payload: dict[str, Any]) -> Order:
        if kind is ActionKind.PLACE:
            order = await self.execution.place(request_from_dict(payload["request"]))
        elif kind is ActionKind.CANCEL:
            order = await self.execution.cancel(payload["client_order_id"])
        elif kind is ActionKind.MODIFY:
            order = await self.execution.modify(
                payload["client_order_id"],
                quantity=payload.get("quantity"),
                price=_dec(payload.get("price")),
                trigger_price=_dec(payload.get("trigger_price")),
            )
        else:
            position = Position(
                account=payload["account"],
                instrument=InstrumentId.parse(payload["instrument"]),
                product=Product(payload["product"]),
                quantity=0,
                average_price=Decimal(0),
                last_price=Decimal(0),
            )
            order = await self.execution.exit_position(payload["account"], position)
        return order

    async def dismiss(self, confirmation_id: str, user_id: int) -> None:
        """Cancel a ticket; nothing is sent."""
        await self.confirmations.decide(confirmation_id, user_id, Decision.CANCEL)

    # --- views --------------------------------------------------------------------------------

    async def orders(self, account: str | None = None, limit: int = 30) -> list[Order]:
        if account is not None:
            self.registry.get(account)
        return await self.tracker.recent(account, limit)

    async def positions(self, account: str | None = None) -> list[AccountPositions]:
        names = [account] if account is not None else self.registry.names()
        brokers = [self.registry.get(name) for name in names]
        results = await asyncio.gather(
            *(b.fetch_positions() for b in brokers), return_exceptions=True
        )
        out: list[AccountPositions] = []
        for broker, result in zip(brokers, results, strict=True):
            if isinstance(result, BaseException):
                out.append(AccountPositions(broker.account, error=_reason(result)))
            else:
                out.append(AccountPositions(broker.account, positions=result))
        return out

    async def quote(self, symbol: str, account: str | None = None) -> Quote:
        broker, instrument_id = await self.resolve(symbol, account)
        try:
            quotes = await broker.fetch_quotes([instrument_id])
        except NotFound:
            raise UserError(f"{broker.account} does not know {instrument_id}") from None
        return quotes[instrument_id]

    async def accounts(self) -> list[AccountInfo]:
        brokers = [self.registry.get(name) for name in self.registry.names()]
        balances = await asyncio.gather(
            *(b.fetch_balance() for b in brokers), return_exceptions=True
        )
        infos: list[AccountInfo] = []
        for broker, balance in zip(brokers, balances, strict=True):
            trading = self.gate.is_open(broker.account)
            failed = balance if isinstance(balance, BaseException) else None
            infos.append(
                AccountInfo(
                    name=broker.account,
                    broker=self.broker_kinds.get(broker.account, "?"),
                    default_exchange=broker.default_exchange,
                    trading=trading,
                    note="" if trading else self.gate.reason(broker.account),
                    balance=None if isinstance(balance, BaseException) else balance,
                    error=_reason(failed) if failed is not None else "",
                )
            )
        return infos

    async def status(self) -> StatusReport:
        accounts = await self.accounts()
        in_flight = await self.tracker.in_flight()
        async with self.tracker.db.read() as tx:
            pending = await OutboxRepository().count_pending(tx)
        return StatusReport(
            started_at=self.started_at,
            now=self.clock.now(),
            accounts=accounts,
            in_flight=len(in_flight),
            alerts_pending=pending,
            halts=self._safety.halted() if self._safety is not None else [],
            jobs=self.jobs(),
        )

    async def _last_price(self, broker: Broker, instrument: InstrumentId) -> Decimal | None:
        try:
            quotes = await broker.fetch_quotes([instrument])
        except BrokerError:
            return None
        quote = quotes.get(instrument)
        return None if quote is None else quote.last_price


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
