"""Shared state between instances: Redis when configured, nothing otherwise.

Every Redis call goes through `Shared`, which turns an outage into a logged miss: a cache may
be cold, but a request never fails because Redis is down.
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


class LocalCache(Generic[V]):
    """A small in-process LRU cache whose entries expire after `ttl` seconds.

    Bounded, so a flood of made-up keys (random Host headers) evicts only the least recently
    used entries, never the hot ones.
    """

    def __init__(self, *, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()

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

    def clear(self) -> None:
        self._entries.clear()


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
