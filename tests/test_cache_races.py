"""Caches must not undo a change: a reader held between its database read and its cache
write while the change lands must not leave what it read in any cache.

Both races run for real against Redis: the test pass's own, or (on the SQLite pass) a
redis-server this module starts for itself, so nothing shared is touched.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError

from payfacile.platform.cache import Shared
from payfacile.platform.config import Settings
from payfacile.platform.models import SessionKind
from payfacile.platform.sessions import Sessions
from payfacile.tenants import stores
from payfacile.tenants.hosts import HostResolver, Site
from payfacile.tenants.models import StoreStatus
from tests.conftest import IN_CI, TEST_REDIS_URL
from tests.factories import make_customer, make_store
from tests.platform.test_jobs import free_port

HOST = "acme.payfacile.localhost"
HANG_GUARD_SECONDS = 30  # only so that a broken hold fails instead of hanging the run


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """The pass's Redis, or a private redis-server on a free port (no persistence)."""
    if TEST_REDIS_URL:
        yield TEST_REDIS_URL
        return
    server = shutil.which("redis-server")
    if server is None:
        if IN_CI:
            pytest.fail("redis-server is not installed (Debian package redis-server)")
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    try:
        while True:  # until it answers (it exits on a port clash: then fail)
            assert process.poll() is None, "redis-server did not start"
            try:
                client.ping()
                break
            except RedisConnectionError:
                continue
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        process.terminate()
        process.wait()


class Gate:
    """Holds one reader at a point until the test lets it go."""

    def __init__(self) -> None:
        self.armed = True
        self.reached = asyncio.Event()
        self.opened = asyncio.Event()

    async def hold(self) -> None:
        if self.armed:
            self.armed = False
            self.reached.set()
            await self.opened.wait()

    async def reached_by_reader(self) -> None:
        await asyncio.wait_for(self.reached.wait(), HANG_GUARD_SECONDS)


class HeldCacheWrites(Shared):
    """Redis whose first write of a `session:` entry waits at the gate: the reader has read
    the database and not yet written the cache."""

    def __init__(self, url: str, *, prefix: str, gate: Gate) -> None:
        super().__init__(url, prefix=prefix)
        self.gate = gate

    async def set(self, name: str, value: bytes | str, *, ttl: int) -> None:
        if name.startswith("session:"):
            await self.gate.hold()
        await super().set(name, value, ttl=ttl)

    async def set_unless_fenced(self, name: str, value: bytes | str, *, ttl: int) -> None:
        if name.startswith("session:"):
            await self.gate.hold()
        await super().set_unless_fenced(name, value, ttl=ttl)


class HeldResolver(HostResolver):
    """A resolver whose first database lookup, once done, waits at the gate."""

    def __init__(self, settings: Settings, shared: Shared, gate: Gate) -> None:
        super().__init__(settings, shared)
        self.gate = gate

    async def lookup(self, hostname: str) -> Site | None:
        site = await super().lookup(hostname)
        await self.gate.hold()
        return site


@pytest.fixture
async def with_redis(database: Settings, redis_url: str) -> AsyncIterator[Settings]:
    """The test's settings, with Redis (the pass's own, or this module's server)."""
    yield database.model_copy(update={"redis_url": redis_url})
    if redis_url != TEST_REDIS_URL:
        client = redis.Redis.from_url(redis_url)
        client.flushall()
        client.close()


async def test_signing_out_everywhere_during_a_sessions_first_load_is_not_undone(
    with_redis: Settings,
) -> None:
    settings, gate = with_redis, Gate()
    shared = HeldCacheWrites(settings.redis_url, prefix=settings.redis_prefix, gate=gate)
    sessions = Sessions(settings, shared)
    store = await make_store("acme")
    buyer = await make_customer(store)
    token = await sessions.start(kind=SessionKind.BUYER, subject_id=buyer.id, store_id=store.id)
    loading = asyncio.create_task(sessions.load(token, store_id=store.id))
    await gate.reached_by_reader()  # the row is read, the cache not yet written
    assert await sessions.end_all(kind=SessionKind.BUYER, subject_id=buyer.id) == 1
    gate.opened.set()
    assert await loading is not None  # that request began while still signed in
    assert await sessions.load(token, store_id=store.id) is None
    other_instance = Sessions(settings, Shared(settings.redis_url, prefix=settings.redis_prefix))
    assert await other_instance.load(token, store_id=store.id) is None
    await shared.close()
    await other_instance.shared.close()


@pytest.mark.parametrize("redis_on", [True, False], ids=["redis", "in-process only"])
async def test_a_suspension_during_a_host_lookup_is_not_undone(
    with_redis: Settings, redis_on: bool
) -> None:
    settings = with_redis if redis_on else with_redis.model_copy(update={"redis_url": ""})
    gate = Gate()
    shared = Shared(settings.redis_url, prefix=settings.redis_prefix)
    resolver = HeldResolver(settings, shared, gate)
    store = await make_store("acme")
    looking = asyncio.create_task(resolver.resolve(HOST))
    await gate.reached_by_reader()  # the store is read as active, no cache written yet
    await stores.set_status(store, StoreStatus.SUSPENDED, hosts=resolver)
    gate.opened.set()
    stale = await looking
    assert stale.store is not None
    assert stale.store.status == StoreStatus.ACTIVE
    fresh = await resolver.resolve(HOST)
    assert fresh.store is not None
    assert fresh.store.status == StoreStatus.SUSPENDED
    if redis_on:  # another instance, whose first stop is Redis
        other = HostResolver(settings, Shared(settings.redis_url, prefix=settings.redis_prefix))
        seen = await other.resolve(HOST)
        assert seen.store is not None
        assert seen.store.status == StoreStatus.SUSPENDED
        await other.shared.close()
    await shared.close()
