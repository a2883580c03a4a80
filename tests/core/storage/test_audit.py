"""The audit repository is the one door into the audit log: every detail is cut to its limit."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from core.storage import Database
from core.storage.audit import MAX_DETAIL, AuditRepository, audit_statement

NOW = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


async def test_a_long_detail_is_cut_whichever_way_it_is_written(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "audit.db")
    repo = AuditRepository()
    try:
        async with db.transaction() as tx:
            await repo.add(tx, NOW, 1, "command", "x" * 5000)
            await tx.run(audit_statement(NOW, None, "order intent", "y" * 5000))
        async with db.read() as tx:
            rows = await repo.recent(tx)
    finally:
        await db.close()

    assert [(action, len(detail)) for _, _, action, detail in rows] == [
        ("order intent", MAX_DETAIL),
        ("command", MAX_DETAIL),
    ]
