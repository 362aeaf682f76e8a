"""Custom domains' DNS checks, measured (issue 13): one verification, and how many due
domains the scheduler checks per second.

Against a pebble-challtestsrv of its own (tests/challtestsrv.py) on the loopback:

1. one "Verify now" (`domains.check_now`: the DNS check, then `apply`) for domains whose
   records are set (they verify) and for domains with no record (still pending); and the DNS
   part alone (`dns_check.check`): median and p95 over `--samples` domains of each kind;
2. `--domains` pending domains, all due, across 100 stores, a tenth with their records set:
   - the DNS checks alone of 3,000 of them, `JOB_CONCURRENCY` at a time (asyncio.gather and
     a semaphore);
   - `dispatch_due` alone: claiming a `SCAN_BATCH` of due rows, with a kick that does nothing;
   - the real path: `Background` (scheduler and worker, InMemoryBroker, the default
     `SCHEDULER_INTERVAL`, `JOB_CONCURRENCY` and `SCAN_BATCH`) until every domain has been
     checked once (`checked_at` set), with a progress line every few seconds;
   - the worker alone: `run_job` on 1,000 claimed rows, `JOB_CONCURRENCY` at a time, no
     scheduler.

CPU time per check is this process's (not the DNS server's or PostgreSQL's): everything here
shares one event loop, as in `payfacile serve`.

On SQLite in a temporary directory, then with `--postgres URL` on a throwaway PostgreSQL
database too. Figures only, no assertion: the server, the database and this process share
the machine's cores.

    .venv/bin/python bench/domains.py [--domains 10000] [--samples 50]
    .venv/bin/python bench/domains.py --postgres postgres://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from tortoise.queryset import QuerySet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.jobs import QuietReceiverStop, bench_data, require_loopback  # noqa: E402
from payfacile.app import registry  # noqa: E402
from payfacile.platform.config import Settings  # noqa: E402
from payfacile.platform.jobs import (  # noqa: E402
    SCAN_BATCH,
    Background,
    JobRegistry,
    Kick,
    Runtime,
    dispatch_due,
    run_job,
)
from payfacile.platform.mail import Mailer  # noqa: E402
from payfacile.platform.registry import Registry  # noqa: E402
from payfacile.tenants import dns_check, domains  # noqa: E402
from payfacile.tenants.hosts import EXTENSION, HostResolver  # noqa: E402
from payfacile.tenants.models import (  # noqa: E402
    Domain,
    Membership,
    MembershipRole,
    MerchantUser,
    Store,
)
from payfacile.tenants.scope import across_stores, scoped  # noqa: E402
from tests.challtestsrv import ChallTestSrv  # noqa: E402
from tests.challtestsrv import running as challtestsrv_running  # noqa: E402

STORES = 100
SET_SHARE = 10  # one domain in SET_SHARE has its records set
PROGRESS_SECONDS = 3.0
POLL_SECONDS = 0.25
BUDGET_SECONDS = 200.0  # the scheduler run stops here, whether or not all were checked
DNS_ALONE = 3_000  # domains the DNS-alone run checks
WORKER_ALONE = 1_000  # rows the worker-alone run checks
DISPATCH_SAMPLES = 3


class BenchError(RuntimeError):
    """A phase could not complete; the message says why."""


@dataclass(frozen=True)
class Spread:
    median_ms: float
    p95_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Spread:
        p95 = statistics.quantiles(seconds, n=20, method="inclusive")[18]
        return cls(statistics.median(seconds) * 1000, p95 * 1000)

    def __str__(self) -> str:
        return f"median {self.median_ms:7.2f} ms  p95 {self.p95_ms:7.2f} ms"


@dataclass(frozen=True)
class Fleet:
    """The bench's data: its stores, and its domains' hostnames (some with records set)."""

    stores: list[Store]
    token: str
    run: str


def cpu_ms(cpu_seconds: float, count: int) -> str:
    """This process's CPU time per check (the DNS server and PostgreSQL not included)."""
    return f"{cpu_seconds / count * 1000:.2f} ms CPU/check"


def log_line(text: str) -> None:
    print(text, flush=True)


def hostname(run: str, kind: str, n: int) -> str:
    return f"shop.{kind}{n}-{run}.example"


def set_records(server: ChallTestSrv, settings: Settings, host: str, token: str) -> None:
    server.set_txt(dns_check.ownership_name(host), token)
    server.set_cname(host, settings.cname_target)


