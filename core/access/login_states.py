"""One-time states for login links: each bound to one account, used once, expiring.

With the redirect receiver on, every login link pocketdesk hands out carries the account's name
and a random state; the broker sends both back to the receiver, and only a state issued here for
that account, unused and unexpired, may finish a login there. States live in memory: a restart
forgets them, and pasting the address in chat (or a fresh ``/login``) still finishes the login.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.domain.clock import Clock

# The morning reminder goes out before the user logs in (08:45 by default), and the link in it
# is often tapped much later: at the open, after a meeting, before the evening MCX session.
# Twelve hours keeps that day's links working through the trading day, while a link dug out of
# the chat history the next day (when the session it would make is dead anyway) is refused.
LINK_TTL_S = 12 * 3600.0
# Every /login and every "log in again" alert issues a state; the oldest go beyond this many.
MAX_LIVE_PER_ACCOUNT = 20


@dataclass(frozen=True, slots=True)
class _Issued:
    account: str
    expires_at: datetime


class LoginStates:
    """One-time random states for login links, each bound to one account, for ``ttl_s``."""

    def __init__(self, clock: Clock, ttl_s: float = LINK_TTL_S) -> None:
        self.clock = clock
        self.ttl = timedelta(seconds=ttl_s)
        self._issued: dict[str, _Issued] = {}  # insertion order is issue order

    def issue(self, account: str) -> str:
        """A new state for a login link of ``account``."""
        now = self.clock.now()
        self._issued = {s: i for s, i in self._issued.items() if i.expires_at > now}
        live = [s for s, i in self._issued.items() if i.account == account]
        for old in live[: max(0, len(live) - MAX_LIVE_PER_ACCOUNT + 1)]:
            del self._issued[old]
        state = secrets.token_urlsafe(24)
        self._issued[state] = _Issued(account, now + self.ttl)
        return state

    def is_valid(self, account: str, state: str) -> bool:
        """Whether ``state`` was issued for ``account`` and is unused and unexpired."""
        issued = self._issued.get(state)
        return (
            issued is not None
            and secrets.compare_digest(issued.account, account)
            and issued.expires_at > self.clock.now()
        )

    def redeem(self, account: str, state: str) -> bool:
        """Use ``state`` up: true once for a valid one, false ever after."""
        valid = self.is_valid(account, state)
        if valid:
            del self._issued[state]
        return valid
