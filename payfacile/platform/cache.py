"""Shared state between instances: Redis when configured, nothing otherwise.

Every Redis call goes through `Shared`, which turns an outage into a logged miss: a cache may
be cold, but a request never fails because Redis is down.

A cache filled from the database can undo a change: a reader loads a row, the row changes
and its entry is deleted, then the reader writes what it loaded. So invalidating is a
*fence* (`Shared.fence`, `LocalCache.discard`), and a reader writes only if no fence went
up since it started reading (`Shared.set_unless_fenced`, `LocalCache.generation`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

V = TypeVar("V")

FENCE_SUFFIX = ":fence"
# KEYS[1] the entry, KEYS[2] its fence; ARGV[1] the value, ARGV[2] its TTL in seconds.
SET_UNLESS_FENCED = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


class LocalCache(Generic[V]):
    """A small in-process LRU cache whose entries expire after `ttl` seconds.

    Bounded, so a flood of made-up keys (random Host headers) evicts only the least recently
    used entries, never the hot ones.
    """

    def __init__(self, *, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self._generation = 0

    @property
    def generation(self) -> int:
        """Changes with every `discard` and `clear`. A reader notes it before loading a value
        and `set`s the value only if it is unchanged: an invalidation came in between."""
        return self._generation

    def get(self, key: str) -> tuple[bool, V | None]:
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        expires, value = entry
        if expires < time.monotonic():
            self._entries.pop(key, None)
            return False, None
        self._entries.move_to_end(key)
        return True, value

    def set(self, key: str, value: V, *, ttl: float | None = None) -> None:
        self._entries[key] = (time.monotonic() + (self.ttl if ttl is None else ttl), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def discard(self, key: str) -> None:
        self._entries.pop(key, None)
        self._generation += 1

    def clear(self) -> None:
        self._entries.clear()
        self._generation += 1


class Shared:
    """Redis with a key prefix, or a no-op stand-in when `url` is empty."""

    def __init__(self, url: str, *, prefix: str) -> None:
        self.url = url
        self.prefix = prefix
        self.client: aioredis.Redis | None = (
            aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
            if url
            else None
        )

    @property
    def enabled(self) -> bool:
        return self.client is not None

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    async def get(self, name: str) -> bytes | None:
        if self.client is None:
            return None
        try:
            value = await self.client.get(self.key(name))
        except RedisError as error:
            log.warning("redis get failed, treated as a miss: %s", error)
            return None
        return value.encode() if isinstance(value, str) else value

    async def set(self, name: str, value: bytes | str, *, ttl: int) -> None:
        if self.client is None:
            return
        try:
            await self.client.set(self.key(name), value, ex=ttl)
        except RedisError as error:
            log.warning("redis set failed: %s", error)

    async def set_unless_fenced(self, name: str, value: bytes | str, *, ttl: int) -> None:
        """Set `name` unless a `fence` on it still stands: for a value read from the database,
        which must not land after the change that fenced it."""
        if self.client is None:
            return
        keys = [self.key(name), self.key(name + FENCE_SUFFIX)]
        try:
            await self.client.eval(SET_UNLESS_FENCED, 2, *keys, value, ttl)
        except RedisError as error:
            log.warning("redis set failed: %s", error)

    async def fence(self, *names: str, ttl: int) -> None:
        """Delete `names` and refuse `set_unless_fenced` on them for `ttl` seconds, which must
        outlast any reader's time between its database read and its cache write."""
        if self.client is None or not names:
            return
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                for name in names:
                    pipe.set(self.key(name + FENCE_SUFFIX), b"1", ex=ttl)
                    pipe.delete(self.key(name))
                await pipe.execute()
        except RedisError as error:
            log.warning("redis fence failed: %s", error)

    async def delete(self, *names: str) -> None:
        if self.client is None or not names:
            return
        try:
            await self.client.delete(*(self.key(name) for name in names))
        except RedisError as error:
            log.warning("redis delete failed: %s", error)

    async def publish(self, channel: str, message: str) -> None:
        if self.client is None:
            return
        try:
            await self.client.publish(self.key(channel), message)
        except RedisError as error:
            log.warning("redis publish failed: %s", error)

    async def ping(self) -> None:
        if self.client is not None:
            await self.client.ping()

    async def listen(
        self,
        channel: str,
        on_message: Callable[[str], Awaitable[None] | None],
        *,
        on_reconnect: Callable[[], None],
    ) -> None:
        """Call `on_message` for each message on `channel`, forever, reconnecting on errors.

        `on_reconnect` runs after every (re)subscription: messages sent while disconnected are
        lost, so callers drop whatever those messages would have invalidated.
        """
        if self.client is None:
            return
        while True:
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(self.key(channel))
                    on_reconnect()
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        data = message["data"]
                        result = on_message(data.decode() if isinstance(data, bytes) else data)
                        if result is not None:
                            await result
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as error:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # redis-py may turn a cancellation into a connection error: stop anyway.
                    raise asyncio.CancelledError from error
                log.warning("redis subscription lost, retrying: %s", error)
                await asyncio.sleep(0.5)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