async def make_stores(count: int, run: str) -> list[Store]:
    stores = []
    for n in range(count):
        store = await Store.create(slug=f"b{run}-{n}", name=f"Bench {n}", support_email="s@b.ex")
        user = await MerchantUser.create(email=f"owner{n}-{run}@example.com")
        await scoped(store).create(Membership, user_id=user.id, role=MembershipRole.OWNER)
        stores.append(store)
    return stores


async def add_pending(fleet: Fleet, kind: str, count: int, *, past: timedelta) -> None:
    """`count` pending domains of `kind`, spread over the fleet's stores, due `past` ago."""
    now = datetime.now(UTC)
    per_store: dict[int, list[dict[str, object]]] = {}
    for n in range(count):
        per_store.setdefault(n % len(fleet.stores), []).append(
            {
                "hostname": hostname(fleet.run, kind, n),
                "verification_token": fleet.token,
                "pending_since": now - past,
                "next_attempt_at": now - past,
            }
        )
    for index, rows in per_store.items():
        for first in range(0, len(rows), 500):
            await scoped(fleet.stores[index]).create_many(Domain, rows[first : first + 500])


async def timed(calls: Sequence[Callable[[], Awaitable[object]]]) -> list[float]:
    times = []
    for call in calls:
        began = time.perf_counter()
        await call()
        times.append(time.perf_counter() - began)
    return times


# -- 1. one verification --------------------------------------------------------------------------


async def one_verification(
    found: Registry, hosts: HostResolver, server: ChallTestSrv, fleet: Fleet, samples: int
) -> None:
    settings = found.services.settings
    for n in range(samples):
        set_records(server, settings, hostname(fleet.run, "one-set", n), fleet.token)
    await add_pending(fleet, "one-set", samples, past=timedelta(minutes=1))
    await add_pending(fleet, "one-missing", samples, past=timedelta(minutes=1))
    log_line(f"1. One verification, {samples} domains of each kind")
    for kind, outcome in (("one-set", "records set"), ("one-missing", "records missing")):
        hosts_of = [hostname(fleet.run, kind, n) for n in range(samples)]
        dns_times = await timed(
            [functools.partial(dns_check.check, h, fleet.token, settings) for h in hosts_of]
        )
        rows = await across_stores(Domain, reason="scheduler").filter(hostname__in=hosts_of)
        stores = {store.id: store for store in fleet.stores}
        limiter = found.services.limiter
        whole = await timed(
            [
                functools.partial(
                    domains.check_now, settings, hosts, limiter, stores[d.store_id], d
                )
                for d in rows
            ]
        )
        statuses = (
            await across_stores(Domain, reason="scheduler")
            .filter(hostname__in=hosts_of)
            .values_list("status", flat=True)
        )
        log_line(
            f"   {outcome:<16} dns_check.check {Spread.of(dns_times)} | "
            f"check_now {Spread.of(whole)} | now {sorted(set(map(str, statuses)))}"
        )


# -- 2. many due domains --------------------------------------------------------------------------


def bulk_kind(hosts: HostResolver) -> JobRegistry:
    jobs = JobRegistry()
    jobs.add_kind(domains.check_job(hosts))
    return jobs


def bulk() -> QuerySet[Domain]:
    return across_stores(Domain, reason="scheduler").filter(hostname__startswith="shop.bulk")


async def make_due(fleet: Fleet, limit: int | None = None) -> None:
    """Every bulk domain (or the first `limit`) due again and unclaimed."""
    rows = bulk()
    if limit is not None:
        ids = await rows.order_by("id").limit(limit).values_list("id", flat=True)
        rows = across_stores(Domain, reason="scheduler").filter(id__in=list(ids))
    past = datetime.now(UTC) - timedelta(minutes=1)
    await rows.update(next_attempt_at=past, claimed_until=None, claim_token="")


async def dns_alone(settings: Settings, fleet: Fleet, count: int) -> tuple[float, float]:
    slots = asyncio.Semaphore(settings.job_concurrency)

    async def one(n: int) -> None:
        async with slots:
            await dns_check.check(hostname(fleet.run, "bulk", n), fleet.token, settings)

    began, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(n) for n in range(count)))
    return time.perf_counter() - began, time.process_time() - cpu


