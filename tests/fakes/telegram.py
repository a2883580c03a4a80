"""An in-process fake of the Telegram Bot API, served by aiohttp on loopback.

Point python-telegram-bot at it with ``.base_url(fake.api_url).base_file_url(fake.file_url)``.
It records every call, answers like Telegram (including Telegram's common 400s), lets tests
inject failures and outages, and feeds updates built by the test to ``getUpdates`` long polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.telegram_html import ApiError, _bad, _utf16_len, render_html

JSON = dict[str, Any]
Files = dict[str, bytes]
BOT_USERNAME = "pocketdesk_test_bot"
# Parameters PTB json-dumps before form-encoding them (string parameters such as text go raw).
_JSON_PARAMS = frozenset(
    "reply_markup allowed_updates entities caption_entities chat_id message_id offset timeout"
    " limit commands drop_pending_updates show_alert disable_notification protect_content"
    " link_preview_options reply_parameters scope cache_time message_thread_id user_id"
    " from_chat_id message_ids disable_web_page_preview has_spoiler max_connections".split()
)
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly"
    " the same as a current content and reply markup of the message"
)


@dataclass(frozen=True)
class Call:
    """One API request: decoded ``params``, uploaded ``files``, ``time.monotonic()`` ``at``.

    ``status``/``result`` are what the fake answered. ``getUpdates`` is recorded on arrival,
    before its long poll, so its ``result`` is always ``None``.
    """

    method: str
    params: dict[str, Any]
    files: Files
    at: float
    status: int = 200
    result: Any = None


class FakeTelegram:
    """The fake Bot API server: ``async with FakeTelegram(token=...) as fake:``.

    Outages: after :meth:`go_down` every method answers 502 "Bad Gateway" (PTB raises
    ``NetworkError``) except ``getUpdates``, which keeps delivering updates unless
    ``go_down(polling=True)``. :meth:`fail_next` errors take precedence over an outage.
    """

    def __init__(self, token: str = "123456:TEST-token") -> None:
        self.token = token
        bot_id = int(token.split(":")[0]) if token.split(":")[0].isdigit() else 123456
        self.bot_user: JSON = {"id": bot_id, "is_bot": True, "first_name": "PocketDesk Test"}
        self.bot_user |= {"username": BOT_USERNAME, "can_join_groups": False}
        self.port = 0
        self.calls: list[Call] = []
        self.updates: deque[JSON] = deque()  # kept until a getUpdates offset confirms them
        self.commands: list[JSON] = []  # from the last setMyCommands
        self.photos: dict[str, bytes] = {}  # file_id -> bytes, from sendPhoto
        self._messages: dict[Any, dict[int, JSON]] = defaultdict(dict)  # chat -> id -> message
        self._sources: dict[tuple[Any, int], tuple[str, Any]] = {}  # raw text and markup
        self._message_ids: dict[Any, itertools.count[int]] = {}
        self._update_ids, self._ids = itertools.count(1), itertools.count(1)
        self._callback_ids: set[str] = set()
        self._failures: dict[str, deque[ApiError]] = defaultdict(deque)
        self._down = self._down_polling = self._closing = False
        self._changed = asyncio.Event()  # set and replaced on every change (see _bump)
        self._runner: web.AppRunner | None = None
        self._methods: dict[str, Callable[[JSON, Files], Any]] = {
            "getme": lambda p, f: self.bot_user,
            "deletewebhook": self._delete_webhook,
            "sendmessage": lambda p, f: self._new_message(p, text=self._text(p, "text", 4096)),
            "editmessagetext": self._edit,
            "editmessagereplymarkup": self._edit,
            "answercallbackquery": self._answer_callback,
            "sendphoto": self._send_photo,
            "setmycommands": self._set_commands,
            "getmycommands": lambda p, f: self.commands,
            "deletemessage": self._delete_message,
            "sendchataction": lambda p, f: True,
        }

    @property
    def api_url(self) -> str:
        """For ``base_url``: PTB appends ``token + "/" + method``."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def file_url(self) -> str:
        """For ``base_file_url`` (nothing is served there; downloads get 404)."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._closing = False
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, handler_cancellation=True)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Release pending long polls at once (they answer ``[]``), then close the server."""
        self._closing = True
        self._bump()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- inspection and waiting --------------------------------------------------------------

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def mark(self) -> int:
        """The current call count, to pass as ``start=`` to :meth:`wait_for`."""
        return len(self.calls)

    def message(self, chat_id: Any, message_id: int) -> JSON | None:
        """The current (possibly edited) state of a message in the fake's store."""
        return self._messages[chat_id].get(message_id)

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - a plain deadline reads best in tests
        start: int = 0,
    ) -> list[Call]:
        """Return the first ``count`` calls of ``method`` at index >= ``start`` that match.

        Wakes on every recorded call, never polls; raises ``AssertionError`` on timeout.
        Failed calls (injected errors, 400s) are recorded and matched too: check ``status``.
        """
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            changed = self._changed
            found = [c for c in self.calls[start:] if c.method == method]
            found = [c for c in found if predicate is None or predicate(c)]
            if len(found) >= count:
                return found[:count]
            try:
                remaining = deadline - asyncio.get_running_loop().time()
                await asyncio.wait_for(changed.wait(), max(remaining, 0))
            except TimeoutError:
                seen = [c.method for c in self.calls[start:]]
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {count} {method} call(s);"
                    f" {len(found)} matched; calls since #{start}: {seen}"
                ) from None

    def _bump(self) -> None:
        """Wake every waiter; waiters grab the current event before they check state."""
        self._changed.set()
        self._changed = asyncio.Event()

    # -- failure injection -------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with this error (queued in order)."""
        error = ApiError(status, description, retry_after)
        self._failures[method.lower()].extend([error] * times)

    def go_down(self, polling: bool = False) -> None:
        """Answer 502 to every method; to ``getUpdates`` as well only if ``polling``."""
        self._down, self._down_polling = True, polling

    def come_back(self) -> None:
        self._down = self._down_polling = False

    # -- update builders (synchronous; they wake pending long polls) -------------------------

    def push_update(self, update: JSON) -> JSON:
        """Queue a raw update for ``getUpdates``, assigning the next ``update_id``."""
        update["update_id"] = next(self._update_ids)
        self.updates.append(update)
        self._bump()
        return update

    @staticmethod
    def user(user_id: int, first_name: str = "Tester") -> JSON:
        return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "en"}

    def send_text(
        self, user_id: int, text: str, chat_id: int | None = None, first_name: str = "Tester"
    ) -> JSON:
        """Queue a user's text message; text starting with "/" gets a ``bot_command`` entity.

        The chat is private when ``chat_id`` is omitted or equals ``user_id``, else a group.
        """
        chat_id = user_id if chat_id is None else chat_id
        chat: JSON = {"id": chat_id, "type": "private", "first_name": first_name}
        if chat_id != user_id:
            chat = {"id": chat_id, "type": "supergroup", "title": "Test group"}
        msg: JSON = {"message_id": self._next_message_id(chat_id), "date": int(time.time())}
        msg |= {"chat": chat, "from": self.user(user_id, first_name), "text": text}
        msg |= self._command_entities(text)
        self._messages[chat_id][msg["message_id"]] = msg
        return self.push_update({"message": msg})

    def edit_text(self, original: JSON, text: str) -> JSON:
        """Queue an ``edited_message`` for a :meth:`send_text` update (or its message)."""
        msg = {k: v for k, v in original.get("message", original).items() if k != "entities"}
        msg |= {"text": text, "edit_date": int(time.time())} | self._command_entities(text)
        self._messages[msg["chat"]["id"]][msg["message_id"]] = msg
        return self.push_update({"edited_message": msg})

    def press(
        self, user_id: int, message: JSON | Call | Any, button: str, first_name: str = "Tester"
    ) -> JSON:
        """Queue a ``callback_query`` pressing an inline button of a message the bot sent.

        ``message``: a sendMessage/edit ``Call``, its ``result`` dict, or a PTB ``Message``.
        The message's *current* markup in the store is used; ``button`` matches a button's
        text first, then its callback_data.
        """
        message = message.result if isinstance(message, Call) else message
        message = message.to_dict() if hasattr(message, "to_dict") else message
        if not isinstance(message, dict):
            raise TypeError(f"press() needs a message dict, got {message!r}")
        message = self.message(message["chat"]["id"], message["message_id"]) or message
        rows = message.get("reply_markup", {}).get("inline_keyboard", [])
        buttons = [b for row in rows for b in row if "callback_data" in b]
        match = [b for b in buttons if b["text"] == button] or [
            b for b in buttons if b["callback_data"] == button
        ]
        if not match:
            labels = [(b["text"], b["callback_data"]) for b in buttons]
            raise LookupError(f"no callback button {button!r}; the message has {labels}")
        query_id = str(next(self._ids))
        self._callback_ids.add(query_id)
        query = {"id": query_id, "from": self.user(user_id, first_name), "message": message}
        query |= {"chat_instance": f"ci{message['chat']['id']}", "data": match[0]["callback_data"]}
        return self.push_update({"callback_query": query})

    @staticmethod
    def _command_entities(text: str) -> JSON:
        if not text.startswith("/"):
            return {}
        length = _utf16_len(text.split(maxsplit=1)[0])
        return {"entities": [{"type": "bot_command", "offset": 0, "length": length}]}

    def _next_message_id(self, chat_id: Any) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    # -- HTTP --------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return ApiError(401, "Unauthorized").response()
        method = request.match_info["method"]
        params, files = await self._read_params(request)
        failing = self._failures.get("getupdates") or (self._down and self._down_polling)
        if method.lower() == "getupdates" and not failing:
            self.calls.append(Call(method, params, files, time.monotonic()))
            self._bump()
            return web.json_response({"ok": True, "result": await self._get_updates(params)})
        try:
            result = self._dispatch(method, params, files)
        except ApiError as exc:
            self.calls.append(Call(method, params, files, time.monotonic(), exc.status))
            self._bump()
            return exc.response()
        self.calls.append(Call(method, params, files, time.monotonic(), 200, result))
        self._bump()
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    async def _read_params(request: web.Request) -> tuple[JSON, Files]:
        """Form fields (urlencoded or multipart), a JSON body, or the query string."""
        params: JSON = dict(request.query)
        files: Files = {}
        if request.content_type == "application/json" and request.can_read_body:
            params |= await request.json()
        elif request.can_read_body:
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    files[key] = value.file.read()
                else:
                    params[key] = value
        for key, value in params.items():
            if key in _JSON_PARAMS and isinstance(value, str):
                with contextlib.suppress(ValueError):  # e.g. chat_id="@channel" stays a str
                    params[key] = json.loads(value)
        return params, files

    def _dispatch(self, method: str, params: JSON, files: Files) -> Any:
        if failures := self._failures.get(method.lower()):
            raise failures.popleft()
        if self._down:
            raise ApiError(502, "Bad Gateway")
        if (handler := self._methods.get(method.lower())) is None:
            raise _bad(f"fake: {method} not implemented")
        return handler(params, files)

    async def _get_updates(self, params: JSON) -> list[JSON]:
        """Confirm updates below ``offset``, then wait up to ``timeout`` s for any."""
        offset, limit = int(params.get("offset") or 0), int(params.get("limit") or 100)
        deadline = asyncio.get_running_loop().time() + float(params.get("timeout") or 0)
        while True:
            changed = self._changed
            while offset > 0 and self.updates and self.updates[0]["update_id"] < offset:
                self.updates.popleft()
            remaining = deadline - asyncio.get_running_loop().time()
            if self.updates or self._closing or remaining <= 0:
                return list(itertools.islice(self.updates, limit))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    # -- Bot API methods ---------------------------------------------------------------------

    def _delete_webhook(self, params: JSON, files: Files) -> bool:
        if params.get("drop_pending_updates"):
            self.updates.clear()
        return True

    def _text(self, params: JSON, key: str, limit: int) -> str | None:
        """The displayed text (HTML rendered), checked for emptiness and length."""
        if not (raw := params.get(key)):
            if key == "caption":
                return None
            raise _bad("message text is empty")
        text = render_html(raw) if str(params.get("parse_mode")).upper() == "HTML" else raw
        if _utf16_len(text) > limit:
            raise _bad("message caption is too long" if key == "caption" else "message is too long")
        return text

    @staticmethod
    def _markup(params: JSON) -> JSON | None:
        """The inline keyboard to echo on the Message (other keyboards are not echoed)."""
        markup = params.get("reply_markup")
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            return None
        for button in (b for row in markup["inline_keyboard"] for b in row):
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise _bad("BUTTON_DATA_INVALID")
        return markup

    def _new_message(self, params: JSON, **content: Any) -> JSON:
        if (chat_id := params.get("chat_id")) is None:
            raise _bad("chat_id is empty")
        markup = self._markup(params)
        chats = [m["chat"] for m in self._messages[chat_id].values()]
        chat = chats[0] if chats else {"id": chat_id, "type": "private", "first_name": "Tester"}
        if not chats and not (isinstance(chat_id, int) and chat_id > 0):
            chat = {"id": chat_id, "type": "supergroup", "title": "Test group"}
        msg: JSON = {"message_id": self._next_message_id(chat_id), "date": int(time.time())}
        msg |= {"chat": chat, "from": self.bot_user}
        msg |= {k: v for k, v in content.items() if v is not None}
        if markup is not None:
            msg["reply_markup"] = markup
        self._messages[chat_id][msg["message_id"]] = msg
        self._sources[(chat_id, msg["message_id"])] = (params.get("text", ""), markup)
        return msg

    def _send_photo(self, params: JSON, files: Files) -> JSON:
        caption = self._text(params, "caption", 1024)
        data = files.get("photo", self.photos.get(str(params.get("photo")), b""))
        base, sizes = f"photo{next(self._ids)}", []
        for width in (90, 320, 800):
            file_id = f"{base}-{width}"
            self.photos[file_id] = data
            sizes.append({"file_id": file_id, "file_unique_id": f"u{file_id}", "width": width})
            sizes[-1] |= {"height": width * 3 // 4, "file_size": len(data)}
        return self._new_message(params, photo=sizes, caption=caption)

    def _stored(self, params: JSON, verb: str) -> tuple[Any, int, JSON]:
        chat_id, message_id = params.get("chat_id"), int(params.get("message_id") or 0)
        if (msg := self._messages[chat_id].get(message_id)) is None:
            raise _bad(f"message to {verb} not found")
        if verb == "edit" and msg["from"]["id"] != self.bot_user["id"]:
            raise _bad("message can't be edited")
        return chat_id, message_id, msg

    def _edit(self, params: JSON, files: Files) -> JSON | bool:
        """editMessageText / editMessageReplyMarkup; omitting reply_markup removes it."""
        if params.get("inline_message_id"):
            return True
        chat_id, message_id, msg = self._stored(params, "edit")
        old_source, old_markup = self._sources.get((chat_id, message_id), ("", None))
        markup, changes = self._markup(params), {"edit_date": int(time.time())}
        source = old_source
        if "text" in params:
            if "text" not in msg:
                raise _bad("there is no text in the message to edit")
            source, changes["text"] = params["text"], self._text(params, "text", 4096)
        if (source, markup) == (old_source, old_markup):
            raise _bad(NOT_MODIFIED)
        new = {k: v for k, v in msg.items() if k != "reply_markup"} | changes
        if markup is not None:
            new["reply_markup"] = markup
        self._messages[chat_id][message_id] = new
        self._sources[(chat_id, message_id)] = (source, markup)
        return new

    def _answer_callback(self, params: JSON, files: Files) -> bool:
        if str(params.get("callback_query_id")) not in self._callback_ids:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        return True

    def _set_commands(self, params: JSON, files: Files) -> bool:
        self.commands = list(params.get("commands") or [])
        return True

    def _delete_message(self, params: JSON, files: Files) -> bool:
        chat_id, message_id, _ = self._stored(params, "delete")
        del self._messages[chat_id][message_id]
        self._sources.pop((chat_id, message_id), None)
        return True
