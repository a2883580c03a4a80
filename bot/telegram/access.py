"""Who may do what: owners trade, viewers read, everyone else is ignored in silence."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    VIEWER = "viewer"


@dataclass(frozen=True, slots=True)
class Access:
    owners: frozenset[int]
    viewers: frozenset[int]

    @classmethod
    def of(cls, owners: Iterable[int], viewers: Iterable[int]) -> Access:
        return cls(frozenset(owners), frozenset(viewers))

    def role(self, user_id: int | None) -> Role | None:
        """The user's role, or None for a stranger (deny by default)."""
        if user_id is None:
            return None
        if user_id in self.owners:
            return Role.OWNER
        if user_id in self.viewers:
            return Role.VIEWER
        return None
