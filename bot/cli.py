"""The ``pocketdesk`` command: ``demo`` (paper broker, SQLite, console) and ``run --config``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from bot import cli_secrets
from bot.app import build_service, telegram_service
from bot.console import Console, stdin_lines
from bot.telegram.logs import install_redaction
from core.config import AppConfig, demo_config, load_config
from core.domain.errors import ConfigError

log = logging.getLogger("pocketdesk")

# python-telegram-bot: durations as timedelta, without its deprecation warning.
os.environ.setdefault("PTB_TIMEDELTA", "1")

BANNER = (
    "pocketdesk — {accounts}. Type /help for commands, Ctrl-D to quit.\n"
    "Try: /buy RELIANCE 10   then 1 to confirm, /positions, /exit RELIANCE"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pocketdesk", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="paper trading in the terminal; no accounts needed")
    demo.add_argument("--workdir", type=Path, default=Path.cwd(), help="where the files go")
    run = sub.add_parser("run", help="run with a configuration file")
    run.add_argument("--config", type=Path, required=True, help="the TOML configuration")
    cli_secrets.add_parser(sub)
    return parser


def _setup_logging(level: str, logfile: Path | None) -> None:
    handlers: list[logging.Handler] = []
    if logfile is not None:
        handlers.append(logging.FileHandler(logfile, encoding="utf-8"))
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.ERROR)
        handlers.append(console)
    else:
        handlers.append(logging.StreamHandler(sys.stderr))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    # httpx logs full request URLs at INFO; some URLs carry secrets.
    logging.getLogger("httpx").setLevel(logging.WARNING)


async def serve_console(config: AppConfig, lines: AsyncIterator[str] | None = None) -> int:
    """Run the service with the console front-end until the input ends."""
    service = await build_service(config)
    console = Console(service.desk)
    try:
        await service.start(console.deliver)
        names = ", ".join(service.registry.names()) or "no accounts"
        interactive = lines is None and sys.stdin.isatty()
        if interactive:
            print(BANNER.format(accounts=f"accounts: {names}"))
        console.prompt = "> " if interactive else ""
        source = lines if lines is not None else stdin_lines(console.prompt)
        await console.run(source)
        await service.settle(timeout_s=5.0)
    finally:
        await service.stop()
    return 0


async def serve_telegram(config: AppConfig) -> int:
    """Run the service with the Telegram front-end until SIGINT or SIGTERM."""
    stop = _stop_on_signals()
    async with telegram_service(config) as (service, _front):
        log.info("pocketdesk is up: accounts %s", ", ".join(service.registry.names()))
        await stop.wait()
    return 0


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if sys.platform != "win32":  # the event loop there has no signal handlers
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    return stop


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            workdir: Path = args.workdir
            workdir.mkdir(parents=True, exist_ok=True)
            config = demo_config(workdir)
            _setup_logging("INFO", workdir / "pocketdesk-demo.log")
        elif args.command == "secrets":
            config = load_config(args.config)
            return asyncio.run(cli_secrets.run(args, config))
        else:
            config = load_config(args.config)
            if config.telegram is not None:
                install_redaction(config.telegram.token.get_secret_value())
            _setup_logging(config.logging.level, None)
    except ConfigError as exc:
        print(f"pocketdesk: configuration error: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        try:
            if config.telegram is not None:
                return asyncio.run(serve_telegram(config))
            return asyncio.run(serve_console(config))
        except ConfigError as exc:
            print(f"pocketdesk: configuration error: {exc}", file=sys.stderr)
            return 2
    return 130


if __name__ == "__main__":
    raise SystemExit(main())
