"""Rate limits through the `limits` library: in memory, or in Redis shared by all instances."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from payfacile.platform.errors import RateLimited
from payfacile.platform.text import Message, Text, _l

log = logging.getLogger(__name__)


class RateLimiter:
    def __init__(self, redis_url: str, *, prefix: str) -> None:
        storage: Storage
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            storage = RedisStorage(
                uri, implementation="redispy", key_prefix=f"{prefix}limits", wrap_exceptions=True
            )
        else:
            storage = MemoryStorage()
        self.storage = storage
        self.strategy = MovingWindowRateLimiter(storage)

    async def hit(self, rate: str, *identity: str, message: Message | None = None) -> None:
        """Count one hit against `rate` (e.g. "10/15minutes") for `identity`.

        Raises `RateLimited` with the wait in seconds once the limit is passed. If the shared
        store is down the hit is let through and logged: an outage must not lock people out.
        """
        await self._enforce(self.strategy.hit, rate, identity, message)

    async def check(self, rate: str, *identity: str, message: Message | None = None) -> None:
        """Raise `RateLimited` if `identity` has used up `rate`, without counting a hit."""
        await self._enforce(self.strategy.test, rate, identity, message)

    async def _enforce(
        self,
        allows: Callable[..., Awaitable[bool]],
        rate: str,
        identity: tuple[str, ...],
        message: Message | None,
    ) -> None:
        item = parse(rate)
        try:
            if await allows(item, *identity):
                return
            wait = await self._wait(item, *identity)
        except StorageError as error:
            log.warning("rate limit storage unavailable, not limiting: %s", error)
            return
        raise RateLimited(
            message or _l("Too many attempts. Try again in %(wait)s.", wait=_human(wait)),
            retry_after=wait,
        )

    async def used(self, rate: str, *identity: str) -> int:
        """How many hits `identity` has in `rate`'s current window (0 if the store is down)."""
        item = parse(rate)
        try:
            stats = await self.strategy.get_window_stats(item, *identity)
        except StorageError as error:
            log.warning("rate limit storage unavailable: %s", error)
            return 0
        return item.amount - stats.remaining

    async def clear(self, rate: str, *identity: str) -> None:
        try:
            await self.strategy.clear(parse(rate), *identity)
        except StorageError as error:
            log.warning("rate limit storage unavailable: %s", error)

    async def _wait(self, item: RateLimitItem, *identity: str) -> int:
        stats = await self.strategy.get_window_stats(item, *identity)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def reset(self) -> None:
        await self.storage.reset()

    async def close(self) -> None:
        """Close the Redis connections (call when the app stops; a no-op in memory)."""
        # limits has no close(); its redis-py client sits, untyped, on the storage's bridge.
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        if isinstance(client, aioredis.Redis):
            await client.aclose(close_connection_pool=True)


def _human(seconds: int) -> Text:
    if seconds < 60:
        return _l("1 second") if seconds == 1 else _l("%(count)s seconds", count=seconds)
    minutes = math.ceil(seconds / 60)
    return _l("1 minute") if minutes == 1 else _l("%(count)s minutes", count=minutes)
