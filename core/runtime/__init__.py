"""asyncio plumbing shared by core and the adapters: supervised tasks, closing, backoff."""
