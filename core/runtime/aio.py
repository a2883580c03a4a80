"""Small asyncio helpers shared by the adapters."""

from __future__ import annotations

from typing import Self


class AsyncClosing:
    """``async with`` for anything with an ``async close()``: the block's end closes it."""

    async def close(self) -> None:
        """Release what the object holds; subclasses override."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
