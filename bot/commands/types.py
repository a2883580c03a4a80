"""The typed commands a chat line parses into."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeAlias

from core.domain.models import ExitSpec, OrderType, Product, Side


@dataclass(frozen=True, slots=True)
class HelpCommand:
    topic: str | None = None  # a key of COMMANDS


@dataclass(frozen=True, slots=True)
class AccountsCommand:
    pass


@dataclass(frozen=True, slots=True)
class StatusCommand:
    pass


@dataclass(frozen=True, slots=True)
class OrdersCommand:
    account: str | None = None


@dataclass(frozen=True, slots=True)
class PositionsCommand:
    account: str | None = None


@dataclass(frozen=True, slots=True)
class QuoteCommand:
    symbol: str
    account: str | None = None


@dataclass(frozen=True, slots=True)
class PlaceCommand:
    """A new order. ``price`` makes it a limit order; ``trigger`` makes it a stop order."""

    side: Side
    symbol: str
    quantity: int
    order_type: OrderType = OrderType.MARKET
    price: Decimal | None = None
    trigger: Decimal | None = None
    exits: ExitSpec = field(default_factory=ExitSpec)
    account: str | None = None
    product: Product | None = None  # None: the account's default


@dataclass(frozen=True, slots=True)
class CancelCommand:
    order_ref: str


@dataclass(frozen=True, slots=True)
class ModifyCommand:
    """Only the fields given change; at least one is set."""

    order_ref: str
    price: Decimal | None = None
    quantity: int | None = None
    trigger: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ExitCommand:
    symbol: str
    account: str | None = None


@dataclass(frozen=True, slots=True)
class RuleCommand:
    """What /sl, /tp and /trail share: the position, the level, and the rule's spike buffer.

    ``band_pct`` (percent of the trigger, 0 to below 10) and ``dwell_s`` (seconds, 0 to 60)
    override the account's buffer (``exit_band_pct``, ``exit_dwell_s``, ``[exits]``) for this
    rule; None keeps the account's.
    """

    symbol: str
    value: Decimal
    percent: bool = False
    account: str | None = None
    band_pct: Decimal | None = None
    dwell_s: float | None = None


@dataclass(frozen=True, slots=True)
class StopLossCommand(RuleCommand):
    """Set the stop-loss of an open position: a price, or with ``percent`` a % of the entry."""


@dataclass(frozen=True, slots=True)
class TargetCommand(RuleCommand):
    """Set the target of an open position: a price, or with ``percent`` a % of the entry."""


@dataclass(frozen=True, slots=True)
class TrailCommand(RuleCommand):
    """Trail a position's stop behind its best price since.

    The distance is ``value`` percent of that price with ``percent``, else ``value`` points: a
    price distance, like 15 rupees.
    """


@dataclass(frozen=True, slots=True)
class ExitsCommand:
    """Show the exit rules of open positions (one symbol's, when given); ``clear`` removes them.

    ``clear`` always comes with a ``symbol``: there is no command to clear every position's rules.
    """

    symbol: str | None = None
    account: str | None = None
    clear: bool = False


@dataclass(frozen=True, slots=True)
class LoginCommand:
    """Start a broker login (no ``response``), or finish it with what the broker sent back:
    the address the browser landed on after logging in, or its bare ``request_token``."""

    account: str
    response: str | None = None


@dataclass(frozen=True, slots=True)
class HaltCommand:
    """Stop new entries on one account (``account``) or on every account (None)."""

    account: str | None = None


@dataclass(frozen=True, slots=True)
class ResumeCommand:
    """Allow new entries again on one account or on every account (None)."""

    account: str | None = None


@dataclass(frozen=True, slots=True)
class PanicCommand:
    """Cancel every open order, then flatten every position on every account."""


@dataclass(frozen=True, slots=True)
class AuditCommand:
    """The latest ``count`` entries of the audit log."""

    count: int = 20


@dataclass(frozen=True, slots=True)
class PnlCommand:
    """Profit and loss with a chart: ``period`` is "today" or "week"."""

    period: str = "today"
    account: str | None = None


Command: TypeAlias = (
    HelpCommand
    | AccountsCommand
    | StatusCommand
    | OrdersCommand
    | PositionsCommand
    | QuoteCommand
    | PlaceCommand
    | CancelCommand
    | ModifyCommand
    | ExitCommand
    | StopLossCommand
    | TargetCommand
    | TrailCommand
    | ExitsCommand
    | LoginCommand
    | HaltCommand
    | ResumeCommand
    | PanicCommand
    | AuditCommand
    | PnlCommand
)
