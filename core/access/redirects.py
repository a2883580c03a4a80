"""Logins that the redirect receiver finishes, after checking the link's one-time state.

The broker redirects the browser to the receiver with the account's name, the state of the link
(``core.access.login_states``) and its own one-time token. Only a state that pocketdesk issued
for that account, not used and not expired, may finish a login there: a stranger who finds the
port cannot drive one. Pasting the address in chat does not need a state (the chat is already
the owner's), so a refused or expired link never locks anyone out.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import NoReturn

from core.access.login_states import LoginStates
from core.alerts.outbox import AlertOutbox
from core.domain.alerts import Event, EventKind
from core.domain.errors import UserError

log = logging.getLogger(__name__)

LoginToken = Callable[[str, str], str]
"""The broker's one-time token in a redirect address, for an account (``UserError`` if none)."""
CompleteLogin = Callable[[str, str], Awaitable[str]]
"""Finishes a login for an account from the address the broker redirected to; the user id."""
Audit = Callable[[int | None, str, str], Awaitable[None]]
"""Writes an audit-log entry: (user id or None for the desk itself, action, detail)."""


class LoginRefused(UserError):
    """A redirect without a state pocketdesk issued for that account (or used, or expired)."""


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
        login_token: LoginToken,
        complete: CompleteLogin,
        alerts: AlertOutbox,
        audit: Audit,
    ) -> None:
        self.states = states
        self.login_token = login_token
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
        self.login_token(account, address)  # a cancelled or token-less redirect keeps the state
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
