"""Named, supervised background tasks: a crash is logged, reported, and restarted with backoff.

One failing component never takes the service down; shutdown cancels everything with a bound.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

FailureHook = Callable[[str, BaseException], Awaitable[None]]


@dataclass(slots=True)
class _Component:
    name: str
    factory: Callable[[], Awaitable[None]]
    restart: bool
    task: asyncio.Task[None] | None = None
    failures: int = 0


class Supervisor:
    def __init__(
        self,
        on_failure: FailureHook | None = None,
        *,
        base_backoff_s: float = 0.5,
        max_backoff_s: float = 60.0,
    ) -> None:
        self.on_failure = on_failure
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self._components: dict[str, _Component] = {}
        self._stopping = False

    def start(
        self, name: str, factory: Callable[[], Awaitable[None]], *, restart: bool = True
    ) -> None:
        """Run ``factory()`` as task ``name``; restart it after a crash when ``restart``."""
        if name in self._components:
            raise ValueError(f"component {name!r} already runs")
        component = _Component(name, factory, restart)
        self._components[name] = component
        component.task = asyncio.get_running_loop().create_task(self._guard(component), name=name)

    def failures(self, name: str) -> int:
        return self._components[name].failures

    def running(self) -> list[str]:
        return [n for n, c in self._components.items() if c.task and not c.task.done()]

    async def _guard(self, component: _Component) -> None:
        while True:
            try:
                await component.factory()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                component.failures += 1
                log.exception("component %s failed (%d times)", component.name, component.failures)
                if self.on_failure is not None:
                    try:
                        await self.on_failure(component.name, exc)
                    except Exception:
                        log.exception("failure hook for %s failed", component.name)
                if not component.restart or self._stopping:
                    return
                delay = min(self.base_backoff_s * 2 ** (component.failures - 1), self.max_backoff_s)
                await asyncio.sleep(delay * (0.5 + random.random() / 2))

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Cancel every component and wait for them, at most ``timeout_s``."""
        self._stopping = True
        tasks = [c.task for c in self._components.values() if c.task and not c.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=timeout_s)
            for task in pending:
                log.error("component %s did not stop within %.1f s", task.get_name(), timeout_s)
        self._components.clear()
