"""Commands waiting for the user to pick an account from a button row (in memory, 60 s)."""

from __future__ import annotations

import secrets
import time


class PendingChoices:
    def __init__(self, ttl_s: float = 60.0) -> None:
        self.ttl_s = ttl_s
        self._pending: dict[str, tuple[int, str, float]] = {}

    def add(self, user_id: int, text: str) -> str:
        """Park a command line for ``user_id``; return the id its buttons carry."""
        now = time.monotonic()
        self._pending = {k: v for k, v in self._pending.items() if v[2] > now}
        choice_id = secrets.token_urlsafe(6)
        self._pending[choice_id] = (user_id, text, now + self.ttl_s)
        return choice_id

    def take(self, choice_id: str, user_id: int) -> str | None:
        """The parked line, once, for the user it was parked for and while it is fresh."""
        entry = self._pending.get(choice_id)
        if entry is None or entry[0] != user_id or entry[2] <= time.monotonic():
            return None
        del self._pending[choice_id]
        return entry[1]
