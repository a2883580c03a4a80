"""A stop-loss set from the console fires when the market crosses it, as a user sees it."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, prices: Path) -> Path:
    account = {
        "name": "paper",
        "broker": "paper",
        "default_exchange": "NSE",
        "feed": f"file:{prices}",
    }
    config = tmp_path / "desk.toml"
    config.write_text(
        f'[storage]\npath = "{tmp_path / "desk.db"}"\n'
        "[exits]\ndwell_s = 0.2\n"
        "[monitor]\nstale_after_s = 3.0\n"
        "[risk]\nmarket_hours = false\n"
        "[[accounts]]\n"
        + "".join(f"{key} = {json.dumps(value)}\n" for key, value in account.items()),
        encoding="utf-8",
    )
    return config


def _reader(stream: object, lines: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.put(line)


def _wait_for(lines: queue.Queue[str], seen: list[str], text: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not any(text in line for line in seen):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{text!r} never appeared in:\n{''.join(seen)}"
        try:
            seen.append(lines.get(timeout=remaining))
        except queue.Empty:
            continue


def test_a_console_stop_loss_fires_on_the_simulated_price(tmp_path: Path) -> None:
    prices = tmp_path / "prices.csv"
    prices.write_text("NSE:INFY,1500\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--config", str(_config(tmp_path, prices))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdin is not None and process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_reader, args=(process.stdout, lines), daemon=True).start()
    seen: list[str] = []
    try:
        process.stdin.write("/buy INFY 10 sl=1450\n1\n")
        process.stdin.flush()
        _wait_for(lines, seen, "Exits armed")
        with prices.open("a", encoding="utf-8") as out:
            out.write("NSE:INFY,1449\n")
        time.sleep(0.5)
        with prices.open("a", encoding="utf-8") as out:
            out.write("NSE:INFY,1448.5\n")  # the crossing holds past the dwell
        _wait_for(lines, seen, "stop-loss hit")
        _wait_for(lines, seen, "SELL 10 NSE:INFY — 10 at")
        process.stdin.write("/positions\n")
        process.stdin.close()
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    while not lines.empty():
        seen.append(lines.get_nowait())
    output = "".join(seen)
    assert "NSE:INFY flat" in output
