"""What a front-end shows: text in Telegram's HTML subset, with optional buttons."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    data: str = ""  # opaque to the user; at most 64 bytes (Telegram's callback_data limit)
    url: str | None = None  # a link button instead (a broker's login page)


@dataclass(frozen=True, slots=True)
class Reply:
    """One message. ``html`` uses only <b>, <i>, <code> and <pre>, with everything else escaped.

    ``ticket`` names the confirmation a ticket message belongs to, so a front-end that can edit
    messages (Telegram) updates that message through the ticket's life instead of adding new ones.
    """

    html: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    ticket: str | None = None
    edit: bool = False  # replaces the ticket's earlier message where the front-end can
    error: bool = False
    order_id: str | None = None  # the client order id a confirmed ticket became
    photo: bytes | None = None  # a PNG image; ``html`` is then its caption


@dataclass(slots=True)
class Replies:
    items: list[Reply] = field(default_factory=list)


def esc(value: object) -> str:
    """Escape any value for Telegram HTML."""
    return html.escape(str(value), quote=False)


_TAG = re.compile(r"</?(?:b|i|code|pre)>")


def to_plain(text: str) -> str:
    """Telegram HTML -> plain text for the console."""
    return html.unescape(_TAG.sub("", text))
