"""Broker secrets kept in the database, sealed, instead of in the configuration file.

``pocketdesk secrets set ACCOUNT KEY`` reads a value without echoing it and stores it sealed
with the desk's key (``core.access.secret_box.SecretBox``). At start-up the stored values join the
account's settings; a value written in the file wins over a stored one, so a secret moves out
of the file by deleting it there.

A configuration value may also name an environment variable instead of holding a secret:
``api_secret = "env:KITE_API_SECRET"`` (``core.config.accounts.resolve_env_refs``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from core.access.secret_box import SecretBox
from core.domain.clock import Clock
from core.domain.errors import ConfigError
from core.storage.db import Database
from core.storage.sealed_secrets import SecretRepository, SecretRow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredSecret:
    account: str
    name: str
    updated_at: datetime


class SecretStore:
    def __init__(self, db: Database, box: SecretBox, clock: Clock) -> None:
        self.db = db
        self.box = box
        self.clock = clock
        self.repo = SecretRepository()

    async def put(self, account: str, name: str, value: str) -> None:
        if not value.strip():
            raise ConfigError(f"the value of {account}.{name} is empty; nothing was stored")
        row = SecretRow(account, name, self.box.seal(value.strip()), self.clock.now())
        async with self.db.transaction() as tx:
            await self.repo.put(tx, row)

    async def delete(self, account: str, name: str) -> bool:
        async with self.db.transaction() as tx:
            return await self.repo.delete(tx, account, name) > 0

    async def list(self) -> list[StoredSecret]:
        """What is stored: names and times, never values."""
        async with self.db.read() as tx:
            rows = await self.repo.all(tx)
        return [StoredSecret(r.account, r.name, r.updated_at) for r in rows]

    async def values(self) -> dict[str, dict[str, str]]:
        """Every stored secret opened, by account; one sealed with another key is skipped."""
        async with self.db.read() as tx:
            rows = await self.repo.all(tx)
        found: dict[str, dict[str, str]] = {}
        for row in rows:
            value = self.box.open(row.sealed)
            if value is None:
                log.warning(
                    "the stored %s of %s was sealed with another key; set it again",
                    row.name,
                    row.account,
                )
                continue
            found.setdefault(row.account, {})[row.name] = value
        return found