async def dispatch_alone(jobs: JobRegistry, fleet: Fleet) -> list[float]:
    """Seconds for `dispatch_due` to claim a SCAN_BATCH, kicking nothing, a few times."""

    async def nothing(_kind: str, _row: int, _token: str) -> None:
        return None

    times = []
    for _ in range(DISPATCH_SAMPLES):
        began = time.perf_counter()
        kicked = await dispatch_due(nothing, jobs, batch=SCAN_BATCH)
        times.append(time.perf_counter() - began)
        if kicked != SCAN_BATCH:
            raise BenchError(f"dispatch_due claimed {kicked} rows, not {SCAN_BATCH}")
    await make_due(fleet)
    return times


async def one_update_claim(fleet: Fleet) -> float:
    """For comparison, not the code's path: seconds to claim a SCAN_BATCH of due rows with
    one SELECT and one UPDATE … WHERE id IN (…)."""
    began = time.perf_counter()
    now = datetime.now(UTC)
    due = bulk().filter(next_attempt_at__lte=now, claimed_until=None, done_at=None)
    ids = await due.order_by("next_attempt_at", "id").limit(SCAN_BATCH).values_list("id", flat=True)
    claimed = (
        await bulk()
        .filter(id__in=list(ids), claimed_until=None)
        .update(claimed_until=now + timedelta(seconds=30), claim_token=uuid.uuid4().hex)
    )
    seconds = time.perf_counter() - began
    if claimed != SCAN_BATCH:
        raise BenchError(f"one UPDATE claimed {claimed} rows, not {SCAN_BATCH}")
    await make_due(fleet)
    return seconds


@dataclass
class Kicks:
    """The scheduler's kicks, counted on their way to the broker."""

    kick: Kick
    count: int = 0

    async def __call__(self, kind: str, row_id: int, token: str) -> None:
        if kind == "domain_check":
            self.count += 1
        await self.kick(kind, row_id, token)


async def scheduler_run(found: Registry, count: int) -> tuple[int, float, float, int]:
    """(domains checked, seconds, CPU seconds, kicks) through the real Background, until
    every bulk domain has been checked or the budget is spent."""
    settings = found.services.settings
    background = Background(settings, found.jobs, scheduler=True, worker=True)
    kicks = Kicks(background.kick)
    background.kick = kicks
    rows = bulk()
    checked = 0
    began, cpu = time.perf_counter(), time.process_time()
    next_line = began + PROGRESS_SECONDS
    await background.start()
    try:
        while checked < count and time.perf_counter() - began < BUDGET_SECONDS:
            await asyncio.sleep(POLL_SECONDS)
            checked = await rows.filter(checked_at__isnull=False).count()
            if time.perf_counter() >= next_line:
                elapsed = time.perf_counter() - began
                log_line(
                    f"   … {elapsed:5.1f} s: {checked:,}/{count:,} checked, "
                    f"{kicks.count:,} kicked, {checked / elapsed:,.0f} checks/s so far"
                )
                next_line += PROGRESS_SECONDS
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    finally:
        await background.stop()
        # The InMemoryBroker's stop leaves the jobs it started running: let them finish.
        await asyncio.gather(*getattr(background.broker, "_running_tasks", ()))
    return checked, seconds, cpu, kicks.count


async def worker_alone(
    found: Registry, jobs: JobRegistry, fleet: Fleet, count: int
) -> tuple[float, float]:
    """Seconds and CPU seconds for `run_job` to check `count` claimed rows, JOB_CONCURRENCY
    at a time."""
    settings = found.services.settings
    await make_due(fleet, count)
    claimed: list[tuple[str, int, str]] = []

    async def keep(kind: str, row_id: int, token: str) -> None:
        claimed.append((kind, row_id, token))

    await dispatch_due(keep, jobs, batch=count)
    runtime = Runtime(
        settings=settings,
        mailer=Mailer(settings, found.jobs.attachments),
        jobs=jobs,
        slots=asyncio.Semaphore(settings.job_concurrency),
    )
    began, cpu = time.perf_counter(), time.process_time()
    outcomes = await asyncio.gather(*(run_job(runtime, *job) for job in claimed))
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    if outcomes.count("done") != len(claimed):
        raise BenchError(f"worker alone: {sorted(set(outcomes))} for {len(claimed)} rows")
    return seconds, cpu


