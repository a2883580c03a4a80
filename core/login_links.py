"""Login links that finish by themselves: one-time states, and the logins that come back.

With the redirect receiver on, every login link pocketdesk hands out carries Kite's
``redirect_params`` with the account's name and a random one-time *state*. The broker sends both
back to the receiver with the request token, and only a state that pocketdesk issued for that
account, not used and not expired, may finish a login there: a stranger who finds the port
cannot drive one. Pasting the address in chat does not need a state (the chat is already the
owner's), so a refused or expired link never locks anyone out.

States live in memory. A restart forgets them; the link then answers "expired", and pasting the
address (its request token is still unused) or a fresh ``/login`` finishes the login.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from core.alerts.outbox import AlertOutbox
from core.domain.alerts import Event, EventKind
from core.domain.clock import Clock
from core.domain.errors import UserError
from core.sessions import request_token_from

log = logging.getLogger(__name__)

# The morning reminder goes out before the user logs in (08:45 by default), and the link in it
# is often tapped much later: at the open, after a meeting, before the evening MCX session.
# Twelve hours keeps that day's links working through the trading day, while a link dug out of
# the chat history the next day (when the session it would make is dead anyway) is refused.
LINK_TTL_S = 12 * 3600.0
# Every /login and every "log in again" alert issues a state; the oldest go beyond this many.
MAX_LIVE_PER_ACCOUNT = 20

CompleteLogin = Callable[[str, str], Awaitable[str]]
"""Finishes a login for an account from the address the broker redirected to; the user id."""
Audit = Callable[[int | None, str, str], Awaitable[None]]
"""Writes an audit-log entry: (user id or None for the desk itself, action, detail)."""


class LoginRefused(UserError):
    """A redirect without a state pocketdesk issued for that account (or used, or expired)."""


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


@dataclass(frozen=True, slots=True)
class RedirectLogin:
    account: str
    user_id: str


class RedirectLogins:
    """Finishes the logins the broker redirects to the receiver, after checking their state.

    A refusal changes nothing, is logged and goes to the audit log. A login that succeeds
    pushes an alert, so the phone learns that the account trades again.
    """

    def __init__(
        self,
        states: LoginStates,
        complete: CompleteLogin,
        alerts: AlertOutbox,
        audit: Audit,
    ) -> None:
        self.states = states
        self.complete = complete
        self.alerts = alerts
        self.audit = audit

    async def finish(self, query: Mapping[str, str], address: str, peer: str) -> RedirectLogin:
        """Log in from the redirect at ``address`` (its query is ``query``); ``peer`` is who
        sent it. Raises ``LoginRefused`` for a bad state, ``UserError`` when the broker says
        the login did not succeed (the state then stays usable), or the broker's error."""
        account = query.get("account", "")
        state = query.get("state", "")
        if not self.states.is_valid(account, state):
            reason = "unknown, used or expired state" if state else "no state"
            await self._refuse(account, peer, reason)
        request_token_from(address)  # a cancelled or token-less redirect leaves the state alone
        if not self.states.redeem(account, state):
            await self._refuse(account, peer, "state already used")
        user_id = await self.complete(account, address)
        await self.audit(None, "login redirect", f"{account} as {user_id} from {peer}")
        message = (
            f"as {user_id}, through the browser; "
            "trading opens once the broker's orders and positions are synced"
        )
        await self.alerts.add(Event(EventKind.LOGGED_IN, account, {"message": message}))
        return RedirectLogin(account, user_id)

    async def _refuse(self, account: str, peer: str, reason: str) -> NoReturn:
        shown = repr(account[:40])  # a stranger may have written it: quoted, escaped, short
        log.warning("login redirect refused (%s) for account %s from %s", reason, shown, peer)
        await self.audit(None, "login redirect refused", f"{reason}; {shown} from {peer}")
        raise LoginRefused("this login link is unknown, already used or expired")
