"""Test harness: every test gets its own clean database and its own Redis key space.

With no settings the suite runs on SQLite and the in-process cache. With
`PAYFACILE_TEST_DATABASE_URL` and `PAYFACILE_TEST_REDIS_URL` it runs on PostgreSQL and Redis:
each test gets a database made from a migrated template (`CREATE DATABASE … TEMPLATE …`), so
other processes (a second app instance, the CLI) see the same data.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import redis
from quart import Quart
from quart.typing import TestClientProtocol as Client

from payfacile.app import create_app
from payfacile.platform import db
from payfacile.platform.cache import Shared
from payfacile.platform.config import Settings
from payfacile.platform.mail import Mailer, with_links
from payfacile.platform.models import OutboxEmail
from payfacile.schema import MODEL_MODULES
from payfacile.tenants.hosts import HostResolver, resolver_of
from tests.challtestsrv import ChallTestSrv, free_port
from tests.challtestsrv import running as challtestsrv_running
from tests.pebble import Pebble
from tests.pebble import running as pebble_running

T = TypeVar("T")

TEST_DATABASE_URL = os.environ.get("PAYFACILE_TEST_DATABASE_URL", "")
TEST_REDIS_URL = os.environ.get("PAYFACILE_TEST_REDIS_URL", "")
ON_POSTGRES = TEST_DATABASE_URL.startswith("postgres")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
IN_CI = os.environ.get("CI") == "true"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ON_POSTGRES and TEST_REDIS_URL:
        return
    skip = pytest.mark.skip(reason="runs on the PostgreSQL+Redis pass (make test-postgres)")
    for item in items:
        if "postgres_redis" in item.keywords:
            item.add_marker(skip)


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, whatever loop the caller is in."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _pg_url(database: str) -> str:
    parts = urlsplit(TEST_DATABASE_URL)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


async def _pg_admin(sql: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(TEST_DATABASE_URL))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def template_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database that each test copies: a file on SQLite, a template on PostgreSQL."""
    if ON_POSTGRES:
        name = f"pf_tmpl_{WORKER}_{os.getpid()}"
        run_sync(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        run_sync(_pg_admin(f'CREATE DATABASE "{name}"'))
        run_sync(db.migrate(Settings(database_url=_pg_url(name), env="test"), MODEL_MODULES))
        yield name
        run_sync(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    directory = tmp_path_factory.mktemp("template")
    run_sync(db.migrate(Settings(data_dir=directory, env="test"), MODEL_MODULES))
    yield str(directory / "payfacile.sqlite3")


def _fresh_database(template: str, data_dir: Path) -> tuple[str, str | None]:
    if ON_POSTGRES:
        name = f"pf_t_{uuid.uuid4().hex[:16]}"
        run_sync(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        return _pg_url(name), name
    path = data_dir / "payfacile.sqlite3"
    shutil.copyfile(template, path)
    return f"sqlite://{path}", None


def _drop_redis_keys(prefix: str) -> None:
    client = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


# Every test's (32 bytes or more, as production asks); a subprocess gets it too.
TEST_SECRET_KEY = "test-secret-key-one-of-32-bytes-or-more"


def opened(row: OutboxEmail) -> OutboxEmail:
    """The email as its recipient reads it: its sealed links put back (in memory only)."""
    links = Mailer(Settings(env="test", secret_key=[TEST_SECRET_KEY])).links(row)
    row.text_body, row.html_body = with_links(row, links)
    return row


def make_settings(data_dir: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "data_dir": data_dir,
        "database_url": database_url,
        "redis_url": TEST_REDIS_URL,
        "redis_prefix": f"pft:{uuid.uuid4().hex[:12]}:",
        "secret_key": [TEST_SECRET_KEY],
        "platform_domain": "payfacile.localhost",
        # Long: a test sees a change through the invalidation that the change sends, never
        # through an entry that happened to expire (a test of expiry sets its own).
        "host_cache_seconds": 600.0,
        # No CA unless a test starts Pebble: a verified domain stays on HTTP.
        "acme_directory_url": "",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(template_database: str, tmp_path: Path) -> Iterator[Settings]:
    database_url, pg_name = _fresh_database(template_database, tmp_path)
    settings = make_settings(tmp_path, database_url)
    yield settings
    if TEST_REDIS_URL:
        _drop_redis_keys(settings.redis_prefix)
    if pg_name:
        run_sync(_pg_admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Settings]:
    """The test's database, connected, for tests that call services without the web app."""
    await db.init_db(settings, MODEL_MODULES)
    yield settings
    await db.close_db()


@pytest.fixture
async def hosts(database: Settings) -> AsyncIterator[HostResolver]:
    shared = Shared(database.redis_url, prefix=database.redis_prefix)
    yield HostResolver(database, shared)
    await shared.close()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Quart]:
    """The app, without the embedded scheduler and worker: a test of background work starts
    its own, so no scan or sweep runs beside a test that counts queries or rows."""
    application = create_app(settings, background=False)
    async with application.test_app():
        yield application


@pytest.fixture
def client(app: Quart) -> Client:
    return app.test_client()


async def work_after_answers(app: Quart) -> None:
    """Wait for what the app does after its answers (the emails of link and reset requests),
    as a buyer waits for the email after the page."""
    while app.background_tasks:
        await asyncio.gather(*app.background_tasks)


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that makes a `payfacile` subprocess use this test's settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PAYFACILE_") or key.startswith("PAYFACILE_TEST_")
    }
    env.update(
        PAYFACILE_ENV=settings.env,
        PAYFACILE_DATA_DIR=str(settings.data_dir),
        PAYFACILE_DATABASE_URL=settings.database_url,
        PAYFACILE_REDIS_URL=settings.redis_url,
        PAYFACILE_REDIS_PREFIX=settings.redis_prefix,
        PAYFACILE_SECRET_KEY=",".join(settings.secret_key),
        PAYFACILE_PLATFORM_DOMAIN=settings.platform_domain,
        PAYFACILE_HOST_CACHE_SECONDS=str(settings.host_cache_seconds),
        PAYFACILE_DNS_NAMESERVERS=",".join(settings.dns_nameservers),
        PAYFACILE_PLATFORM_IPS=",".join(settings.platform_ips),
        PAYFACILE_ACME_DIRECTORY_URL=settings.acme_directory_url,
        PAYFACILE_ACME_CA_BUNDLE=settings.acme_ca_bundle,
        PAYFACILE_ACME_HTTP_PORT=str(settings.acme_http_port),
    )
    env.update(extra)
    return env


def require_tool(name: str, package: str) -> str:
    """The tool's path; a missing tool fails under CI and skips (saying why) elsewhere."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (Debian package {package})"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@dataclass(frozen=True)
class RunningApp:
    """What a test calls services with beside the running app: its settings and its host
    resolver (whose cache the services invalidate)."""

    settings: Settings
    hosts: HostResolver


@pytest.fixture
def services(app: Quart, settings: Settings) -> RunningApp:
    return RunningApp(settings=settings, hosts=resolver_of(app))


@pytest.fixture(scope="session")
def challtestsrv() -> Iterator[ChallTestSrv]:
    """One pebble-challtestsrv per test process, as the DNS that domain checks ask. Tests
    use hostnames of their own (`unique_host`), so none sees another's records."""
    executable = require_tool("pebble-challtestsrv", "pebble")
    with challtestsrv_running(executable) as server:
        yield server


def unique_host(label: str = "shop") -> str:
    """A hostname no other test uses, under a registered domain of its own."""
    return f"{label}.m{uuid.uuid4().hex[:10]}.example"


@pytest.fixture
def http_port() -> int:
    """The port the app serves HTTP on, where Pebble fetches the challenges."""
    return free_port()


@pytest.fixture
def nonce_reject_percent() -> int:
    """How many of the good nonces Pebble rejects as bad (a test parametrizes it)."""
    return 0


@pytest.fixture
def validation_sleep() -> int:
    """Up to how many seconds Pebble waits before it validates (a test parametrizes it)."""
    return 0


@pytest.fixture
def pebble(
    challtestsrv: ChallTestSrv,
    http_port: int,
    tmp_path: Path,
    nonce_reject_percent: int,
    validation_sleep: int,
) -> Iterator[Pebble]:
    executable = require_tool("pebble", "pebble")
    with pebble_running(
        executable,
        tmp_path / "pebble",
        dns_server=challtestsrv.nameserver,
        http_port=http_port,
        nonce_reject_percent=nonce_reject_percent,
        validation_sleep=validation_sleep,
    ) as ca:
        yield ca


def ordering_from(settings: Settings, challtestsrv: ChallTestSrv, pebble: Pebble) -> Settings:
    """`settings` ordering certificates from `pebble`, asking `challtestsrv` for DNS (a
    test module's `settings` fixture returns this)."""
    return settings.model_copy(
        update={
            "dns_nameservers": [challtestsrv.nameserver],
            "acme_directory_url": pebble.directory_url,
            "acme_ca_bundle": str(pebble.ca_bundle),
            "acme_http_port": pebble.http_port,
        }
    )
