"""Signed-in sessions: what a cookie is worth, where, for how long, and what is stored."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from quart import Response

from payfacile.platform.cache import Shared
from payfacile.platform.config import Settings
from payfacile.platform.models import Session, SessionKind
from payfacile.platform.sessions import SESSION_LIFETIME, Sessions
from tests.conftest import TEST_REDIS_URL, make_settings
from tests.factories import make_customer, make_store

DEAD_REDIS_URL = "redis://127.0.0.1:1/0"
BUYER = SessionKind.BUYER


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture
async def shared(database: Settings) -> AsyncIterator[Shared]:
    """The test's Redis (on the Redis pass) or nothing, as the app would build it."""
    found = Shared(database.redis_url, prefix=database.redis_prefix)
    yield found
    await found.close()


@pytest.fixture
def sessions(database: Settings, shared: Shared) -> Sessions:
    return Sessions(database, shared)


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(TEST_REDIS_URL)
    yield client
    await client.aclose()


def cookie_of(response: Response) -> tuple[str, str, dict[str, str]]:
    """(name, value, attributes with lower-case names) of the response's one Set-Cookie."""
    [header] = response.headers.getlist("Set-Cookie")
    first, *parts = (part.strip() for part in header.split(";"))
    name, _, value = first.partition("=")
    attributes = {}
    for part in parts:
        key, _, attribute_value = part.partition("=")
        attributes[key.lower()] = attribute_value
    return name, value, attributes


# Loading


async def test_a_started_session_loads_on_its_own_store(sessions: Sessions) -> None:
    store = await make_store()
    buyer = await make_customer(store)
    token = await sessions.start(kind=BUYER, subject_id=buyer.id, store_id=store.id)
    for _ in range(2):  # the second load may come from the cache
        signed_in = await sessions.load(token, store_id=store.id)
        assert signed_in is not None
        assert (signed_in.kind, signed_in.subject_id, signed_in.store_id) == (
            BUYER,
            buyer.id,
            store.id,
        )
        assert signed_in.expires_at > datetime.now(UTC) + SESSION_LIFETIME - timedelta(hours=1)


async def test_a_cookie_copied_to_another_host_is_not_signed_in(sessions: Sessions) -> None:
    store, other = await make_store(), await make_store()
    buyer = await make_customer(store)
    token = await sessions.start(kind=BUYER, subject_id=buyer.id, store_id=store.id)
    assert await sessions.load(token, store_id=store.id) is not None
    assert await sessions.load(token, store_id=other.id) is None
    assert await sessions.load(token, store_id=None) is None  # the central host

    central = await sessions.start(kind=SessionKind.MERCHANT, subject_id=1, store_id=None)
    assert await sessions.load(central, store_id=None) is not None
    assert await sessions.load(central, store_id=store.id) is None


@pytest.mark.parametrize(
    "token",
    [None, "", "garbage", "A" * 43, "x" * 129, "x" * 100_000, "jeton-forgé", "\x00"],
)
async def test_unknown_or_malformed_tokens_are_not_signed_in(
    sessions: Sessions, token: str | None
) -> None:
    store = await make_store()
    real = await sessions.start(kind=BUYER, subject_id=1, store_id=store.id)
    assert await sessions.load(token, store_id=store.id) is None
    assert await sessions.load(real + "x", store_id=store.id) is None
    assert await sessions.load(real[:-1], store_id=store.id) is None


async def test_using_a_session_keeps_it_alive(sessions: Sessions) -> None:
    store = await make_store()
    token = await sessions.start(kind=BUYER, subject_id=1, store_id=store.id)
    long_ago = datetime.now(UTC) - timedelta(days=13)
    await Session.filter(id_hash=sha256(token)).update(
        last_seen_at=long_ago, expires_at=long_ago + SESSION_LIFETIME
    )
    assert await sessions.load(token, store_id=store.id) is not None
    row = await Session.get(id_hash=sha256(token))
    assert row.expires_at > datetime.now(UTC) + SESSION_LIFETIME - timedelta(hours=1)


async def test_an_expired_session_is_not_signed_in(sessions: Sessions) -> None:
    store = await make_store()
    token = await sessions.start(kind=BUYER, subject_id=1, store_id=store.id)
    await Session.filter(id_hash=sha256(token)).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert await sessions.load(token, store_id=store.id) is None


# What is stored


async def test_only_the_tokens_hash_is_in_the_database(sessions: Sessions) -> None:
    store = await make_store()
    tokens = [await sessions.start(kind=BUYER, subject_id=n, store_id=store.id) for n in (1, 2)]
    for token in tokens:
        assert await sessions.load(token, store_id=store.id) is not None
    rows = await Session.all().values()
    assert sorted(row["id_hash"] for row in rows) == sorted(sha256(t) for t in tokens)
    stored = repr(rows)
    for token in tokens:
        assert token not in stored


@pytest.mark.postgres_redis
async def test_only_the_tokens_hash_is_in_redis(
    database: Settings, sessions: Sessions, redis_client: aioredis.Redis
) -> None:
    store = await make_store()
    token = await sessions.start(kind=BUYER, subject_id=1, store_id=store.id)
    assert await sessions.load(token, store_id=store.id) is not None  # now cached

    keys = [key async for key in redis_client.scan_iter(match=f"{database.redis_prefix}*")]
    assert f"{database.redis_prefix}session:{sha256(token)}".encode() in keys
    for key in keys:
        assert token.encode() not in key
        if await redis_client.type(key) == b"string":
            assert token.encode() not in (await redis_client.get(key) or b"")


