"""The console chat, in-process and as a user runs it through a pipe."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from bot.console import Console
from tests.support import paper_config, running_service


async def _session(tmp_path: Path, lines: list[str]) -> str:
    out = io.StringIO()
    async with running_service(paper_config(tmp_path)) as service:
        console = Console(service.desk, out=out)
        for line in lines:
            await console.handle_line(line)
        await service.settle(5)
    return out.getvalue()


async def test_buttons_are_numbered_and_a_number_presses_them(tmp_path: Path) -> None:
    text = await _session(tmp_path, ["/buy TCS 2", "1"])
    assert "[1] Confirm  [2] Cancel" in text
    assert "filled 2" in text


async def test_a_number_without_buttons_or_out_of_range_does_nothing(tmp_path: Path) -> None:
    text = await _session(tmp_path, ["1", "/buy TCS 2", "3", "2", "/orders"])
    assert "There are no buttons to press." in text
    assert "There is no button 3" in text
    assert "Cancelled. Nothing was sent." in text
    assert "No orders yet." in text


async def test_blank_lines_are_ignored(tmp_path: Path) -> None:
    assert await _session(tmp_path, ["", "   "]) == ""


def test_a_piped_demo_session_trades_and_exits_cleanly(tmp_path: Path) -> None:
    script = "/buy RELIANCE 10\n1\n/positions\n/exit RELIANCE\n1\n/positions\n/orders\n"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--workdir", str(tmp_path)],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.count("[1] Confirm  [2] Cancel") == 2
    assert "NSE:RELIANCE +10" in out
    assert "NSE:RELIANCE flat" in out
    assert out.count("🔔 Filled") == 2
    assert done.stderr == ""
    assert (tmp_path / "pocketdesk-demo.db").exists()