async def many_due(
    found: Registry, hosts: HostResolver, server: ChallTestSrv, fleet: Fleet, count: int
) -> None:
    settings = found.services.settings
    began = time.perf_counter()
    with_records = range(0, count, SET_SHARE)
    for n in with_records:
        set_records(server, settings, hostname(fleet.run, "bulk", n), fleet.token)
    await add_pending(fleet, "bulk", count, past=timedelta(hours=1))
    log_line(
        f"\n2. {count:,} due pending domains over {len(fleet.stores)} stores, "
        f"{len(with_records):,} with their records set (set up in "
        f"{time.perf_counter() - began:.1f} s); JOB_CONCURRENCY {settings.job_concurrency}, "
        f"SCAN_BATCH {SCAN_BATCH}, SCHEDULER_INTERVAL {settings.scheduler_interval:g} s"
    )
    jobs = bulk_kind(hosts)
    sample = min(DNS_ALONE, count)
    seconds, cpu = await dns_alone(settings, fleet, sample)
    log_line(
        f"   DNS checks alone, {settings.job_concurrency} at a time, {sample:,} domains: "
        f"{sample / seconds:7,.0f} checks/s ({seconds:.1f} s, {cpu_ms(cpu, sample)})"
    )
    claims = await dispatch_alone(jobs, fleet)
    per_batch = statistics.median(claims)
    log_line(
        f"   dispatch_due alone, {SCAN_BATCH} rows claimed: {per_batch * 1000:.0f} ms median"
        f" of {DISPATCH_SAMPLES} = {SCAN_BATCH / per_batch:7,.0f} claims/s"
    )
    at_once = await one_update_claim(fleet)
    log_line(
        f"   (for comparison, one SELECT + one UPDATE … WHERE id IN claiming {SCAN_BATCH} rows: "
        f"{at_once * 1000:.0f} ms)"
    )
    checked, seconds, cpu, kicked = await scheduler_run(found, count)
    complete = "all" if checked >= count else f"ONLY {checked:,} of {count:,} within budget"
    log_line(
        f"   scheduler + worker (Background, InMemoryBroker): {checked / seconds:7,.0f} "
        f"checks/s; {complete} checked in {seconds:.1f} s, {kicked:,} kicks, "
        f"{cpu_ms(cpu, max(checked, 1))}"
    )
    alone = min(WORKER_ALONE, count)
    seconds, cpu = await worker_alone(found, jobs, fleet, alone)
    log_line(
        f"   worker alone (run_job, {settings.job_concurrency} at a time, {alone:,} claimed "
        f"rows): {alone / seconds:7,.0f} checks/s ({seconds:.1f} s, {cpu_ms(cpu, alone)})"
    )


# -- the run --------------------------------------------------------------------------------------


async def on_backend(server: ChallTestSrv, postgres: str | None, args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="pf-bench-domains-"))
    try:
        async with bench_data(data_dir, postgres, None) as base:
            settings = Settings.model_validate(
                {**base.model_dump(), "dns_nameservers": [server.nameserver]}
            )
            found = registry(settings)
            hosts = cast(HostResolver, found.extensions[EXTENSION])
            run = uuid.uuid4().hex[:8]
            where = "PostgreSQL (throwaway database)" if postgres else "SQLite (temporary file)"
            log_line(f"\n== {where}; load average {os.getloadavg()[0]:.2f} ==")
            fleet = Fleet(stores=await make_stores(STORES, run), token=f"pf-{run}", run=run)
            try:
                await one_verification(found, hosts, server, fleet, args.samples)
                await many_due(found, hosts, server, fleet, args.domains)
            finally:
                await found.services.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


async def run(args: argparse.Namespace) -> None:
    executable = shutil.which("pebble-challtestsrv")
    if executable is None:
        raise SystemExit("this benchmark needs pebble-challtestsrv (Debian package pebble)")
    with challtestsrv_running(executable) as server:
        await on_backend(server, args.postgres if args.backend == "postgres" else None, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL admin URL (loopback)")
    parser.add_argument("--domains", type=int, default=10_000, help="due domains (10,000)")
    parser.add_argument("--samples", type=int, default=50, help="domains per kind in part 1")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.domains < SCAN_BATCH * DISPATCH_SAMPLES or args.samples < 2:
        parser.error(f"--domains must be at least {SCAN_BATCH * DISPATCH_SAMPLES}, --samples 2")
    if args.postgres:
        require_loopback(args.postgres, "--postgres")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("taskiq.receiver").addFilter(QuietReceiverStop())
    if args.backend:
        asyncio.run(run(args))
        return
    # One process per back end: Tortoise keeps each model's compiled queries for the first.
    log_line(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at the start")
    for backend in ("sqlite", "postgres") if args.postgres else ("sqlite",):
        child = [sys.executable, __file__, *sys.argv[1:], "--backend", backend]
        if subprocess.run(child, check=False).returncode != 0:
            raise SystemExit(f"the {backend} run failed")
    log_line(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
