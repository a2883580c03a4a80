"""One SQLite database in WAL mode, its migrations, and serialised transactions.

pocketdesk keeps one connection per process. Every statement runs under one asyncio lock, so a
transaction opened by one task never sees another task's statements interleaved into it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from core.errors import PocketdeskError

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

Row = aiosqlite.Row
Params = Sequence[Any] | dict[str, Any]


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

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; return the number of rows it changed."""
        cursor = await self._conn.execute(sql, params)
        count = cursor.rowcount
        await cursor.close()
        return count

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run an INSERT; return the new row id."""
        cursor = await self._conn.execute(sql, params)
        row_id = cursor.lastrowid
        await cursor.close()
        return int(row_id or 0)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        cursor = await self._conn.execute(sql, params)
        rows = await cursor.fetchall()
        await cursor.close()
        return list(rows)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        cursor = await self._conn.execute(sql, params)
        row = await cursor.fetchone()
        await cursor.close()
        return row


class Database:
    """The open database. Use ``transaction()`` for writes and ``read()`` for reads."""

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self.path = path

    @classmethod
    async def open(
        cls, path: str | Path, migrations: Iterable[Migration] | None = None
    ) -> Database:
        """Open (creating if needed) and migrate the database at ``path``."""
        conn = await aiosqlite.connect(str(path), isolation_level=None)
        conn.row_factory = aiosqlite.Row
        db = cls(conn, str(path))
        try:
            for pragma in (
                "PRAGMA journal_mode=WAL",
                "PRAGMA foreign_keys=ON",
                "PRAGMA synchronous=FULL",
                "PRAGMA busy_timeout=5000",
            ):
                await conn.execute(pragma)
            await db.migrate(bundled_migrations() if migrations is None else migrations)
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        async with self._lock:
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
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._conn)
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """Statements that only read, run without interleaving with a transaction."""
        async with self._lock:
            yield Tx(self._conn)
