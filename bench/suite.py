"""`make bench`: issue 16's cases side by side, at scale, on the real server; writes RESULTS.md.

1. Seeds a throwaway PostgreSQL database (migrated by `payfacile migrate`, with the demo store
   of `payfacile demo`) through COPY: 10,000 stores each with an owner, 100,000 custom domains
   in serving states, 1,000,000 orders (one buyer with 100,000, one with 10, one with a 20-row
   page) with an invoice for every paid or fulfilled one, a store with 100,000 customers and
   one with 10. Rows take the models' own defaults (`Rows`). `--scale` multiplies the counts.
2. Serves them with one Uvicorn worker (`payfacile serve --workers 1 --no-access-log`; the
   ceilings and the bare route with `uvicorn --factory` and the same settings, see
   bench/resolution.py) and loads each case from wrk on the loopback at 32 connections: a
   warm-up, then `--rounds` rounds; the median round is reported. Buyers and merchants sign in
   through the real forms. Host resolution is measured with 10 custom domains, then again
   after the other 99,990 are added, on a host the cache has not seen.
3. Adds the first render of a 20-line invoice (bench/orders.py) and the TLS handshake figures
   of bench/certificates.py (a subprocess with Pebble; skipped when Pebble is missing).
4. Writes bench/RESULTS.md, keeping the previous run under "Before".

Figures only: a missed target is reported, never a failure.

    .venv/bin/python bench/suite.py --scale 0.01   # a quick try
    make bench                                     # the full scale (several minutes)
    .venv/bin/python bench/suite.py --scale 0.01 --only login,orders-20 --profile
                                 # some cases, each with a py-spy profile (RESULTS.md untouched)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import enum
import importlib.metadata
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import profiles  # noqa: E402
from bench.bare_app import BARE_BODY, BARE_PATH  # noqa: E402
from bench.orders import PASSWORD, invoice_figures, sign_in  # noqa: E402
from bench.orders import issue_invoices as orders_issue_invoices  # noqa: E402
from bench.resolution import (  # noqa: E402
    BIN,
    LOOPBACK,
    PLATFORM_DOMAIN,
    STORE_HOST,
    STORE_NAME,
    BenchError,
    Result,
    Server,
    Setup,
    Target,
    code_version,
    cpu_busy,
    get,
    parse_args,
    run_until_done,
    run_wrk,
    set_up,
)

RESULTS = ROOT / "bench" / "RESULTS.md"
PROFILES = ROOT / "bench" / "profiles"  # `--profile`: py-spy's raw files (not in git)
CASE_KEYS = (
    *("asgi", "quart", "store", "domain-10", "domain-all", "login", "orders-20"),
    *("orders-small", "orders-big", "pdf", "customers-few", "customers-crowd"),
)
RUN_MARK = "<!-- run -->"
RUN_END = "<!-- /run -->"
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
CHUNK = 50_000  # rows per COPY
STORES = 10_000
DOMAINS = 100_000
FIRST_DOMAINS = 10  # host resolution is measured with these, then with all
ORDERS = 1_000_000
BIG, SMALL, LIST = 100_000, 10, 20  # the demo store's bench buyers' orders
CUSTOMERS_PER_STORE = 5  # the other stores' buyers, who place the rest of the orders
CROWD, FEW = 100_000, 10  # customers of the two stores whose dashboards are measured
STATUSES = ("paid", "fulfilled", "pending", "paid")  # orders; invoiced unless pending
# Every state a custom domain is served in; the measured hosts are `verified` (plain HTTP:
# `active` and `renewing` redirect to HTTPS).
DOMAIN_STATUSES = ("verified", "issuing", "active", "renewing", "dns_moved")
START = datetime(2020, 1, 1, tzinfo=UTC)


# --- seeding -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Seeded:
    """What the cases need from the data, and how long it took to make."""

    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    buyers: dict[str, str] = dataclasses.field(default_factory=dict)  # role → email
    merchants: dict[str, str] = dataclasses.field(default_factory=dict)  # store slug → email
    domains: list[str] = dataclasses.field(default_factory=list)  # measured hosts
    invoices: list[str] = dataclasses.field(default_factory=list)  # 20-line, not rendered
    snapshot: dict[str, Any] = dataclasses.field(default_factory=dict)
    next_domain: int = 0  # the index of the first domain still to add
    store_ids: list[int] = dataclasses.field(default_factory=list)  # the domains' stores


class Rows:
    """A model's table as Tortoise stores it: its columns, and each row's values with the
    model's defaults (enums as their values, JSON as text, auto_now* as `now`)."""

    MISSING = object()

    def __init__(self, model: Any, now: datetime) -> None:
        meta = model._meta
        self.table: str = meta.db_table
        names = list(meta.fields_db_projection)
        self.columns = [meta.fields_db_projection[name] for name in names]
        self.index = {name: n for n, name in enumerate(names)}
        self.json = {n for n, name in enumerate(names) if _is_json(meta.fields_map[name])}
        self.template: list[object] = []
        for name in names:
            field = meta.fields_map[name]
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                value: object = now
            elif field.default is not None:
                value = field.default() if callable(field.default) else field.default
            else:
                value = None if field.null else self.MISSING
            self.template.append(value.value if isinstance(value, enum.Enum) else value)

    def row(self, values: dict[str, object]) -> tuple[object, ...]:
        out = self.template.copy()
        for name, value in values.items():
            out[self.index[name]] = value.value if isinstance(value, enum.Enum) else value
        for n in self.json:
            if out[n] is not None and out[n] is not self.MISSING:
                out[n] = json.dumps(out[n])
        if self.MISSING in out:
            missing = [c for c, v in zip(self.columns, out, strict=True) if v is self.MISSING]
            raise BenchError(f"{self.table}: no value for {', '.join(missing)}")
        return tuple(out)


