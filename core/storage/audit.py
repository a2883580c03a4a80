"""The audit log's repository: one writer's statement, every detail cut to ``MAX_DETAIL``."""

from __future__ import annotations

from datetime import datetime

from core.storage.db import Statement, Tx, format_time, parse_time

# The longest detail kept; a pasted novel is cut, not stored whole.
MAX_DETAIL = 500


def audit_statement(now: datetime, user_id: int | None, action: str, detail: str) -> Statement:
    """The INSERT of one audit entry, for a caller batching it with other statements."""
    return (
        "INSERT INTO audit_log (at, user_id, action, detail) VALUES (?,?,?,?)",
        (format_time(now), user_id, action, detail[:MAX_DETAIL]),
    )


class AuditRepository:
    async def add(
        self, tx: Tx, now: datetime, user_id: int | None, action: str, detail: str
    ) -> None:
        await tx.run(audit_statement(now, user_id, action, detail))

    async def recent(self, tx: Tx, limit: int = 20) -> list[tuple[datetime, int | None, str, str]]:
        rows = await tx.fetchall(
            "SELECT at, user_id, action, detail FROM audit_log ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [(parse_time(r[0]), r[1], r[2], r[3]) for r in rows]
