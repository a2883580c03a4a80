"""The exit-rules repository."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from core.domain.exit_rules import ExitRule, RuleKind, RuleState, SpikeBuffer
from core.domain.models import InstrumentId, Product
from core.storage.db import Row, Statement, Tx, format_time, parse_time

_COLUMNS = (
    "id, account, exchange, symbol, product, kind, direction, trigger_price, quantity, state,"
    " trail_value, trail_percent, anchor, band_pct, dwell_s, entry_order_id, exit_order_id,"
    " message, rejections, created_at, updated_at, version"
)


def _rule(row: Row) -> ExitRule:
    return ExitRule(
        id=int(row["id"]),
        account=row["account"],
        instrument=InstrumentId(row["exchange"], row["symbol"]),
        product=Product(row["product"]),
        kind=RuleKind(row["kind"]),
        direction=int(row["direction"]),
        trigger=Decimal(row["trigger_price"]),
        quantity=int(row["quantity"]),
        state=RuleState(row["state"]),
        created_at=parse_time(row["created_at"]),
        updated_at=parse_time(row["updated_at"]),
        trail_value=None if row["trail_value"] is None else Decimal(row["trail_value"]),
        trail_percent=bool(row["trail_percent"]),
        anchor=None if row["anchor"] is None else Decimal(row["anchor"]),
        buffer=SpikeBuffer(Decimal(row["band_pct"]), float(row["dwell_s"])),
        entry_order_id=row["entry_order_id"],
        exit_order_id=row["exit_order_id"],
        message=row["message"],
        rejections=int(row["rejections"]),
        version=int(row["version"]),
    )


def trigger_statement(rule_id: int, exit_order_id: str, now: datetime) -> Statement:
    """Compare-and-set ARMED -> TRIGGERED: changes no row when the rule is no longer armed."""
    return (
        "UPDATE exit_rules SET state='TRIGGERED', exit_order_id=?, updated_at=?,"
        " version=version+1 WHERE id=? AND state='ARMED'",
        (exit_order_id, format_time(now), rule_id),
    )


class ExitRuleRepository:
    async def insert(self, tx: Tx, rule: ExitRule) -> ExitRule:
        """Store a new rule; a live rule of the same kind on the position is retired first."""
        await tx.execute(
            "UPDATE exit_rules SET state='DONE', message='replaced', updated_at=?,"
            " version=version+1 WHERE account=? AND exchange=? AND symbol=? AND product=?"
            " AND kind=? AND state='ARMED'",
            (
                format_time(rule.created_at),
                rule.account,
                rule.instrument.exchange,
                rule.instrument.symbol,
                rule.product.value,
                rule.kind.value,
            ),
        )
        row_id = await tx.insert(
            f"INSERT INTO exit_rules ({_COLUMNS}) VALUES"
            " (NULL,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                rule.account,
                rule.instrument.exchange,
                rule.instrument.symbol,
                rule.product.value,
                rule.kind.value,
                rule.direction,
                str(rule.trigger),
                rule.quantity,
                rule.state.value,
                None if rule.trail_value is None else str(rule.trail_value),
                int(rule.trail_percent),
                None if rule.anchor is None else str(rule.anchor),
                str(rule.buffer.band_pct),
                rule.buffer.dwell_s,
                rule.entry_order_id,
                rule.exit_order_id,
                rule.message,
                rule.rejections,
                format_time(rule.created_at),
                format_time(rule.updated_at),
                rule.version,
            ),
        )
        stored = await self.get(tx, row_id)
        assert stored is not None
        return stored

    async def get(self, tx: Tx, rule_id: int) -> ExitRule | None:
        row = await tx.fetchone(f"SELECT {_COLUMNS} FROM exit_rules WHERE id=?", (rule_id,))
        return None if row is None else _rule(row)

    async def live(
        self,
        tx: Tx,
        account: str | None = None,
        instrument: InstrumentId | None = None,
        product: Product | None = None,
    ) -> list[ExitRule]:
        """Rules not DONE, optionally of one account / instrument / product."""
        sql = f"SELECT {_COLUMNS} FROM exit_rules WHERE state != 'DONE'"
        params: list[object] = []
        if account is not None:
            sql += " AND account=?"
            params.append(account)
        if instrument is not None:
            sql += " AND exchange=? AND symbol=?"
            params.extend([instrument.exchange, instrument.symbol])
        if product is not None:
            sql += " AND product=?"
            params.append(product.value)
        rows = await tx.fetchall(sql + " ORDER BY id", params)
        return [_rule(row) for row in rows]

    async def by_exit_order(self, tx: Tx, client_order_id: str) -> list[ExitRule]:
        rows = await tx.fetchall(
            f"SELECT {_COLUMNS} FROM exit_rules WHERE exit_order_id=?", (client_order_id,)
        )
        return [_rule(row) for row in rows]

    async def move_trail(
        self, tx: Tx, rule_id: int, trigger: Decimal, anchor: Decimal, now: datetime
    ) -> None:
        """Persist a trailing stop's new anchor and trigger (while it is armed)."""
        await tx.execute(
            "UPDATE exit_rules SET trigger_price=?, anchor=?, updated_at=?"
            " WHERE id=? AND state='ARMED'",
            (str(trigger), str(anchor), format_time(now), rule_id),
        )

    async def set_state(
        self, tx: Tx, rule_id: int, state: RuleState, message: str, now: datetime
    ) -> None:
        await tx.execute(
            "UPDATE exit_rules SET state=?, message=?, updated_at=?, version=version+1 WHERE id=?",
            (state.value, message, format_time(now), rule_id),
        )

    async def rearm(self, tx: Tx, rule_id: int, message: str, now: datetime) -> None:
        await tx.execute(
            "UPDATE exit_rules SET state='ARMED', exit_order_id=NULL, message=?, updated_at=?,"
            " rejections=rejections+1, version=version+1 WHERE id=? AND state='TRIGGERED'",
            (message, format_time(now), rule_id),
        )

    async def set_quantity(self, tx: Tx, rule_id: int, quantity: int, now: datetime) -> None:
        """The position the rule covers grew or shrank."""
        await tx.execute(
            "UPDATE exit_rules SET quantity=?, updated_at=?, version=version+1 WHERE id=?",
            (quantity, format_time(now), rule_id),
        )

    async def update_numbers(
        self,
        tx: Tx,
        rule_id: int,
        *,
        quantity: int,
        trigger: Decimal,
        anchor: Decimal | None,
        now: datetime,
    ) -> None:
        await tx.execute(
            "UPDATE exit_rules SET quantity=?, trigger_price=?, anchor=?, updated_at=?,"
            " version=version+1 WHERE id=?",
            (
                quantity,
                str(trigger),
                None if anchor is None else str(anchor),
                format_time(now),
                rule_id,
            ),
        )
