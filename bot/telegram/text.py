"""Telegram's message-size rule: text over 4,096 characters is split at line ends."""

from __future__ import annotations

MAX_TEXT = 4096


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split at line boundaries into pieces of at most ``limit`` characters.

    A single line longer than the limit is cut at its last space before the limit (or hard,
    when it has none), never inside an HTML entity.
    """
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            cut = _cut_point(line, limit)
            pieces.extend(p for p in (current, line[:cut]) if p)
            current, line = "", line[cut:].lstrip(" ")
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current or not pieces:
        pieces.append(current)
    return pieces


def _cut_point(line: str, limit: int) -> int:
    cut = line.rfind(" ", 0, limit)
    if cut <= 0:
        cut = limit
    amp = line.rfind("&", 0, cut)
    if amp != -1 and ";" not in line[amp:cut]:
        cut = amp or limit  # do not split "&amp;" and friends
    return cut
