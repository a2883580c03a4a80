"""Daily broker logins: the login link, finishing the login, keeping the session.

The access token a login yields is stored encrypted, so a restart keeps the session until the
broker ends it; a dead session is noticed by the sync loop, which closes the account for trading
and asks for a new login.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from core.broker import BrokerRegistry, LoginCapable
from core.domain.clock import Clock
from core.domain.errors import UserError
from core.secrets import SecretBox
from core.storage.db import Database
from core.storage.sessions import SessionRepository

if TYPE_CHECKING:
    from core.login_links import LoginStates

log = logging.getLogger(__name__)


def request_token_from(response: str) -> str:
    """The request token in what the user pasted: the redirect address, or the bare token."""
    text = response.strip()
    if "://" in text or "?" in text:
        query = parse_qs(urlsplit(text).query)
        status = query.get("status", ["success"])[0]
        if status != "success":
            raise UserError(f"the broker says the login did not succeed (status={status})")
        tokens = query.get("request_token")
        if not tokens or not tokens[0]:
            raise UserError("that address has no request_token; paste the one you landed on")
        return tokens[0]
    if not text.isalnum():
        raise UserError("that is not a request token; paste the address you landed on")
    return text


class SessionService:
    def __init__(
        self,
        registry: BrokerRegistry,
        db: Database,
        box: SecretBox,
        clock: Clock,
        states: LoginStates | None = None,
    ) -> None:
        self.registry = registry
        self.db = db
        self.box = box
        self.clock = clock
        self.states = states  # set when the redirect receiver runs: links carry a state
        self.repo = SessionRepository()

    def _broker(self, account: str) -> LoginCapable:
        broker = self.registry.get(account)
        if not isinstance(broker, LoginCapable):
            raise UserError(f"{account} needs no login")
        return broker

    def login_link(self, account: str) -> str:
        """The broker's login page; with the redirect receiver on, it carries the account's
        name and a new one-time state, which the broker hands back to the receiver."""
        broker = self._broker(account)
        if self.states is None:
            return broker.login_url()
        return broker.login_url({"account": account, "state": self.states.issue(account)})

    async def complete(self, account: str, response: str) -> str:
        """Finish a login from what the user pasted; return the broker's user id."""
        broker = self._broker(account)
        user_id, token = await broker.complete_login(request_token_from(response))
        async with self.db.transaction() as tx:
            await self.repo.save(tx, account, self.box.seal(token), user_id, self.clock.now())
        return user_id

    async def restore(self) -> None:
        """Give each login broker the session stored for it, if any (at start-up)."""
        for account in self.registry.names():
            broker = self.registry.get(account)
            if not isinstance(broker, LoginCapable):
                continue
            async with self.db.read() as tx:
                sealed = await self.repo.load(tx, account)
            token = None if sealed is None else self.box.open(sealed)
            if token is not None:
                broker.use_access_token(token)
            elif sealed is not None:
                log.warning("the stored session of %s was sealed with another key", account)
