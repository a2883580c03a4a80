"""Push streams of the paper broker: a hub that fans every item out to per-subscriber queues.

``PaperBroker`` keeps one ``FanOut`` for order updates and one for ticks, and its ``stream_*``
methods hand out ``Subscription``s of them. A hub may bound its queues, dropping the oldest items
of a subscriber that stops reading; publishing never waits. Everything runs on the event loop
thread.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from core.domain.errors import BrokerError

T = TypeVar("T")


class Subscription(Generic[T]):
    """One subscriber's queue, read as an async iterator that ends when the broker closes."""

    def __init__(self, hub: FanOut[T], accept: Callable[[T], bool] | None, limit: int) -> None:
        self._hub = hub
        self._accept = accept
        self._limit = limit
        # None marks the end of the stream; the items themselves are never None.
        self._queue: asyncio.Queue[T | None] = asyncio.Queue()
        self._done = False
        self._error: BrokerError | None = None

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        if self._error is None and not self._done:
            item = await self._queue.get()
            if item is not None:
                return item
        # Ended, or failed (``end`` queues a None to wake a waiting reader).
        error, self._error = self._error, None
        self._finish()
        if error is not None:
            raise error
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Stop receiving; the hub forgets this subscriber at once."""
        self._finish()

    def offer(self, item: T) -> None:
        """Queue an item if this subscriber wants it."""
        if self._done or (self._accept is not None and not self._accept(item)):
            return
        if self._limit and self._queue.qsize() >= self._limit:
            self._queue.get_nowait()
        self._queue.put_nowait(item)

    def end(self, error: BrokerError | None = None) -> None:
        """End the stream after the items already queued; with an error, raise it at once."""
        self._error = error
        self._queue.put_nowait(None)

    def discard_queued(self) -> None:
        """Throw away the items not read yet."""
        while not self._queue.empty():
            self._queue.get_nowait()

    def _finish(self) -> None:
        self._done = True
        self._hub.discard(self)


class FanOut(Generic[T]):
    """Delivers every published item to every subscriber, each through its own queue.

    Subscribers are held weakly, so an iterator dropped without ``aclose`` also goes away.
    """

    def __init__(self, limit: int = 0) -> None:
        self._limit = limit
        self._subscribers: weakref.WeakSet[Subscription[T]] = weakref.WeakSet()

    def subscribe(self, accept: Callable[[T], bool] | None = None) -> Subscription[T]:
        """A new subscriber, receiving from now on (not when it is first iterated)."""
        subscription = Subscription(self, accept, self._limit)
        self._subscribers.add(subscription)
        return subscription

    def publish(self, item: T) -> None:
        """Give the item to every current subscriber."""
        for subscription in list(self._subscribers):
            subscription.offer(item)

    def end_all(self, error: Callable[[], BrokerError] | None = None) -> None:
        """End every current stream, or make each raise a fresh ``error()`` on its next read.

        Later subscribers start afresh.
        """
        for subscription in list(self._subscribers):
            subscription.end(error() if error is not None else None)
            self._subscribers.discard(subscription)

    def discard_queued(self) -> None:
        """Throw away what no subscriber has read yet."""
        for subscription in list(self._subscribers):
            subscription.discard_queued()

    def discard(self, subscription: Subscription[T]) -> None:
        """Forget one subscriber."""
        self._subscribers.discard(subscription)

    def __len__(self) -> int:
        return len(self._subscribers)


__all__ = ["FanOut", "Subscription"]
