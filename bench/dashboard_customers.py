"""The dashboard's customer list, measured: how many queries a page makes with 10 customers
and with 10,000 (keyset pages: the same few, never the whole table), and how long it takes.

In this process, through the app's test client, on a throwaway SQLite file or PostgreSQL
database (with Redis when given). Figures only, no assertion.

    .venv/bin/python bench/dashboard_customers.py
    .venv/bin/python bench/dashboard_customers.py \\
        --postgres postgres://postgres@127.0.0.1:5432/postgres --redis redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from payfacile.app import create_app  # noqa: E402
from payfacile.platform import db  # noqa: E402
from payfacile.platform.config import Settings  # noqa: E402
from payfacile.platform.models import SessionKind  # noqa: E402
from payfacile.platform.services import EXTENSION, Services  # noqa: E402
from payfacile.portal.models import Customer  # noqa: E402
from payfacile.schema import MODEL_MODULES  # noqa: E402
from payfacile.tenants.models import Membership, MembershipRole, MerchantUser, Store  # noqa: E402
from payfacile.tenants.scope import scoped  # noqa: E402

SIZES = (10, 10_000)
SAMPLES = 20
CENTRAL = "payfacile.localhost"


class Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


async def add_customers(store: Store, start: int, stop: int) -> None:
    for first in range(start, stop, 1000):
        rows = [
            {"email": f"c{n:06d}@example.com", "name": f"Customer {n}"}
            for n in range(first, min(first + 1000, stop))
        ]
        await scoped(store).create_many(Customer, rows)


async def measure(settings: Settings) -> None:
    await db.migrate(settings, MODEL_MODULES)
    app = create_app(settings, background=False)
    async with app.test_app():
        store = await Store.create(slug="bench", name="Bench", support_email="s@example.com")
        user = await MerchantUser.create(email="owner@example.com")
        await scoped(store).create(Membership, user_id=user.id, role=MembershipRole.OWNER)
        found: Services = app.extensions[EXTENSION]
        session = await found.sessions.start(
            kind=SessionKind.MERCHANT, subject_id=user.id, store_id=None
        )
        client = app.test_client(use_cookies=False)
        headers = {"Host": CENTRAL, "Cookie": f"pf_session={session}"}
        counter = Counter()
        log = logging.getLogger("tortoise.db_client")
        log.setLevel(logging.DEBUG)
        log.addHandler(counter)
        log.propagate = False
        made = 0
        print(f"{'customers':>10}  {'page':<22} {'queries':>7}  {'median ms':>9}")
        for size in SIZES:
            await add_customers(store, made, size)
            made = size
            middle = await scoped(store).query(Customer).get(email=f"c{size // 2:06d}@example.com")
            pages = {
                "first page": "/dashboard/bench/customers",
                "a page in the middle": f"/dashboard/bench/customers?after={middle.id}",
                "a search": "/dashboard/bench/customers?q=customer+9",
            }
            for label, path in pages.items():
                await client.get(path, headers=headers)  # caches warm: host, session
                counter.count = 0
                response = await client.get(path, headers=headers)
                assert response.status_code == 200, (path, response.status_code)
                queries = counter.count
                times = []
                for _ in range(SAMPLES):
                    began = time.perf_counter()
                    await client.get(path, headers=headers)
                    times.append((time.perf_counter() - began) * 1000)
                median = statistics.median(times)
                print(f"{size:>10,}  {label:<22} {queries:>7}  {median:>9.1f}", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="an admin URL; a throwaway database is made there")
    parser.add_argument("--redis", default="", help="a Redis URL (a throwaway key prefix)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pf-bench-") as work:
        values: dict[str, object] = {
            "env": "test",
            "data_dir": Path(work),
            "secret_key": ["bench-secret-key-of-32-bytes-or-more"],
            "platform_domain": CENTRAL,
            "redis_url": args.redis,
            "redis_prefix": f"pfbench:{uuid.uuid4().hex[:12]}:",
        }
        try:
            await on_backend(args, values)
        finally:
            if args.redis:
                await drop_keys(args.redis, str(values["redis_prefix"]))


async def drop_keys(url: str, prefix: str) -> None:
    import redis.asyncio as redis

    client = redis.Redis.from_url(url)
    keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def on_backend(args: argparse.Namespace, values: dict[str, object]) -> None:
    if not args.postgres:
        await measure(Settings(**values))  # type: ignore[arg-type]
        return
    import asyncpg

    name = f"pf_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(args.postgres.replace("postgres://", "postgresql://"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        base = args.postgres.rsplit("/", 1)[0]
        await measure(Settings(**values, database_url=f"{base}/{name}"))  # type: ignore[arg-type]
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
