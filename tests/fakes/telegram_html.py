"""Telegram's HTML rules as the fake applies them, and the Bot API's error shape."""

from __future__ import annotations

import html
import re
from typing import Any

from aiohttp import web

JSON = dict[str, Any]


class ApiError(Exception):
    """A Telegram-shaped failure, answered as ``{"ok": false, "error_code", "description"}``."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after

    def response(self) -> web.Response:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return web.json_response(body, status=self.status)


_HTML_TAGS = frozenset(
    "b strong i em u ins s strike del code pre a tg-spoiler tg-emoji span blockquote".split()
)
_TAG = re.compile(r"<(/?)([A-Za-z][\w-]*)(\s[^<>]*)?>")
_ENTITY = re.compile(r"&(?:#\d+|#x[0-9A-Fa-f]+|lt|gt|amp|quot);")


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def render_html(text: str) -> str:
    """Return the plain text Telegram would display for ``parse_mode=HTML``, or raise.

    A deliberately simple validator: Telegram's tags only, properly nested, and every ``<``
    and ``&`` must start a tag or a supported entity (``&lt; &gt; &amp; &quot;``, numeric).
    """

    def fail(reason: str, at: int) -> ApiError:
        offset = len(text[:at].encode())
        return _bad(f"can't parse entities: {reason} at byte offset {offset}")

    out: list[str] = []
    stack: list[tuple[str, int]] = []
    i = 0
    while i < len(text):
        if text[i] == "<":
            if (tag := _TAG.match(text, i)) is None:
                raise fail("Unexpected end of name token", i)
            closing, name = bool(tag.group(1)), tag.group(2).lower()
            if name not in _HTML_TAGS:
                raise fail(f'Unsupported {"end" if closing else "start"} tag "{name}"', i)
            if not closing:
                stack.append((name, i))
            elif not stack or stack.pop()[0] != name:
                raise fail(f'Unmatched end tag "{name}"', i)
            i = tag.end()
        elif text[i] == "&":
            if (entity := _ENTITY.match(text, i)) is None:
                raise fail('Unsupported HTML entity or unescaped "&"', i)
            out.append(html.unescape(entity.group(0)))
            i = entity.end()
        else:
            out.append(text[i])
            i += 1
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"', stack[-1][1])
    return "".join(out)
