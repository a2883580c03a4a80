"""What the desk answers with: tickets, action results and views, for any front-end."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from core.confirmations import ActionKind, Confirmation
from core.domain.models import (
    Balance,
    ExitSpec,
    Order,
    OrderRequest,
    OrderType,
    Position,
    Product,
    Side,
)
from core.safety import PanicPlan
from core.scheduler import JobStatus
from core.storage.halts import HaltRow


@dataclass(frozen=True, slots=True)
class Ticket:
    """An action waiting for its user's confirmation."""

    confirmation: Confirmation
    kind: ActionKind
    request: OrderRequest | None = None
    order: Order | None = None
    position: Position | None = None
    last_price: Decimal | None = None
    estimated_value: Decimal | None = None
    currency: str = ""
    new_quantity: int | None = None
    new_price: Decimal | None = None
    new_trigger_price: Decimal | None = None
    warnings: tuple[str, ...] = ()
    panic: PanicPlan | None = None


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What a confirmed action did."""

    kind: ActionKind
    order: Order


@dataclass(frozen=True, slots=True)
class AccountPositions:
    account: str
    positions: list[Position] = field(default_factory=list)
    error: str = ""


@dataclass(frozen=True, slots=True)
class AccountInfo:
    name: str
    broker: str
    default_exchange: str
    trading: bool
    note: str
    balance: Balance | None
    error: str = ""


@dataclass(frozen=True, slots=True)
class StatusReport:
    started_at: datetime
    now: datetime
    accounts: list[AccountInfo]
    in_flight: int
    alerts_pending: int
    halts: list[HaltRow] = field(default_factory=list)
    jobs: list[JobStatus] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class OrderInput:
    """An order as a front-end understood it, before accounts and symbols are resolved."""

    side: Side
    symbol: str
    quantity: int
    order_type: OrderType = OrderType.MARKET
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    exits: ExitSpec = field(default_factory=ExitSpec)
    account: str | None = None
    product: Product | None = None
