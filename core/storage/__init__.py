"""SQLite storage: the connection, the migration runner and the repositories (the only SQL)."""

from core.storage.db import Database, MigrationError

__all__ = ["Database", "MigrationError"]