def _is_json(field: object) -> bool:
    from tortoise.fields import JSONField

    return isinstance(field, JSONField)


def progress(label: str, done: int, total: int, began: float) -> None:
    width = 30
    filled = width * done // max(total, 1)
    bar = "#" * filled + "." * (width - filled)
    line = f"  {label:<22} [{bar}] {done:>9,}/{total:,}  {time.monotonic() - began:5.1f} s"
    if sys.stdout.isatty():
        print(f"\r{line}", end="\n" if done >= total else "", flush=True)
    elif done >= total:
        print(line, flush=True)


async def copy_rows(
    connection: Any, rows: Rows, label: str, values: Iterable[dict[str, object]], total: int
) -> float:
    """COPY `values` into `rows.table` in chunks, with a progress bar; the seconds it took."""
    began = time.monotonic()
    done = 0
    chunk: list[tuple[object, ...]] = []
    progress(label, 0, total, began)
    for value in values:
        chunk.append(rows.row(value))
        if len(chunk) >= CHUNK:
            await connection.copy_records_to_table(rows.table, records=chunk, columns=rows.columns)
            done += len(chunk)
            chunk = []
            if done < total:
                progress(label, done, total, began)
    if chunk:
        await connection.copy_records_to_table(rows.table, records=chunk, columns=rows.columns)
    progress(label, total, total, began)
    return time.monotonic() - began


def scaled(count: int, scale: float, least: int = 1) -> int:
    return max(least, round(count * scale))


