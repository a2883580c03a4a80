"""``pocketdesk secrets``: keep broker secrets sealed in the database, not in the file.

    pocketdesk secrets set ACCOUNT KEY --config FILE     reads the value without echoing it
    pocketdesk secrets list --config FILE                names and dates, never values
    pocketdesk secrets delete ACCOUNT KEY --config FILE

The value is read from the terminal with echo off, or from standard input when it is piped
(``pass show kite | pocketdesk secrets set kite api_secret --config ...``). It never appears on
the command line, where other users of the machine could see it in the process list.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import TextIO

from core.access.secret_box import SecretBox
from core.access.secret_store import SecretStore
from core.config import AppConfig
from core.config.accounts import ACCOUNT_OWN_KEYS
from core.domain.clock import SystemClock
from core.domain.errors import ConfigError
from core.storage import Database


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    secrets = sub.add_parser("secrets", help="store broker secrets sealed in the database")
    actions = secrets.add_subparsers(dest="action", required=True)
    for name, text in (
        ("set", "store a secret (asks for the value)"),
        ("delete", "remove a stored secret"),
        ("list", "show which secrets are stored"),
    ):
        action = actions.add_parser(name, help=text)
        if name != "list":
            action.add_argument("account", help="the account's name in the configuration")
            action.add_argument("key", help="the setting, e.g. api_secret")
        action.add_argument("--config", type=Path, required=True, help="the TOML configuration")


def _read_value(prompt: str, stdin: TextIO) -> str:
    if stdin.isatty():
        return getpass.getpass(prompt)
    return stdin.readline().rstrip("\r\n")


def _check_target(config: AppConfig, account: str, key: str) -> None:
    names = [a.name for a in config.accounts]
    if account not in names:
        known = ", ".join(names) or "none"
        raise ConfigError(f"no account {account!r} in the configuration (accounts: {known})")
    if key in ACCOUNT_OWN_KEYS or not key.replace("_", "").isalnum():
        raise ConfigError(f"{key!r} is not a broker setting that can hold a secret")


async def run(args: argparse.Namespace, config: AppConfig) -> int:
    stdin, out = sys.stdin, sys.stdout
    db = await Database.open(config.storage.path, synchronous=config.storage.synchronous)
    try:
        store = SecretStore(db, SecretBox.load(Path(f"{config.storage.path}.key")), SystemClock())
        if args.action == "list":
            stored = await store.list()
            for item in stored:
                print(
                    f"{item.account}.{item.name}  set {item.updated_at:%Y-%m-%d %H:%M} UTC",
                    file=out,
                )
            if not stored:
                print("no secrets are stored", file=out)
            return 0
        _check_target(config, args.account, args.key)
        where = f"{args.account}.{args.key}"
        if args.action == "delete":
            found = await store.delete(args.account, args.key)
            print(f"deleted {where}" if found else f"{where} was not stored", file=out)
            return 0
        await store.put(args.account, args.key, _read_value(f"{where}: ", stdin))
        print(f"stored {where}, sealed; restart pocketdesk to use it", file=out)
        return 0
    finally:
        await db.close()
