"""Which accounts may trade now: the gate every placement passes."""

from __future__ import annotations

from core.domain.errors import OrderDenied


class TradingGate:
    """Which accounts may trade now. An account opens once its start-up sync has succeeded."""

    def __init__(self) -> None:
        self._open: set[str] = set()
        self._reasons: dict[str, str] = {}

    def open(self, account: str) -> None:
        self._open.add(account)
        self._reasons.pop(account, None)

    def close(self, account: str, reason: str) -> None:
        self._open.discard(account)
        self._reasons[account] = reason

    def is_open(self, account: str) -> bool:
        return account in self._open

    def reason(self, account: str) -> str:
        return self._reasons.get(account, "its start-up sync with the broker has not finished")

    def check(self, account: str) -> None:
        if account not in self._open:
            raise OrderDenied(f"account {account} cannot trade yet: {self.reason(account)}")
