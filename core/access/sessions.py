"""Daily broker logins: the login link, finishing the login, keeping the session.

The access token a login yields is stored encrypted, so a restart keeps the session until the
broker ends it; a dead session is noticed by the sync loop, which closes the account for trading
and asks for a new login.
"""

from __future__ import annotations

import logging

from core.access.login_states import LoginStates
from core.access.secret_box import SecretBox
from core.broker import BrokerRegistry, LoginCapable
from core.domain.clock import Clock
from core.domain.errors import UserError
from core.storage.db import Database
from core.storage.sessions import SessionRepository

log = logging.getLogger(__name__)


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

    def login_token(self, account: str, pasted: str) -> str:
        """The broker's one-time login token in what the user pasted or the browser brought
        (the redirect address, or the bare token); ``UserError`` when there is none."""
        return self._broker(account).login_token(pasted)

    async def complete(self, account: str, response: str) -> str:
        """Finish a login from what the user pasted; return the broker's user id."""
        broker = self._broker(account)
        user_id, token = await broker.complete_login(broker.login_token(response))
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
