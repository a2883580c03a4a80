"""Storage: migrations from empty, and the repositories' guarantees."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core.storage import Database, MigrationError
from core.storage.db import Migration, bundled_migrations


async def test_migrations_apply_from_empty_and_are_recorded(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a.db")
    try:
        versions = await db.applied_versions()
        assert versions == [m.version for m in bundled_migrations()]
        async with db.read() as tx:
            tables = {
                row[0]
                for row in await tx.fetchall("SELECT name FROM sqlite_master WHERE type='table'")
            }
            journal = await tx.fetchone("PRAGMA journal_mode")
            fks = await tx.fetchone("PRAGMA foreign_keys")
        assert {"orders", "fills", "confirmations", "outbox", "audit_log"} <= tables
        assert journal is not None and journal[0] == "wal"
        assert fks is not None and fks[0] == 1
    finally:
        await db.close()


async def test_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    await (await Database.open(path)).close()
    db = await Database.open(path)
    try:
        assert await db.migrate(bundled_migrations()) == []
    finally:
        await db.close()


async def test_a_failing_migration_keeps_nothing_of_itself(tmp_path: Path) -> None:
    broken = [
        Migration(1, "ok", "CREATE TABLE a (x INTEGER);"),
        Migration(2, "broken", "CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1);"),
    ]
    with pytest.raises(MigrationError, match="0002_broken"):
        await Database.open(tmp_path / "b.db", migrations=broken)
    conn = sqlite3.connect(tmp_path / "b.db")
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
    conn.close()
    assert "a" in tables and "b" not in tables
    assert versions == [1]


async def test_a_transaction_that_raises_is_rolled_back(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "c.db")
    try:
        with pytest.raises(RuntimeError):
            async with db.transaction() as tx:
                await tx.execute(
                    "INSERT INTO audit_log (at, action) VALUES ('2026-01-01T00:00:00.000000Z', 'x')"
                )
                raise RuntimeError("boom")
        async with db.read() as tx:
            row = await tx.fetchone("SELECT COUNT(*) FROM audit_log")
        assert row is not None and row[0] == 0
    finally:
        await db.close()


def test_bundled_migrations_are_numbered_from_one_without_gaps() -> None:
    versions = [m.version for m in bundled_migrations()]
    assert versions == list(range(1, len(versions) + 1))
