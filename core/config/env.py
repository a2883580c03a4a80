"""The environment's part in the configuration: ``POCKETDESK_*`` overrides, ``"env:NAME"`` values.

A variable ``POCKETDESK_<SECTION>__<KEY>`` replaces ``key`` in ``[section]``. Any setting whose
value is ``"env:NAME"`` (the bot token, a broker's secret) is read from the variable ``NAME`` at
start-up, so the secret never has to sit in the file. While a file is being loaded, the mapping
that stands for the environment (``os.environ``, or a test's own) is held in a context variable, so
the validators of every section read the same one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from core.domain.errors import ConfigError

ENV_PREFIX = "POCKETDESK_"
ENV_NESTED_DELIMITER = "__"
ENV_REF = "env:"


@dataclass(frozen=True, slots=True)
class Load:
    """What one configuration load reads: the parsed file and the environment."""

    file_data: Mapping[str, Any]
    environ: Mapping[str, str]


_LOAD: ContextVar[Load | None] = ContextVar("pocketdesk_config_load", default=None)


@contextmanager
def loading(load: Load) -> Iterator[None]:
    """Make ``load`` the current load for the validators run inside the block."""
    token = _LOAD.set(load)
    try:
        yield
    finally:
        _LOAD.reset(token)


def current_load() -> Load | None:
    """The load in progress, or None outside ``loading``."""
    return _LOAD.get()


def current_environ() -> Mapping[str, str]:
    """The environment of the load in progress, else ``os.environ``."""
    load = _LOAD.get()
    return os.environ if load is None else load.environ


def resolve_env_ref(value: str, environ: Mapping[str, str] | None = None) -> str:
    """``value`` itself, or the variable an ``"env:NAME"`` value names.

    Raises ``ValueError`` naming the variable (never its value) when it is not set.
    """
    if not value.startswith(ENV_REF):
        return value
    env = current_environ() if environ is None else environ
    name = value[len(ENV_REF) :].strip()
    if not name or name not in env:
        raise ValueError(f"names the environment variable {name or '(none)'}, which is not set")
    return env[name]


def resolve_env_refs(
    settings: Mapping[str, Any], where: str, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The settings with every ``"env:NAME"`` value replaced by that variable's value."""
    resolved: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, str):
            try:
                value = resolve_env_ref(value, environ)
            except ValueError as err:
                raise ConfigError(
                    f"{where}.{key} {err}; set it before starting pocketdesk"
                ) from None
        resolved[key] = value
    return resolved
