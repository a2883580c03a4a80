"""One SQLite database in WAL mode, its migrations, and serialised transactions.

pocketdesk keeps one connection per process. Every statement runs under one asyncio lock, so a
transaction opened by one task never sees another task's statements interleaved into it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

from core.domain.errors import PocketdeskError

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

Row = aiosqlite.Row
Params = Sequence[Any] | dict[str, Any]
Statement = tuple[str, Params]
"""One SQL statement and its parameters, built by a repository, run by whoever holds the
connection: ``Tx.run`` in an async transaction, ``execute_now`` inside ``Database.run``."""

T = TypeVar("T")


def execute_now(conn: sqlite3.Connection, statement: Statement) -> int:
    """Run a statement on the database thread (inside ``Database.run``); return rows changed."""
    return int(conn.execute(*statement).rowcount)


class _Connection(aiosqlite.Connection):
    """aiosqlite's connection, able to run a whole transaction in one trip to its thread."""

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return cast(T, await self._execute(fn, self._conn))  # type: ignore[no-untyped-call]


class MigrationError(PocketdeskError):
    """A migration file is misnamed, or failed to apply (nothing of it was kept)."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def format_time(moment: datetime) -> str:
    """A fixed-width UTC timestamp, so stored times sort and compare as text."""
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)


def bundled_migrations() -> list[Migration]:
    """The migrations shipped in the ``migrations`` package, in version order."""
    found: list[Migration] = []
    for entry in resources.files("migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _MIGRATION_NAME.match(entry.name)
        if match is None:
            raise MigrationError(f"migration file {entry.name!r} must be named NNNN_name.sql")
        found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version: {versions}")
    return found


class Tx:
    """The handle repositories use inside a transaction (or a locked read)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    # Each method is one round trip to the database thread: on the exit path every hop counts,
    # so cursors are left to the garbage collector instead of being closed with another hop.

    async def run(self, statement: Statement) -> int:
        """Run a statement a repository built; return the number of rows it changed."""
        return await self.execute(*statement)

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; return the number of rows it changed."""
        cursor = await self._conn.execute(sql, params)
        return int(cursor.rowcount)

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run an INSERT; return the new row id."""
        cursor = await self._conn.execute(sql, params)
        return int(cursor.lastrowid or 0)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self._conn.execute_fetchall(sql, params)
        return next(iter(rows), None)


class Database:
    """The open database. Use ``transaction()`` for writes and ``read()`` for reads."""

    def __init__(self, conn: _Connection, path: str, pragmas: tuple[str, ...] = ()) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self.path = path
        self._pragmas = pragmas
        self._inline: sqlite3.Connection | None = None

    @classmethod
    async def open(
        cls,
        path: str | Path,
        migrations: Iterable[Migration] | None = None,
        *,
        synchronous: str = "normal",
    ) -> Database:
        """Open (creating if needed) and migrate the database at ``path``."""
        # SQLite opens the write transaction by itself (BEGIN IMMEDIATE) before the first
        # statement that writes: one round trip fewer per transaction than an explicit BEGIN.
        location = str(path)
        conn = _Connection(
            lambda: sqlite3.connect(location, isolation_level="IMMEDIATE"), iter_chunk_size=64
        )
        await conn
        conn.row_factory = aiosqlite.Row
        pragmas = (
            "PRAGMA journal_mode=WAL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA synchronous=FULL" if synchronous == "full" else "PRAGMA synchronous=NORMAL",
            "PRAGMA busy_timeout=5000",
        )
        db = cls(conn, str(path), pragmas)
        try:
            for pragma in pragmas:
                await conn.execute(pragma)
            await db.migrate(bundled_migrations() if migrations is None else migrations)
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        async with self._lock:
            if self._inline is not None:
                self._inline.close()
                self._inline = None
            await self._conn.close()

    async def migrate(self, migrations: Iterable[Migration]) -> list[int]:
        """Apply the migrations not yet recorded, each in its own transaction."""
        applied: list[int] = []
        async with self._lock:
            await self._conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            cursor = await self._conn.execute("SELECT version FROM schema_migrations")
            done = {int(row[0]) for row in await cursor.fetchall()}
            await cursor.close()
            for migration in migrations:
                if migration.version in done:
                    continue
                await self._apply(migration)
                applied.append(migration.version)
        return applied

    async def _apply(self, migration: Migration) -> None:
        stamp = format_time(datetime.now(UTC))
        script = (
            "BEGIN IMMEDIATE;\n"
            f"{migration.sql}\n;\n"
            "INSERT INTO schema_migrations (version, name, applied_at) "
            f"VALUES ({migration.version}, '{migration.name}', '{stamp}');\n"
            "COMMIT;"
        )
        try:
            await self._conn.executescript(script)
        except Exception as exc:
            if self._conn.in_transaction:
                await self._conn.execute("ROLLBACK")
            raise MigrationError(
                f"migration {migration.version:04d}_{migration.name} failed: {exc}"
            ) from exc
        log.info("applied migration %04d_%s", migration.version, migration.name)

    async def applied_versions(self) -> list[int]:
        async with self.read() as tx:
            rows = await tx.fetchall("SELECT version FROM schema_migrations ORDER BY version")
        return [int(row[0]) for row in rows]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        async with self._lock:
            try:
                yield Tx(self._conn)
            except BaseException:
                if self._conn.in_transaction:
                    await self._conn.rollback()
                raise
            if self._conn.in_transaction:
                await self._conn.commit()

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` as one short transaction, right here in the event loop's thread.

        For the path where latency matters (an order or exit stored before it is sent): a trip
        to aiosqlite's thread and back costs more (100-500 us, and more when both cores are
        busy) than the few statements themselves (tens of microseconds in WAL mode), so this
        uses a second connection owned by the loop's thread. ``fn`` must stay small: it blocks
        the loop while it runs. Committed if ``fn`` returns, rolled back if it raises.
        """
        async with self._lock:
            conn = self._inline_connection()
            try:
                result = fn(conn)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
            return result

    def _inline_connection(self) -> sqlite3.Connection:
        if self._inline is None:
            conn = sqlite3.connect(self.path, isolation_level="IMMEDIATE")
            conn.row_factory = sqlite3.Row
            for pragma in self._pragmas:
                conn.execute(pragma)
            # Never checkpoint from the loop's thread (a checkpoint writes and syncs the database
            # file: milliseconds); the other connection's commits checkpoint in their thread.
            conn.execute("PRAGMA wal_autocheckpoint=0")
            self._inline = conn
        return self._inline

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """Statements that only read, run without interleaving with a transaction."""
        async with self._lock:
            yield Tx(self._conn)
