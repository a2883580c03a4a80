"""Everything the bot says goes through here: HTML with a plain-text fallback, messages split
under Telegram's size limit, per-chat pacing for alerts, and ``RetryAfter`` honoured."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, RetryAfter

from bot.replies import Button, to_plain
from bot.telegram.text import split_text

log = logging.getLogger(__name__)

T = TypeVar("T")
Keyboard = tuple[tuple[Button, ...], ...]
MAX_CAPTION = 1024  # characters (UTF-16 code units) after Telegram has parsed the HTML


def keyboard(buttons: Keyboard) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(b.label, url=b.url)
                if b.url
                else InlineKeyboardButton(b.label, callback_data=b.data)
                for b in row
            ]
            for row in buttons
        ]
    )


def _utf16_len(text: str) -> int:
    """Length as Telegram counts it: in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Sender:
    """Sends, edits, paces and retries. ``min_interval_s`` spaces paced sends per chat."""

    def __init__(self, bot: Bot, min_interval_s: float = 1.0, max_retries: int = 3) -> None:
        self.bot = bot
        self.min_interval_s = min_interval_s
        self.max_retries = max_retries
        self._last_sent: dict[int, float] = {}
        self._chat_locks: dict[int, asyncio.Lock] = {}

    async def send(
        self,
        chat_id: int,
        html: str,
        buttons: Keyboard = (),
        *,
        paced: bool = False,
        reply_to: int | None = None,
    ) -> Message:
        """Send ``html`` (split if long; buttons go on the last piece); return the last message."""
        pieces = split_text(html)
        lock = self._chat_locks.setdefault(chat_id, asyncio.Lock())
        async with lock:
            message: Message | None = None
            for n, piece in enumerate(pieces):
                if paced:
                    await self._pace(chat_id)
                markup = keyboard(buttons) if n == len(pieces) - 1 else None
                message = await self._send_one(chat_id, piece, markup, reply_to)
                self._last_sent[chat_id] = time.monotonic()
            assert message is not None
            return message

    async def send_photo(
        self,
        chat_id: int,
        photo: bytes,
        caption: str = "",
        buttons: Keyboard = (),
        *,
        reply_to: int | None = None,
        filename: str = "chart.png",
    ) -> Message:
        """Send a picture with an HTML caption; return the last message sent.

        A caption too long for Telegram (1,024 characters) follows the picture as a message of
        its own, buttons and all, rather than being cut.
        """
        fits = _utf16_len(to_plain(caption)) <= MAX_CAPTION
        lock = self._chat_locks.setdefault(chat_id, asyncio.Lock())
        async with lock:
            message = await self._photo_one(
                chat_id,
                InputFile(photo, filename=filename),
                caption if fits else "",
                keyboard(buttons) if fits else None,
                reply_to,
            )
            self._last_sent[chat_id] = time.monotonic()
        if not fits:
            return await self.send(chat_id, caption, buttons, reply_to=reply_to)
        return message

    async def _photo_one(
        self,
        chat_id: int,
        photo: InputFile,
        caption: str,
        markup: InlineKeyboardMarkup | None,
        reply_to: int | None,
    ) -> Message:
        try:
            return await self._retrying(
                lambda: self.bot.send_photo(
                    chat_id,
                    photo,
                    caption=caption or None,
                    parse_mode=ParseMode.HTML if caption else None,
                    reply_markup=markup,
                    reply_to_message_id=reply_to,
                )
            )
        except BadRequest as exc:
            if not caption or "parse entities" not in str(exc).lower():
                raise
            log.warning("HTML caption refused by Telegram (%s); sending it as plain text", exc)
            return await self._retrying(
                lambda: self.bot.send_photo(
                    chat_id,
                    photo,
                    caption=to_plain(caption),
                    reply_markup=markup,
                    reply_to_message_id=reply_to,
                )
            )

    async def edit(self, chat_id: int, message_id: int, html: str, buttons: Keyboard = ()) -> None:
        """Replace a message's text and buttons; an edit that changes nothing is fine."""
        markup = keyboard(buttons)
        try:
            await self._retrying(
                lambda: self.bot.edit_message_text(
                    html[:4096],
                    chat_id=chat_id,
                    message_id=message_id,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                )
            )
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return
            if "parse entities" in str(exc).lower():
                await self._retrying(
                    lambda: self.bot.edit_message_text(
                        to_plain(html)[:4096],
                        chat_id=chat_id,
                        message_id=message_id,
                        reply_markup=markup,
                    )
                )
                return
            raise

    async def _send_one(
        self, chat_id: int, html: str, markup: InlineKeyboardMarkup | None, reply_to: int | None
    ) -> Message:
        try:
            return await self._retrying(
                lambda: self.bot.send_message(
                    chat_id,
                    html,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                    reply_to_message_id=reply_to,
                )
            )
        except BadRequest as exc:
            if "parse entities" not in str(exc).lower():
                raise
            # Never drop a message over formatting: send it as plain text instead.
            log.warning("HTML refused by Telegram (%s); sending plain text", exc)
            return await self._retrying(
                lambda: self.bot.send_message(
                    chat_id, to_plain(html), reply_markup=markup, reply_to_message_id=reply_to
                )
            )

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run a Bot API call, waiting out ``RetryAfter`` (flood control) a few times."""
        attempt = 0
        while True:
            try:
                return await call()
            except RetryAfter as exc:
                attempt += 1
                if attempt > self.max_retries:
                    raise
                wait = _seconds(exc.retry_after)
                log.warning("Telegram asks to wait %.1f s (flood control)", wait)
                await asyncio.sleep(wait)

    async def _pace(self, chat_id: int) -> None:
        last = self._last_sent.get(chat_id)
        if last is not None:
            delay = last + self.min_interval_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
