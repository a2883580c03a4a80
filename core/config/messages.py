"""The wording of configuration errors: TOML and pydantic failures turned into one-line messages.

``core.config.loader`` validates; this module only says what went wrong. Each message names the key
path (``telegram.owners``, ``accounts[1].broker``), what is wrong and the fix, and, when the bad
value came from the environment, the variable that set it. Messages are built from error locations
and pydantic's own text only, never from an input value, so no secret can leak into one.

It imports no configuration model: whatever it needs to know about the configuration's shape
(the top-level keys, the model of each section) is passed in.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import SettingsError

from core.config.env import ENV_NESTED_DELIMITER, ENV_PREFIX
from core.domain.errors import ConfigError

Loc = tuple[int | str, ...]

_MISSING_HINTS = {
    "telegram.token": 'add token = "..." under [telegram] (the token from @BotFather), '
    f"or set {ENV_PREFIX}TELEGRAM__TOKEN",
    "telegram.owners": "add owners = [<your Telegram user id>] under [telegram]",
    "accounts.name": 'give the account a name, e.g. name = "main"',
    "accounts.broker": 'say which broker the account is at, e.g. broker = "paper"',
}

_PATH_HINTS = {
    "accounts": "write one [[accounts]] table (double brackets) per account",
}

_TYPE_HINTS = {
    "int": "write a whole number without quotes",
    "float": "write a number without quotes, e.g. 2.5",
    "string": 'write text in quotes, e.g. "value"',
    "list": "write a list, e.g. [1, 2]",
    "dict": "write a table, e.g. [section] or { key = value }",
    "model": "write a table, e.g. [section] or { key = value }",
    "bool": "write true or false",
}


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed TOML file at ``path``; any failure raises ``ConfigError`` saying how to fix it."""
    problem: str
    try:
        raw = path.read_bytes()
        return tomllib.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        problem = (
            f"config file {path} not found; create it (see examples/pocketdesk.example.toml) "
            "or pass the path of an existing file with --config"
        )
    except IsADirectoryError:
        problem = f"config file {path} is a directory; pass the path of the TOML file itself"
    except OSError as err:
        problem = f"cannot read config file {path}: {err.strerror}; check its permissions"
    except UnicodeDecodeError as err:
        problem = f"config file {path} is not UTF-8 text (byte {err.start}); save it as UTF-8"
    except tomllib.TOMLDecodeError as err:
        # The message names line and column; the line itself is not quoted (it may be a secret).
        problem = f"config file {path} is not valid TOML: {err}; fix the syntax there"
    raise ConfigError(problem)


def validation_problem(
    origin: str,
    err: ValidationError,
    from_env: Mapping[str, Any],
    *,
    top_level: Iterable[str],
    sections: Mapping[str, type[BaseModel]],
) -> str:
    """The whole message for a failed validation of the configuration read from ``origin``."""
    lines = [
        describe_error(e, "", from_env, top_level=top_level, sections=sections)
        for e in err.errors()
    ]
    if len(lines) == 1:
        return f"{origin}: {lines[0]}"
    return f"{origin} has {len(lines)} problems:\n" + "\n".join(f"- {x}" for x in lines)


def settings_problem(origin: str, err: SettingsError) -> str:
    """The message for an environment variable pydantic-settings could not decode as JSON."""
    field = re.search(r'field "(\w+)"', str(err))
    name = field.group(1) if field else "?"
    return (
        f"{origin}: environment variable {ENV_PREFIX}{name.upper()} is not valid JSON; "
        f"fix it, or set one key per variable, e.g. {ENV_PREFIX}{name.upper()}__KEY=value"
    )


def key_path(loc: Iterable[int | str]) -> str:
    """``("accounts", 1, "broker")`` as ``accounts[1].broker``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe_error(
    error: ErrorDetails,
    base: str,
    from_env: Mapping[str, Any],
    *,
    top_level: Iterable[str],
    sections: Mapping[str, type[BaseModel]],
) -> str:
    """One line for one pydantic error: the key path, what is wrong, and the fix.

    ``base`` prefixes the path (e.g. ``accounts[0] (main)``); ``from_env`` is what the environment
    supplied; ``top_level`` and ``sections`` name the keys an unknown key is matched against.
    Built from the location and pydantic's message only, never from the input value.
    """
    loc: Loc = tuple(error["loc"])
    path = key_path(loc)
    if base:
        path = f"{base}.{path}" if path else base
    kind: str = error["type"]
    generic = key_path(p for p in loc if isinstance(p, str))
    if kind == "missing":
        key = str(loc[-1])
        hint = _MISSING_HINTS.get(generic, f"add {key} = ... to the configuration")
        return f"{path} is required; {hint}"
    if kind == "extra_forbidden":
        text = f"unknown key {path}; remove it or fix its spelling"
        known = known_keys(loc[:-1], top_level=top_level, sections=sections)
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        if close:
            text += f" (did you mean {close[0]}?)"
        elif known:
            text += f" (known keys here: {', '.join(known)})"
        return text + env_note(loc, from_env)
    if kind == "value_error":
        message = str(error.get("ctx", {}).get("error", error["msg"]))
    else:
        message = str(error["msg"]).rstrip(".")
        hint = _PATH_HINTS.get(generic, "") if kind.endswith("_type") else ""
        hint = hint or next((h for pre, h in _TYPE_HINTS.items() if kind.startswith(pre)), "")
        if hint:
            message += f"; {hint}"
    return f"{path}: {message}{env_note(loc, from_env)}"


def known_keys(
    parent: Loc, *, top_level: Iterable[str], sections: Mapping[str, type[BaseModel]]
) -> list[str]:
    """The keys allowed at ``parent``: the top level, or one section; none known elsewhere."""
    if not parent:
        return sorted(top_level)
    model = sections.get(str(parent[0])) if len(parent) == 1 else None
    return sorted(model.model_fields) if model else []


def env_note(loc: Loc, from_env: Mapping[str, Any]) -> str:
    """Say which variable set the bad value, when it came from the environment."""
    node: Any = from_env
    names: list[str] = []
    for part in loc:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
            names.append(str(part).upper())
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            return " (set by an environment variable)"
        elif isinstance(node, Mapping | list):
            return ""
        else:
            break  # a scalar from the environment, e.g. "1,x" for a list of ids
    if isinstance(node, Mapping):
        return ""  # a table that may mix file and environment values
    return f" (set by environment variable {ENV_PREFIX}{ENV_NESTED_DELIMITER.join(names)})"