# Sign-in and sign-out


async def test_signing_in_replaces_the_previous_session(sessions: Sessions) -> None:
    store = await make_store()
    planted = await sessions.start(kind=BUYER, subject_id=1, store_id=store.id)
    assert await sessions.load(planted, store_id=store.id) is not None
    token = await sessions.start(kind=BUYER, subject_id=2, store_id=store.id, replacing=planted)
    assert token != planted
    assert await sessions.load(planted, store_id=store.id) is None
    signed_in = await sessions.load(token, store_id=store.id)
    assert signed_in is not None
    assert signed_in.subject_id == 2


async def test_signing_out_everywhere_else_keeps_this_session(sessions: Sessions) -> None:
    store = await make_store()
    buyer, other_buyer = await make_customer(store), await make_customer(store)
    current, laptop, phone = [
        await sessions.start(kind=BUYER, subject_id=buyer.id, store_id=store.id) for _ in range(3)
    ]
    other = await sessions.start(kind=BUYER, subject_id=other_buyer.id, store_id=store.id)
    # A merchant whose id happens to equal the buyer's is another person.
    merchant = await sessions.start(kind=SessionKind.MERCHANT, subject_id=buyer.id, store_id=None)
    for token in (current, laptop, phone, other):  # cached on the Redis pass
        assert await sessions.load(token, store_id=store.id) is not None

    ended = await sessions.end_all(kind=BUYER, subject_id=buyer.id, keep=current)

    assert ended == 2
    assert await sessions.load(laptop, store_id=store.id) is None
    assert await sessions.load(phone, store_id=store.id) is None
    assert await sessions.load(current, store_id=store.id) is not None
    assert await sessions.load(other, store_id=store.id) is not None
    assert await sessions.load(merchant, store_id=None) is not None


async def test_signing_out_ends_the_session(sessions: Sessions) -> None:
    store = await make_store()
    token = await sessions.start(kind=BUYER, subject_id=1, store_id=store.id)
    assert await sessions.load(token, store_id=store.id) is not None
    await sessions.end(token)
    assert await sessions.load(token, store_id=store.id) is None


# Redis


async def test_a_redis_outage_signs_nobody_out(database: Settings, sessions: Sessions) -> None:
    """Start (and cache) with the test's Redis, then load through an instance whose Redis is
    down: the database still answers. Runs on both passes."""
    store = await make_store()
    token = await sessions.start(kind=BUYER, subject_id=7, store_id=store.id)
    assert await sessions.load(token, store_id=store.id) is not None
    dead = Shared(DEAD_REDIS_URL, prefix=database.redis_prefix)
    try:
        during_outage = Sessions(database, dead)
        signed_in = await during_outage.load(token, store_id=store.id)
        assert signed_in is not None
        assert signed_in.subject_id == 7
        assert await during_outage.load(token, store_id=store.id + 1) is None
        await during_outage.end(token)
        assert await during_outage.load(token, store_id=store.id) is None
    finally:
        await dead.close()


@pytest.mark.postgres_redis
async def test_a_session_ended_on_another_instance_leaves_the_cache(
    database: Settings, sessions: Sessions, redis_client: aioredis.Redis
) -> None:
    store = await make_store()
    token = await sessions.start(kind=BUYER, subject_id=1, store_id=store.id)
    assert await sessions.load(token, store_id=store.id) is not None
    key = f"{database.redis_prefix}session:{sha256(token)}"
    assert await redis_client.exists(key) == 1

    other_shared = Shared(database.redis_url, prefix=database.redis_prefix)
    try:
        await Sessions(database, other_shared).end(token)
    finally:
        await other_shared.close()

    assert await redis_client.exists(key) == 0
    assert await sessions.load(token, store_id=store.id) is None


# The cookie


@pytest.mark.parametrize("env", ["development", "test"])
async def test_the_cookie_outside_production(settings: Settings, tmp_path: Path, env: str) -> None:
    local = make_settings(tmp_path, settings.database_url, env=env)
    response = Response("")
    Sessions(local, Shared("", prefix="")).set_cookie(response, "tok3n")
    name, value, attributes = cookie_of(response)
    assert (name, value) == ("pf_session", "tok3n")
    assert "httponly" in attributes
    assert attributes["samesite"] == "Lax"
    assert attributes["path"] == "/"
    assert attributes["max-age"] == str(int(SESSION_LIFETIME.total_seconds()))
    assert "domain" not in attributes
    assert "secure" not in attributes


async def test_the_cookie_in_production_is_host_only_and_secure(
    settings: Settings, tmp_path: Path
) -> None:
    production = make_settings(tmp_path, settings.database_url, env="production")
    sessions = Sessions(production, Shared("", prefix=""))
    response = Response("")
    sessions.set_cookie(response, "tok3n")
    name, value, attributes = cookie_of(response)
    assert (name, value) == ("__Host-pf_session", "tok3n")
    assert "secure" in attributes
    assert "httponly" in attributes
    assert attributes["samesite"] == "Lax"
    assert attributes["path"] == "/"
    assert "domain" not in attributes

    # Signing out must name the same cookie with the same Secure/Path, or browsers keep it.
    signed_out = Response("")
    sessions.clear_cookie(signed_out)
    name, value, attributes = cookie_of(signed_out)
    assert (name, value) == ("__Host-pf_session", "")
    assert attributes["max-age"] == "0"
    assert "secure" in attributes
    assert attributes["path"] == "/"
