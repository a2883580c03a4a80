"""The P&L snapshots repository: each account's realised and unrealised P&L over time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from core.storage.db import Row, Tx, format_time, parse_time

FLAT = ""  # the currency of the row that records an account holding nothing at all


@dataclass(frozen=True, slots=True)
class Amounts:
    """Realised and unrealised P&L in one currency."""

    realised: Decimal = Decimal(0)
    unrealised: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        return self.realised + self.unrealised

    def __add__(self, other: Amounts) -> Amounts:
        return Amounts(self.realised + other.realised, self.unrealised + other.unrealised)

    def __sub__(self, other: Amounts) -> Amounts:
        return Amounts(self.realised - other.realised, self.unrealised - other.unrealised)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One account at one moment: its P&L per currency (a currency absent from it is zero)."""

    account: str
    taken_at: datetime
    amounts: Mapping[str, Amounts]

    def of(self, currency: str) -> Amounts:
        return self.amounts.get(currency, Amounts())


def _group(rows: list[Row]) -> list[Snapshot]:
    """Rows ordered by (account, taken_at) -> one snapshot per (account, taken_at)."""
    found: list[Snapshot] = []
    current: dict[str, Amounts] = {}
    key: tuple[str, str] | None = None
    for row in rows:
        row_key = (str(row["account"]), str(row["taken_at"]))
        if row_key != key:
            current = {}
            key = row_key
            found.append(Snapshot(row_key[0], parse_time(row_key[1]), current))
        if row["currency"] != FLAT:
            current[str(row["currency"])] = Amounts(
                Decimal(row["realised"]), Decimal(row["unrealised"])
            )
    return found


_SELECT = "SELECT account, taken_at, currency, realised, unrealised FROM pnl_snapshots"


class PnlRepository:
    async def insert(self, tx: Tx, snapshot: Snapshot, day: str) -> None:
        """Store one snapshot (replacing one of the same moment); no amounts is stored as flat."""
        amounts = dict(snapshot.amounts) or {FLAT: Amounts()}
        stamp = format_time(snapshot.taken_at)
        await tx.execute(
            "DELETE FROM pnl_snapshots WHERE account=? AND taken_at=?", (snapshot.account, stamp)
        )
        for currency, value in sorted(amounts.items()):
            await tx.execute(
                "INSERT OR REPLACE INTO pnl_snapshots (account, taken_at, day, currency,"
                " realised, unrealised) VALUES (?,?,?,?,?,?)",
                (
                    snapshot.account,
                    stamp,
                    day,
                    currency,
                    str(value.realised),
                    str(value.unrealised),
                ),
            )

    async def last_before(self, tx: Tx, account: str, moment: datetime) -> Snapshot | None:
        """The account's latest snapshot taken before ``moment``."""
        rows = await tx.fetchall(
            f"{_SELECT} WHERE account=? AND taken_at=(SELECT MAX(taken_at) FROM pnl_snapshots"
            " WHERE account=? AND taken_at<?) ORDER BY currency",
            (account, account, format_time(moment)),
        )
        found = _group(rows)
        return found[0] if found else None

    async def first_from(self, tx: Tx, account: str, moment: datetime) -> Snapshot | None:
        """The account's earliest snapshot taken at or after ``moment``."""
        rows = await tx.fetchall(
            f"{_SELECT} WHERE account=? AND taken_at=(SELECT MIN(taken_at) FROM pnl_snapshots"
            " WHERE account=? AND taken_at>=?) ORDER BY currency",
            (account, account, format_time(moment)),
        )
        found = _group(rows)
        return found[0] if found else None

    async def between(self, tx: Tx, account: str, start: datetime, end: datetime) -> list[Snapshot]:
        """The account's snapshots taken in ``[start, end)``, oldest first."""
        rows = await tx.fetchall(
            f"{_SELECT} WHERE account=? AND taken_at>=? AND taken_at<? ORDER BY taken_at",
            (account, format_time(start), format_time(end)),
        )
        return _group(rows)

    async def thin(self, tx: Tx, before_day: str) -> int:
        """Keep only each account's first and last snapshot of every day before ``before_day``.

        Those two are all a past day's total needs (its opening and closing P&L).
        """
        return await tx.execute(
            "DELETE FROM pnl_snapshots WHERE day<? AND taken_at>(SELECT MIN(i.taken_at)"
            " FROM pnl_snapshots AS i WHERE i.account=pnl_snapshots.account"
            " AND i.day=pnl_snapshots.day) AND taken_at<(SELECT MAX(i.taken_at)"
            " FROM pnl_snapshots AS i WHERE i.account=pnl_snapshots.account"
            " AND i.day=pnl_snapshots.day)",
            (before_day,),
        )

    async def prune(self, tx: Tx, before_day: str) -> int:
        """Forget every snapshot of the days before ``before_day``."""
        return await tx.execute("DELETE FROM pnl_snapshots WHERE day<?", (before_day,))

    async def count(self, tx: Tx) -> int:
        row = await tx.fetchone("SELECT COUNT(*) FROM pnl_snapshots")
        return 0 if row is None else int(row[0])
