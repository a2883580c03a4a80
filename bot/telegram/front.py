"""The Telegram bot, run inside the service's own event loop.

One gate in front of every handler (buttons included): owners trade, viewers read, strangers
get no reply and no outgoing call at all, and are written to the audit log. Commands are parsed
and answered by the same front-end-agnostic handlers as the console. A ticket is one message,
edited in place as its order moves on.
"""

from __future__ import annotations

import logging

from telegram import BotCommand, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.commands import COMMANDS
from bot.handlers import UserContext, handle_button, handle_text
from bot.replies import Reply
from bot.telegram.access import Access, Role
from bot.telegram.sender import Sender
from core.config import TelegramConfig
from core.desk import Desk
from core.frontdesk import FrontDeskStore

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query"]  # never edited messages: they re-run nothing


def file_url(api_url: str) -> str:
    """The file-download base that goes with a Bot API base (".../bot" -> ".../file/bot")."""
    head, _, tail = api_url.rstrip("/").rpartition("/")
    return f"{head}/file/{tail}" if head else f"{api_url}/file"


class TelegramFront:
    def __init__(
        self,
        config: TelegramConfig,
        desk: Desk,
        store: FrontDeskStore,
        *,
        poll_timeout_s: int = 10,
        pace_s: float = 1.0,
    ) -> None:
        self.config = config
        self.desk = desk
        self.store = store
        self.access = Access.of(config.owners, config.viewers)
        self.poll_timeout_s = poll_timeout_s
        token = config.token.get_secret_value()
        self.app: Application = (  # type: ignore[type-arg]
            ApplicationBuilder()
            .token(token)
            .base_url(config.api_url)
            .base_file_url(file_url(config.api_url))
            .connect_timeout(10)
            .read_timeout(20)
            .get_updates_read_timeout(poll_timeout_s + 10)
            .build()
        )
        self.sender = Sender(self.app.bot, min_interval_s=pace_s)
        self.app.add_handler(TypeHandler(Update, self._gate), group=-1)
        self.app.add_handler(
            MessageHandler(filters.UpdateType.MESSAGE & filters.COMMAND, self._on_command)
        )
        self.app.add_handler(
            MessageHandler(filters.UpdateType.MESSAGE & filters.TEXT, self._on_text)
        )
        self.app.add_handler(CallbackQueryHandler(self._on_button))
        self.app.add_error_handler(self._on_error)

    @property
    def owner_chats(self) -> list[int]:
        """Where alerts go: each owner's private chat (its id is the user id)."""
        return sorted(self.access.owners)

    async def start(self) -> None:
        """Connect, register the command menu, drop what queued while down, start polling."""
        await self.app.initialize()
        commands = [BotCommand(spec.name, spec.summary) for spec in COMMANDS.values()]
        await self.app.bot.set_my_commands(commands)
        await self.app.start()
        assert self.app.updater is not None
        await self.app.updater.start_polling(
            timeout=self.poll_timeout_s,
            drop_pending_updates=True,
            allowed_updates=ALLOWED_UPDATES,
        )

    async def stop(self) -> None:
        try:
            if self.app.updater is not None and self.app.updater.running:
                await self.app.updater.stop()
            if self.app.running:
                await self.app.stop()
        finally:
            await self.app.shutdown()

    # --- the gate -------------------------------------------------------------------------

    async def _gate(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Runs before every handler; a stranger stops here, in silence."""
        if not isinstance(update, Update):
            raise ApplicationHandlerStop
        user = update.effective_user
        if self.access.role(user.id if user else None) is not None:
            return
        what = "button" if update.callback_query else "message"
        text = ""
        if update.message and update.message.text:
            text = update.message.text[:80]
        await self.store.audit(user.id if user else None, f"stranger {what}", text)
        raise ApplicationHandlerStop

    def _user(self, update: Update) -> UserContext:
        user = update.effective_user
        chat = update.effective_chat
        assert user is not None and chat is not None
        role = self.access.role(user.id)
        return UserContext(user_id=user.id, chat_id=chat.id, can_trade=role is Role.OWNER)

    # --- handlers -------------------------------------------------------------------------

    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A command line: parse, run, answer."""
        message = update.message
        if message is None or message.text is None:
            return
        user = self._user(update)
        for reply in await handle_text(self.desk, user, message.text):
            await self._show(user.chat_id, reply)

    async def _on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Plain text: point at the commands."""
        if update.message is not None:
            await self._show(self._user(update).chat_id, Reply("Commands start with /; try /help"))

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A button press: answer it at once, then act and edit the ticket in place."""
        query = update.callback_query
        if query is None:
            return
        await query.answer()
        user = self._user(update)
        for reply in await handle_button(self.desk, user, query.data or ""):
            message = query.message
            if reply.edit and message is not None:
                # The pressed message itself changes: a ticket's outcome, a refreshed view.
                await self.sender.edit(
                    message.chat.id, message.message_id, reply.html, reply.buttons
                )
                if reply.ticket and reply.order_id:
                    await self.store.link_order(reply.ticket, reply.order_id)
            else:
                await self._show(user.chat_id, reply)

    async def _show(self, chat_id: int, reply: Reply) -> None:
        if reply.photo is not None:
            sent = await self.sender.send_photo(chat_id, reply.photo, reply.html, reply.buttons)
        else:
            sent = await self.sender.send(chat_id, reply.html, reply.buttons)
        if reply.ticket and reply.buttons:
            await self.store.remember_ticket(reply.ticket, chat_id, sent.message_id)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram handler failed", exc_info=context.error)