def postgresql(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


async def seed(database_url: str, scale: float) -> Seeded:
    """Everything but the last custom domains (`add_domains`), on the demo store's database."""
    import asyncpg  # type: ignore[import-untyped]

    from payfacile.platform import db
    from payfacile.platform.config import Settings
    from payfacile.platform.passwords import hash_password
    from payfacile.portal.models import Customer, Invoice, Order
    from payfacile.schema import MODEL_MODULES
    from payfacile.tenants.models import Membership, MerchantUser, Store

    seeded = Seeded()
    now = datetime.now(UTC)
    password_hash = await hash_password(PASSWORD)
    stores_total = scaled(STORES, scale, 4)
    orders_total = scaled(ORDERS, scale, 1000)
    big = scaled(BIG, scale, 100)
    crowd = scaled(CROWD, scale, 100)
    await db.init_db(Settings(), MODEL_MODULES)  # the models' metadata, and the app's code below
    connection = await asyncpg.connect(postgresql(database_url))
    try:
        ids = {}
        for model in (Store, Customer, Order, Invoice, MerchantUser, Membership):
            table = model._meta.db_table
            query = f'SELECT coalesce(max(id), 0) FROM "{table}"'  # noqa: S608 - a model's table
            ids[table] = await connection.fetchval(query)
        demo = await connection.fetchval("SELECT id FROM store WHERE slug = 'demo'")
        if demo is None:
            raise BenchError("`payfacile demo` made no store with the slug demo")

        # Stores: the domains' and buyers' stores, and two for the dashboard's customer list.
        rows = Rows(Store, now)
        first_store = ids["store"] + 1
        others = stores_total - 3  # the demo store, crowd and few are the other three
        slugs = [f"shop{n:05d}" for n in range(others)] + ["crowd", "few"]
        names = [f"Shop {n}" for n in range(others)] + ["Crowd Roasters", "Few Roasters"]
        store_ids = [first_store + n for n in range(len(slugs))]
        seeded.store_ids = store_ids[:others]
        seeded.seconds["stores"] = await copy_rows(
            connection,
            rows,
            "stores",
            (
                {
                    "id": store_ids[n],
                    "slug": slug,
                    "name": names[n],
                    "support_email": f"help@{slug}.example",
                    "country": "FR",
                    "domain_token": f"token-{slug}",
                }
                for n, slug in enumerate(slugs)
            ),
            len(slugs),
        )
        # An owner for each of them, who can sign in.
        first_user = ids["merchant_user"] + 1
        seeded.seconds["merchants"] = await copy_rows(
            connection,
            Rows(MerchantUser, now),
            "merchants",
            (
                {
                    "id": first_user + n,
                    "email": f"owner@{slug}.example",
                    "name": f"Owner of {slug}",
                    "password_hash": password_hash,
                }
                for n, slug in enumerate(slugs)
            ),
            len(slugs),
        )
        seeded.seconds["memberships"] = await copy_rows(
            connection,
            Rows(Membership, now),
            "memberships",
            (
                {
                    "id": ids["membership"] + 1 + n,
                    "store_id": store_ids[n],
                    "user_id": first_user + n,
                    "role": "owner",
                }
                for n in range(len(slugs))
            ),
            len(slugs),
        )
        seeded.merchants = {"crowd": "owner@crowd.example", "few": "owner@few.example"}

        # Customers: the demo store's three bench buyers, five for each shop, and the crowd.
        customers: list[tuple[int, int]] = []  # (id, store id) of the shops' buyers
        next_customer = ids["customer"] + 1

        def customer_rows() -> Iterator[dict[str, object]]:
            nonlocal next_customer
            for role in ("big", "small", "list"):
                email = f"bench-{role}@example.com"
                seeded.buyers[role] = email
                yield {
                    "id": next_customer,
                    "store_id": demo,
                    "email": email,
                    "name": f"Bench {role.title()} Buyer",
                    "password_hash": password_hash,
                    "activated_at": now,
                }
                next_customer += 1
            for n in range(others):
                for k in range(CUSTOMERS_PER_STORE):
                    customers.append((next_customer, store_ids[n]))
                    yield {
                        "id": next_customer,
                        "store_id": store_ids[n],
                        "email": f"buyer{k}@shop{n:05d}.example",
                        "name": f"Buyer {k} of shop {n}",
                    }
                    next_customer += 1
            for slug, count in (("crowd", crowd), ("few", FEW)):
                store_id = store_ids[slugs.index(slug)]
                for n in range(count):
                    yield {
                        "id": next_customer,
                        "store_id": store_id,
                        "email": f"c{n:06d}@{slug}.example",
                        "name": f"Customer {n}",
                    }
                    next_customer += 1

        customers_total = 3 + others * CUSTOMERS_PER_STORE + crowd + FEW
        seeded.seconds["customers"] = await copy_rows(
            connection, Rows(Customer, now), "customers", customer_rows(), customers_total
        )
        demo_buyers = {
            role: ids["customer"] + 1 + n for n, role in enumerate(("big", "small", "list"))
        }

        # Orders: the demo store's bench buyers', then the rest spread over the shops' buyers.
        # Every paid or fulfilled order has its invoice, as the order lists show them.
        first_order = ids["order"] + 1
        plan = [(demo_buyers["big"], demo, big), (demo_buyers["small"], demo, SMALL)]
        plan.append((demo_buyers["list"], demo, LIST))
        rest = max(0, orders_total - big - SMALL - LIST)

        def owners() -> Iterator[tuple[int, int]]:
            for customer_id, store_id, count in plan:
                for _ in range(count):
                    yield customer_id, store_id
            for n in range(rest):
                yield customers[n % len(customers)]

        def order_rows() -> Iterator[dict[str, object]]:
            for n, (customer_id, store_id) in enumerate(owners()):
                yield {
                    "id": first_order + n,
                    "store_id": store_id,
                    "customer_id": customer_id,
                    "number": f"B{first_order + n}",
                    "status": STATUSES[n % len(STATUSES)],
                    "currency": "EUR",
                    "subtotal": 1000 + n % 500,
                    "tax_total": 200,
                    "total": 1200 + n % 500,
                    "placed_at": START + timedelta(minutes=n),
                }

        def invoice_rows() -> Iterator[dict[str, object]]:
            number = ids["invoice"] + 1
            for n, (customer_id, store_id) in enumerate(owners()):
                if STATUSES[n % len(STATUSES)] == "pending":
                    continue
                yield {
                    "id": number,
                    "store_id": store_id,
                    "customer_id": customer_id,
                    "order_id": first_order + n,
                    "number": f"B-{first_order + n}",
                    "kind": "invoice",
                    "issued_at": START + timedelta(minutes=n, hours=1),
                    "currency": "EUR",
                    "snapshot": {},
                    "total": 1200 + n % 500,
                }
                number += 1

        orders_count = big + SMALL + LIST + rest
        invoiced = sum(1 for n in range(orders_count) if STATUSES[n % len(STATUSES)] != "pending")
        seeded.seconds["orders"] = await copy_rows(
            connection, Rows(Order, now), "orders", order_rows(), orders_count
        )
        seeded.seconds["invoices"] = await copy_rows(
            connection, Rows(Invoice, now), "invoices", invoice_rows(), invoiced
        )
        seeded.counts = {
            "stores": stores_total,
            "merchants (owners)": len(slugs),
            "customers": customers_total,
            "orders": orders_count,
            "invoices": invoiced,
            "orders of the 100,000-order buyer": big,
            "customers of the crowded store": crowd,
        }
        began = time.monotonic()
        for model in (Store, Customer, Order, Invoice, MerchantUser, Membership):
            await _after_copy(connection, model._meta.db_table)
        seeded.seconds["sequences, ANALYZE"] = time.monotonic() - began

        # The 20-line invoices whose first render is measured: through the app's own code.
        began = time.monotonic()
        seeded.invoices, seeded.snapshot = await issue_invoices(demo, demo_buyers["list"])
        seeded.seconds["20-line invoices (app code)"] = time.monotonic() - began
        seeded.domains.append(_hostname(0))
        seeded.seconds["custom domains"] = await add_domains(
            database_url, seeded, FIRST_DOMAINS, scaled(DOMAINS, scale, 100)
        )
    finally:
        await connection.close()
        await db.close_db()
    return seeded


async def _after_copy(connection: Any, table: str) -> None:
    """Explicit ids were copied: move the table's sequence past them; refresh its statistics
    (as autovacuum would soon after a load)."""
    sequence = f"pg_get_serial_sequence('\"{table}\"', 'id')"
    last = f'SELECT coalesce(max(id), 1) FROM "{table}"'  # noqa: S608 - a model's table
    await connection.execute(f"SELECT setval({sequence}, ({last}))")
    await connection.execute(f'ANALYZE "{table}"')


async def issue_invoices(store_id: int, customer_id: int) -> tuple[list[str], dict[str, Any]]:
    """bench/orders.py's 20-line invoices, for the demo store's buyer `customer_id`."""
    from payfacile.portal.models import Customer
    from payfacile.tenants.models import Store
    from payfacile.tenants.scope import scoped

    store = await Store.get(id=store_id)
    buyer = await scoped(store).query(Customer).get(id=customer_id)
    return await orders_issue_invoices(store, buyer, START)


def _hostname(n: int) -> str:
    return f"d{n:06d}.bench-shops.example"


async def add_domains(database_url: str, seeded: Seeded, upto: int, total: int) -> float:
    """Custom domains `seeded.next_domain` up to `upto` (at most `total`), spread over the
    shops, in the serving states by turns (Tortoise initialised: `Rows` reads the models)."""
    import asyncpg

    from payfacile.tenants.models import Domain

    now = datetime.now(UTC)
    upto = min(upto, total)
    first, seeded.next_domain = seeded.next_domain, upto
    shops = seeded.store_ids
    rows = Rows(Domain, now)
    connection = await asyncpg.connect(postgresql(database_url))
    try:
        first_id = await connection.fetchval("SELECT coalesce(max(id), 0) + 1 FROM domain")
        seconds = await copy_rows(
            connection,
            rows,
            "custom domains",
            (
                {
                    "id": first_id + n - first,
                    "store_id": shops[n % len(shops)],
                    "hostname": _hostname(n),
                    "status": DOMAIN_STATUSES[n % len(DOMAIN_STATUSES)],
                    "verification_token": f"token-shop{n % len(shops):05d}",
                    "pending_since": now - timedelta(days=2),
                    "checked_at": now,
                    "verified_at": now - timedelta(days=1),
                    "next_attempt_at": now + timedelta(hours=4),
                }
                for n in range(first, upto)
            ),
            upto - first,
        )
        await _after_copy(connection, rows.table)
    finally:
        await connection.close()
    seeded.counts["custom domains"] = upto
    return seconds


# --- servers and cases ---------------------------------------------------------------------------


async def add_other_domains(database_url: str, seeded: Seeded, total: int) -> float:
    from payfacile.platform import db
    from payfacile.platform.config import Settings
    from payfacile.schema import MODEL_MODULES

    await db.init_db(Settings(), MODEL_MODULES)
    try:
        return await add_domains(database_url, seeded, total, total)
    finally:
        await db.close_db()


def create_asgi() -> Callable[..., Awaitable[None]]:
    """A bare ASGI app (`uvicorn --factory bench.suite:create_asgi`): "ok" to any request."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        headers = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": BARE_BODY.encode()})

    return app


class PayfacileServe(Server):
    """`payfacile serve` itself: one worker, no access log, the benchmark's environment."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        super().__init__("payfacile serve", env, log_path)

    def command(self) -> list[str]:
        serve = [str(BIN / "payfacile"), "serve", "--host", LOOPBACK, "--port", str(self.port)]
        return [*serve, "--workers", "1", "--no-access-log"]


@dataclasses.dataclass(frozen=True)
class Case:
    """One line of the table: what to load, what a right answer holds, and its goal."""

    key: str
    target: Target
    marker: str  # the body holds it (or is `target.expect_body`)
    goal: str = ""  # the target in words, "" for a reference line


@dataclasses.dataclass(frozen=True)
class Measured:
    case: Case
    median: Result  # the median round by requests/s
    rounds: list[float]  # requests/s of each round
    busy: float | None  # the machine's busy share just before the case
    profile: Path | None = None  # py-spy's raw samples of an extra round (`--profile`)


def check(port: int, case: Case) -> None:
    target = case.target
    status, body = get(port, target.path, target.host, target.cookie)
    expected = target.expect_body
    ok = status == 200 and (body == expected if expected is not None else case.marker in body)
    if not ok:
        raise BenchError(f"{target.label}: GET {target.path} answered {status}: {body[:300]!r}")


def measure_case(
    setup: Setup, server: Server, case: Case, rounds: int, profile_dir: Path | None = None
) -> Measured:
    """A warm-up, then `rounds` rounds of `setup.load`; the median round, with the server's
    CPU time per request. With `profile_dir`, one more round under py-spy (bench/profiles.py),
    never one of those measured."""
    check(server.port, case)
    busy = cpu_busy()
    load, target = setup.load, case.target
    print(f"  {target.label} …", end="", flush=True)
    if load.warmup_seconds:
        run_wrk(setup.wrk, setup.script, server.port, target, load.warmup_seconds, load)
    results = []
    for _ in range(rounds):
        cpu_before = server.cpu_seconds()
        result = run_wrk(setup.wrk, setup.script, server.port, target, load.seconds, load)
        cpu_after = server.cpu_seconds()
        if cpu_before is not None and cpu_after is not None and result.requests:
            per_request = (cpu_after - cpu_before) / result.requests * 1e6
            result = dataclasses.replace(result, server_cpu_us=per_request)
        results.append(result)
        print(f" {result.requests_per_second:,.0f}", end="", flush=True)
    print(" requests/s", flush=True)
    ordered = sorted(results, key=lambda r: r.requests_per_second)
    rps = [r.requests_per_second for r in results]
    profile = profile_round(setup, server, case, profile_dir) if profile_dir else None
    return Measured(case, ordered[len(ordered) // 2], rps, busy, profile)


def profile_round(setup: Setup, server: Server, case: Case, profile_dir: Path) -> Path | None:
    """py-spy's samples of the server over one more round of the case's load."""
    out = profile_dir / f"{case.key}.txt"
    if server.process is None:
        return None
    spy = profiles.record(server.process.pid, setup.load.seconds, out)
    if spy is None:
        print("  (py-spy is missing: no profile)", flush=True)
        return None
    run_wrk(setup.wrk, setup.script, server.port, case.target, setup.load.seconds, setup.load)
    _, error = spy.communicate(timeout=setup.load.seconds + 30)
    if spy.returncode != 0 or not out.exists():
        print(f"  (py-spy failed: {error.decode(errors='replace').strip()[-200:]})", flush=True)
        return None
    return out


@contextlib.contextmanager
def serving(server: Server, stack: contextlib.ExitStack) -> Iterator[Server]:
    """The server entered on `stack` (stopped even on Ctrl-C), and stopped after the block."""
    stack.enter_context(server)
    try:
        yield server
    finally:
        server.stop()


# --- the run ---------------------------------------------------------------------------------


def run(args: argparse.Namespace, stack: contextlib.ExitStack) -> None:
    started = time.monotonic()
    load_before = os.getloadavg()
    setup = set_up(args, stack)
    work, env = setup.work, setup.env
    os.environ.update({k: v for k, v in env.items() if k.startswith("PAYFACILE_")})
    database_url = setup.backend.database_url
    print(f"Seeding at scale {args.scale:g} (COPY through asyncpg) …", flush=True)
    began = time.monotonic()
    seeded = asyncio.run(seed(database_url, args.scale))
    seed_seconds = time.monotonic() - began
    print(f"Seeded in {seed_seconds:.1f} s", flush=True)

    measured: list[Measured] = []
    profile_dir = PROFILES if args.profile else None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)

    def run_cases(server: Server, cases: list[Case]) -> None:
        for case in cases:
            if args.only and case.key not in args.only and case.key != "quart":
                continue
            measured.append(measure_case(setup, server, case, args.rounds, profile_dir))

    store, central = STORE_HOST, PLATFORM_DOMAIN
    print("Measuring (warm-up, then rounds of requests/s):", flush=True)
    with serving(Server("bench.suite:create_asgi", env, work / "asgi.log"), stack) as server:
        target = Target("bare ASGI app", BARE_PATH, store, expect_body=BARE_BODY)
        run_cases(server, [Case("asgi", target, BARE_BODY, "ceiling")])
    plain = Server("bench.bare_app:create_plain", env, work / "quart.log")
    with serving(plain, stack) as server:
        target = Target("bare Quart app", BARE_PATH, store, expect_body=BARE_BODY)
        run_cases(server, [Case("quart", target, BARE_BODY, "ceiling")])
    small_host, big_host = seeded.domains[0], _hostname(_last_verified(seeded.counts))
    app = Server("bench.bare_app:create", env, work / "bare-route.log")
    with serving(app, stack) as server:
        run_cases(
            server,
            [
                Case(
                    "store",
                    Target("resolved store page, nothing else", BARE_PATH, store, BARE_BODY),
                    BARE_BODY,
                    "overhead ≤ 5 % vs bare Quart",
                ),
                Case(
                    "domain-10",
                    Target(
                        f"custom domain host, {FIRST_DOMAINS} domains",
                        BARE_PATH,
                        small_host,
                        BARE_BODY,
                    ),
                    BARE_BODY,
                ),
            ],
        )
    print("Adding the other custom domains …", flush=True)
    began = time.monotonic()
    total_domains = scaled(DOMAINS, args.scale, 100)
    more = asyncio.run(add_other_domains(database_url, seeded, total_domains))
    seeded.seconds["custom domains"] += more
    seed_seconds += time.monotonic() - began
    seeded.domains.append(big_host)
    app = Server("bench.bare_app:create", env, work / "bare-route-2.log")
    with serving(app, stack) as server:
        label = f"custom domain host, {total_domains:,} domains"
        target = Target(label, BARE_PATH, big_host, BARE_BODY)
        run_cases(server, [Case("domain-all", target, BARE_BODY, "≤ 1.1× the 10's")])

    with serving(PayfacileServe(env, work / "serve.log"), stack) as server:
        port = server.port
        buyers = {role: sign_in(port, email) for role, email in seeded.buyers.items()}
        merchants = {
            slug: sign_in(port, email, central, "/account/login")
            for slug, email in seeded.merchants.items()
        }
        pdf = invoice_figures(port, buyers["list"], seeded.invoices, seeded.snapshot)
        stored = f"/portal/invoices/{seeded.invoices[1]}.pdf"
        big = seeded.counts["orders of the 100,000-order buyer"]
        crowd = seeded.counts["customers of the crowded store"]
        orders = "/portal/orders"
        run_cases(
            server,
            [
                Case(
                    "login",
                    Target("store login page", "/portal/login", store),
                    STORE_NAME,
                    "≥ 0.4× bare Quart",
                ),
                Case(
                    "orders-20",
                    Target("order list, 20 orders rendered", orders, store, cookie=buyers["list"]),
                    "B-",
                    "≥ 0.25× bare Quart, p99 < 50 ms",
                ),
                Case(
                    "orders-small",
                    Target(
                        f"order list, {SMALL}-order buyer", orders, store, None, buyers["small"]
                    ),
                    "B-",
                ),
                Case(
                    "orders-big",
                    Target(f"order list, {big:,}-order buyer", orders, store, None, buyers["big"]),
                    "B-",
                    f"latency ≤ 1.2× the {SMALL}-order buyer's",
                ),
                Case(
                    "pdf",
                    Target("stored invoice PDF", stored, store, cookie=buyers["list"]),
                    "%PDF",
                    "≥ 0.4× bare Quart",
                ),
                Case(
                    "customers-few",
                    Target(
                        f"dashboard customers, {FEW} customers",
                        "/dashboard/few/customers",
                        central,
                        cookie=merchants["few"],
                    ),
                    "Few Roasters",
                ),
                Case(
                    "customers-crowd",
                    Target(
                        f"dashboard customers, {crowd:,} customers",
                        "/dashboard/crowd/customers",
                        central,
                        cookie=merchants["crowd"],
                    ),
                    "Crowd Roasters",
                    f"latency ≤ 1.2× the {FEW}-customer store's",
                ),
            ],
        )
        log = server.log_tail()
    tls = tls_figures(args.tls_seconds) if args.tls_seconds and not args.only else None
    load_after = os.getloadavg()
    took = time.monotonic() - started
    text = report(args, setup, seeded, seed_seconds, measured, pdf, tls, load_before, load_after)
    print()
    print(text)
    if args.only:  # a partial run replaces no full one
        print(f"\n(--only: {RESULTS.relative_to(ROOT)} left as it was; {took / 60:.1f} min.)")
    else:
        write_results(text)
        print(f"Wrote {RESULTS.relative_to(ROOT)}; the whole run took {took / 60:.1f} min.")
    if "Traceback" in log or "ERROR" in log:
        print(f"\nThe PayFacile server logged:\n{log}")


def _last_verified(counts: dict[str, int]) -> int:
    """The index of a `verified` domain among the last ones added (not yet cached anywhere)."""
    last = counts.get("custom domains", 0)
    return max(FIRST_DOMAINS, last - 1 - (last - 1) % len(DOMAIN_STATUSES))


# --- TLS (bench/certificates.py) -------------------------------------------------------------

TLS_LINES = {
    "sni": r"custom domain \(sni_callback.*?(\d+)/s",
    "static": r"central host \(the self-signed default.*?(\d+)/s",
    "same_chain": r"own chain as the default:\s+(\d+)/s",
}


def tls_figures(seconds: int) -> dict[str, float] | str:
    """bench/certificates.py's handshakes per second (one domain issued by Pebble), or why
    there are none."""
    print("TLS handshakes: bench/certificates.py (Pebble) …", flush=True)
    command = [sys.executable, str(ROOT / "bench" / "certificates.py")]
    command += ["--samples", "1", "--at-once", "1", "--seconds", str(seconds)]
    # Its own settings: none of the suite's `PAYFACILE_*` (this process took them for seeding).
    env = {key: value for key, value in os.environ.items() if not key.startswith("PAYFACILE_")}
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT, env=env)
    found = {}
    for key, pattern in TLS_LINES.items():
        match = re.search(pattern, done.stdout)
        if match:
            found[key] = float(match.group(1))
    if done.returncode != 0 or len(found) != len(TLS_LINES):
        last = (done.stdout + done.stderr).strip().splitlines()[-3:]
        return f"bench/certificates.py gave no figures ({done.returncode}): {' / '.join(last)}"
    return found


# --- the report ------------------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def machine() -> str:
    model = "unknown CPU"
    memory = "?"
    with contextlib.suppress(OSError):
        cpuinfo = Path("/proc/cpuinfo").read_text()
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
        model = found.group(1).strip() if found else model
    with contextlib.suppress(OSError, AttributeError, ValueError):
        kib = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
        memory = f"{int(kib.group(1)) / 1024 / 1024:.1f} GiB" if kib else memory
    return f"{model}, {os.cpu_count()} cores, {memory} of memory"


async def server_versions(database_url: str, redis_url: str) -> tuple[str, str]:
    import asyncpg
    import redis.asyncio as redis

    connection = await asyncpg.connect(postgresql(database_url))
    try:
        postgres = str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()
    client = redis.Redis.from_url(redis_url)
    try:
        info = await client.info("server")
        redis_version = str(info.get("redis_version", "?"))
    finally:
        await client.aclose()
    return postgres, redis_version


def _ms(microseconds: float) -> str:
    return f"{microseconds / 1000:.1f} ms"


def verdicts(by: dict[str, Measured]) -> dict[str, tuple[str, bool | None]]:
    """Each case's ratio in words, and whether it meets its target (None: no target)."""

    def rps(key: str) -> float:
        return by[key].median.requests_per_second

    quart = rps("quart")
    found: dict[str, tuple[str, bool | None]] = {key: ("", None) for key in by}
    found["quart"] = ("1.00×", None)
    if "asgi" in by:
        found["asgi"] = (f"{rps('asgi') / quart:.2f}× bare Quart", None)
    if "store" in by:
        overhead = 1 - rps("store") / quart
        found["store"] = (f"overhead {overhead:.1%}", overhead <= 0.05)
    for key, least in (("login", 0.4), ("pdf", 0.4)):
        if key in by:
            found[key] = (f"{rps(key) / quart:.2f}×", rps(key) / quart >= least)
    if "orders-20" in by:
        share = rps("orders-20") / quart
        p99 = by["orders-20"].median.p99_us / 1000
        found["orders-20"] = (f"{share:.2f}×, p99 {p99:.0f} ms", share >= 0.25 and p99 < 50)
    # At a fixed 32 connections, the mean latency is 32 / (requests/s) (Little's law).
    for small, large, most in (
        ("domain-10", "domain-all", 1.1),
        ("orders-small", "orders-big", 1.2),
        ("customers-few", "customers-crowd", 1.2),
    ):
        if small in by and large in by:
            ratio = rps(small) / rps(large)
            found[small] = ("reference", None)
            found[large] = (f"latency {ratio:.2f}×", ratio <= most)
    return found


def report(
    args: argparse.Namespace,
    setup: Setup,
    seeded: Seeded,
    seed_seconds: float,
    measured: list[Measured],
    pdf: dict[str, float],
    tls: dict[str, float] | str | None,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> str:
    backend, load = setup.backend, setup.load
    postgres, redis_version = asyncio.run(server_versions(backend.database_url, backend.redis_url))
    by = {m.case.key: m for m in measured}
    judged = verdicts(by)
    mark = {True: "yes", False: "**no**", None: ""}
    busy = [m.busy for m in measured if m.busy is not None]
    now = datetime.now().astimezone()
    lines = [
        f"## Run of {now:%Y-%m-%d %H:%M %Z}, code {code_version()}",
        "",
        f"- machine: {machine()}",
        f"- load average before the run {_loads(load_before)}, after {_loads(load_after)};"
        + (
            f" CPUs busy just before each case: {min(busy):.0%} to {max(busy):.0%}"
            f" (median {statistics.median(busy):.0%})"
            if busy
            else ""
        ),
        f"- versions: Python {platform.python_version()}, Quart {_version('quart')}, Uvicorn"
        f" {_version('uvicorn')}, Tortoise ORM {_version('tortoise-orm')}, asyncpg"
        f" {_version('asyncpg')}, Jinja2 {_version('jinja2')}, PostgreSQL {postgres},"
        f" Redis {redis_version}, wrk ({setup.wrk})",
        f"- load: wrk, {load.connections} connections, {load.threads} threads,"
        f" {load.warmup_seconds} s of warm-up then {args.rounds} rounds of {load.seconds} s per"
        " case (the median round shown); one Uvicorn worker; server, wrk, PostgreSQL and Redis"
        " share the cores",
        f"- scale {args.scale:g}; {backend.description}",
        "",
        f"### Seeding: {seed_seconds:.1f} s",
        "",
        "| rows | count |",
        "| --- | ---: |",
        *(f"| {name} | {count:,} |" for name, count in seeded.counts.items()),
        "",
        "COPY times: "
        + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in seeded.seconds.items())
        + " (plus `payfacile migrate` and `payfacile demo` before).",
        "",
        "### Cases",
        "",
        "| case | requests/s | p50 | p99 | server CPU/request | rounds (requests/s)"
        " | ratio | target | meets |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- | --- | --- |",
    ]
    for m in measured:
        result = m.median
        cpu = "" if result.server_cpu_us is None else f"{result.server_cpu_us:,.0f} µs"
        ratio, ok = judged[m.case.key]
        rounds = " · ".join(f"{r:,.0f}" for r in m.rounds)
        lines.append(
            f"| {m.case.target.label} | {result.requests_per_second:,.0f} | {_ms(result.p50_us)}"
            f" | {_ms(result.p99_us)} | {cpu} | {rounds} | {ratio} | {m.case.goal} | {mark[ok]} |"
        )
    lines += [
        f"| first render of a 20-line invoice, in process | | {pdf['render_in_process_ms']:.0f}"
        " ms | | | | | | |",
        f"| … its first download over HTTP (renders, stores) | | {pdf['first_download_ms']:.0f}"
        " ms | | | | | | |",
    ]
    if isinstance(tls, dict):
        # The same chain served statically: what choosing it by SNI costs, and nothing else
        # (the central host's self-signed default is a shorter chain, cheaper to send).
        share = tls["sni"] / tls["same_chain"]
        lines.append(
            "| TLS handshakes, SNI-selected vs the same certificate static |"
            f" {tls['sni']:,.0f} vs {tls['same_chain']:,.0f} /s | | | | |"
            f" {share:.2f}× | ≥ 0.9× | {mark[share >= 0.9]} |"
        )
    lines += ["", *tls_note(tls, args.tls_seconds), "", *HOW_TO_READ]
    profiled = [m for m in measured if m.profile is not None]
    if profiled:
        lines += ["", "### Profiles", "", *PROFILES_INTRO, ""]
        for m in profiled:
            assert m.profile is not None
            lines += profiles.as_markdown(m.case.target.label, profiles.summarize(m.profile))
    return "\n".join(lines).rstrip()


def _loads(loads: tuple[float, float, float]) -> str:
    return " / ".join(f"{value:.2f}" for value in loads) + " (1, 5, 15 min)"


def tls_note(tls: dict[str, float] | str | None, seconds: int) -> list[str]:
    if tls is None:
        return ["TLS handshakes: not measured (`--tls-seconds 0`)."]
    if isinstance(tls, str):
        return [f"TLS handshakes: {tls}."]
    return [
        f"TLS handshakes come from `bench/certificates.py --samples 1 --at-once 1 --seconds"
        f" {seconds}` (its own `payfacile serve --https-port` on SQLite, a certificate issued by"
        " Pebble, full TLS 1.3 handshakes from 2 client processes): a custom domain's"
        f" certificate chosen by `sni_callback` {tls['sni']:,.0f}/s, the central host's"
        f" self-signed default {tls['static']:,.0f}/s, the custom domain's own chain as the"
        f" default {tls['same_chain']:,.0f}/s. The target's ratio takes the last: the same"
        " certificate, chosen at the handshake or served as the only one, so that it prices the"
        " choice; the self-signed default is one certificate where Pebble's chain has two, and"
        f" SNI vs it is {tls['sni'] / tls['static']:.2f}×."
    ]


HOW_TO_READ = [
    "**How to read.** Every ratio compares figures of this one run, on this machine: bare"
    ' Quart\'s requests/s is the 1.00× the targets are shares of. A "latency" ratio is the'
    " mean latency of the large case over the small one; at a fixed 32 connections that is the"
    " small case's requests/s over the large one's (Little's law). p50 and p99 are wrk's, over"
    " the median round. The server's CPU time per request moves much less than requests/s when"
    " other work shares the cores, so read it beside the load above: on 2 shared cores, wrk,"
    " the server, PostgreSQL and Redis compete, and a busy machine lowers every figure."
    " The host-resolution pair is measured on two hosts the cache had not seen, the second after"
    " the other custom domains were added; under load each is served from the resolution cache"
    " after its first request. Benchmarks print figures; a missed target is reported here,"
    " never a failure.",
]


PROFILES_INTRO = [
    "`--profile`: py-spy sampled the server over one more round of each case, after its"
    " measured rounds (sampling slows the process, so those figures are not these). Shares are"
    " of the samples where the server was busy: by the library whose code ran, PayFacile's"
    " functions with everything they called, and the hottest functions. The raw files are in"
    " bench/profiles/ (`.venv/bin/python bench/profiles.py FILE` reads one again).",
]


def write_results(text: str) -> None:
    """RESULTS.md: this run, then the previous run under "Before"."""
    before = ""
    with contextlib.suppress(OSError):
        old = RESULTS.read_text()
        if RUN_MARK in old and RUN_END in old:
            previous = old.split(RUN_MARK, 1)[1].split(RUN_END, 1)[0].strip()
            before = re.sub(r"^## Run of", "## Before: the run of", previous, count=1)
            before = before.replace("\n### ", "\n#### ")
    parts = [
        "# Benchmark results",
        "",
        'Written by `make bench` (`bench/suite.py`); the previous run is kept under "Before".',
        "",
        RUN_MARK,
        text,
        RUN_END,
    ]
    if before:
        parts += ["", before]
    RESULTS.write_text("\n".join(parts) + "\n")


# --- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0], add_help=False)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every count (1.0)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per case (3)")
    parser.add_argument(
        "--tls-seconds", type=int, default=10, help="bench/certificates.py's load (10; 0: skip)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy over one more round of each case"
    )
    parser.add_argument(
        "--only",
        type=lambda text: frozenset(filter(None, text.split(","))),
        default=frozenset(),
        metavar="KEYS",
        help=f"these cases only, with bare Quart ({', '.join(CASE_KEYS)})",
    )
    ours, rest = parser.parse_known_args(argv)
    if "-h" in rest or "--help" in rest:
        parser.print_help()
        print("\nand bench/resolution.py's options (--seconds defaults to 5 here):")
    defaults = ["--seconds", "5"]
    if "--postgres" not in rest:
        defaults += ["--postgres", os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES)]
        defaults += ["--redis", os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS)]
    args = parse_args([*defaults, *rest], __doc__)
    if ours.scale <= 0 or ours.rounds < 1 or ours.tls_seconds < 0:
        parser.error("--scale must be above 0, --rounds 1 or more, --tls-seconds 0 or more")
    if ours.only - set(CASE_KEYS):
        parser.error(f"--only takes case keys: {', '.join(CASE_KEYS)}")
    for key, value in vars(ours).items():
        setattr(args, key, value)
    return run_until_done(run, args)


if __name__ == "__main__":
    sys.exit(main())
