"""The console chat: the same commands and tickets as Telegram, in a terminal.

Buttons print as ``[1] Confirm  [2] Cancel``; a line holding just a number presses that button of
the latest message that had buttons. A picture (the /pnl chart) is written to a PNG file in the
working directory, and its path is printed after the caption. Alerts print as they happen.
Input may come from a pipe: the lines run in order, one after another.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import TextIO

from bot.handlers import UserContext, handle_button, handle_text
from bot.render import render_alert
from bot.replies import Button, Reply, to_plain
from core.desk import Desk
from core.domain.alerts import Event

CONSOLE_USER = UserContext(user_id=0, chat_id=0, can_trade=True)


class Console:
    def __init__(
        self,
        desk: Desk,
        out: TextIO | None = None,
        user: UserContext = CONSOLE_USER,
        picture_dir: Path | None = None,
    ) -> None:
        self.desk = desk
        self.out = out or sys.stdout
        self.user = user
        self.picture_dir = picture_dir  # None: the working directory at the time
        self._buttons: list[Button] = []
        self.prompt = ""  # set for a terminal: alerts then re-print it after themselves

    def show(self, reply: Reply) -> None:
        """Print one reply, numbering its buttons; save its picture, if any, to a file."""
        self._print(to_plain(reply.html))
        if reply.photo is not None:
            self._print(f"Chart: {self._save_picture(reply.photo)}")
        if reply.buttons:
            self._buttons = [button for row in reply.buttons for button in row]
            labels = "  ".join(
                f"[{i}] {b.label}" + (f": {b.url}" if b.url else "")
                for i, b in enumerate(self._buttons, 1)
            )
            self._print(labels)

    def _save_picture(self, png: bytes) -> Path:
        """Write a PNG under a fresh time-stamped name; return its path."""
        folder = (self.picture_dir or Path.cwd()).resolve()
        stem = f"pocketdesk-{datetime.now():%Y%m%d-%H%M%S}"
        path, n = folder / f"{stem}.png", 1
        while path.exists():
            n += 1
            path = folder / f"{stem}-{n}.png"
        path.write_bytes(png)
        return path

    async def handle_line(self, line: str) -> None:
        text = line.strip()
        if not text:
            return
        if text.isdigit():
            replies = await self._press(int(text))
        else:
            replies = await handle_text(self.desk, self.user, text)
        for reply in replies:
            self.show(reply)

    async def _press(self, number: int) -> list[Reply]:
        if not self._buttons:
            return [Reply("There are no buttons to press.")]
        if not 1 <= number <= len(self._buttons):
            return [Reply(f"There is no button {number}; choose 1 to {len(self._buttons)}.")]
        button = self._buttons[number - 1]
        if button.url:
            return [Reply(f"Open {button.url} in a browser.")]
        return await handle_button(self.desk, self.user, button.data)

    async def deliver(self, events: list[Event]) -> None:
        """The alert sink: print each alert."""
        if self.prompt:
            self.out.write("\r")
        for event in events:
            self._print("🔔 " + to_plain(render_alert(event)))
        if self.prompt:
            self.out.write(self.prompt)
            self.out.flush()

    async def run(self, lines: AsyncIterator[str]) -> None:
        async for line in lines:
            await self.handle_line(line)

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


async def stdin_lines(prompt: str = "") -> AsyncIterator[str]:
    """Lines from standard input without blocking the event loop; ends at end of input.

    A daemon thread does the blocking reads, so an interrupted session never hangs on exit.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def reader() -> None:
        try:
            for line in sys.stdin:
                loop.call_soon_threadsafe(queue.put_nowait, line)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=reader, name="console-stdin", daemon=True).start()
    while True:
        if prompt:
            sys.stdout.write(prompt)
            sys.stdout.flush()
        line = await queue.get()
        if line is None:
            return
        yield line
