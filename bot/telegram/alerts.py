"""Alerts to every owner's chat: paced, grouped, retried, and never given twice to a chat.

The notifier hands over a batch of outbox events; each owner chat gets the ones it has not had,
as one message (a burst of fills is one message, not twenty). Order news about a ticket also
edits that ticket in place, so its message always shows where the order stands. If any chat
could not be reached the batch fails and the notifier retries it later, in order; the chats
already served are skipped then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from telegram.error import TelegramError

from bot.render import render_alert
from bot.replies import Button, esc
from bot.telegram.sender import Sender
from core.domain.alerts import Event, EventKind
from core.domain.errors import PocketdeskError
from core.frontdesk import FrontDeskStore

log = logging.getLogger(__name__)

# The ticket edit already says it, in the chat that placed the order.
_EDIT_ONLY = frozenset({EventKind.ORDER_PLACED, EventKind.ORDER_MODIFIED})
# Alerts that ask for a broker login, so they come with the login page's button.
_NEEDS_LOGIN = frozenset({EventKind.TOKEN_EXPIRED, EventKind.LOGIN_REMINDER})


LoginLink = Callable[[str], str]


class TelegramAlerts:
    def __init__(
        self,
        sender: Sender,
        store: FrontDeskStore,
        chats: list[int],
        login_link: LoginLink | None = None,
    ) -> None:
        self.sender = sender
        self.store = store
        self.chats = chats
        self.login_link = login_link  # a "log in again" alert carries the login page

    async def deliver(self, events: list[Event]) -> None:
        """The notifier's sink."""
        failed: list[int] = []
        for chat_id in self.chats:
            try:
                await self._deliver_to(chat_id, events)
            except TelegramError as exc:
                log.warning("alerts to chat %s not delivered yet: %s", chat_id, exc)
                failed.append(chat_id)
        if failed:
            raise ConnectionError(f"alerts not delivered to {len(failed)} chat(s); will retry")

    async def _deliver_to(self, chat_id: int, events: list[Event]) -> None:
        ids = [e.id for e in events if e.id is not None]
        todo = set(await self.store.undelivered(chat_id, ids))
        lines: list[str] = []
        reply_to: int | None = None
        for event in events:
            if event.id not in todo:
                continue
            text = render_alert(event)
            ticket = await self._ticket_in_chat(event, chat_id)
            if ticket is not None:
                await self.sender.edit(chat_id, ticket, text)
                reply_to = ticket
                if event.kind in _EDIT_ONLY:
                    continue
            lines.append(text)
        if lines:
            await self.sender.send(chat_id, "\n".join(lines), paced=True, reply_to=reply_to)
        logins = {e.account for e in events if e.id in todo and e.kind in _NEEDS_LOGIN}
        for account in sorted(logins):  # one button per account, however many alerts ask
            await self._login_button(chat_id, account)
        await self.store.mark_delivered(chat_id, sorted(todo))

    async def _login_button(self, chat_id: int, account: str) -> None:
        if self.login_link is None or not account:
            return
        try:
            url = self.login_link(account)
        except PocketdeskError:
            return  # this broker has no login page
        button = Button(f"Log in to {account}", url=url)
        text = f"Log in, then send the address you land on: /login {account} ADDRESS"
        await self.sender.send(chat_id, esc(text), ((button,),), paced=True)

    async def _ticket_in_chat(self, event: Event, chat_id: int) -> int | None:
        order_id = event.data.get("client_order_id")
        if not order_id:
            return None
        ref = await self.store.order_message(order_id)
        if ref is None or ref.chat_id != chat_id:
            return None
        return ref.message_id
