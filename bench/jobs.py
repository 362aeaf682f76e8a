"""Background work: emails per second and the delay from "due" to "done", real code paths.

Three measurements, each through `queue_email` → `Background(scheduler=True, worker=True)` →
`dispatch_due` → `run_job` → `Mailer.send`, exactly as `payfacile serve` runs them:

1. emails per second over SMTP to a real SMTP server (aiosmtpd on a free loopback port):
   N emails are queued first, then the Background starts and the clock runs until every row
   has `done_at` and the server holds N messages; each Message-ID must arrive exactly once;
2. the same into the Maildir (no SMTP configured);
3. the delay from a row becoming due (its `next_attempt_at`, set when it is queued) to the
   SMTP server receiving it (an upper bound of "its work started") and to its `done_at`, one
   email at a time into an idle Background, for two scheduler intervals.

Throughput runs with the default scheduler interval (1.0 s) and with 0.1 s as well. The data
lives in a temporary directory (SQLite, in-process broker), or with `--postgres URL --redis URL`
in a throwaway PostgreSQL database and under a unique Redis key prefix (taskiq's Redis stream
broker with the in-process worker). Everything stays on the loopback. It prints figures and
asserts no timing: compare figures from one run with each other, not with another machine's.

    .venv/bin/python bench/jobs.py [--emails 500] [--samples 50]
    .venv/bin/python bench/jobs.py --postgres postgres://postgres@127.0.0.1:5432/postgres \\
        --redis redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import mailbox
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # type: ignore[import-untyped]  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import SMTP, Envelope, Session  # noqa: E402

from payfacile.app import background_work  # noqa: E402
from payfacile.platform import db  # noqa: E402
from payfacile.platform.config import Settings  # noqa: E402
from payfacile.platform.jobs import Background  # noqa: E402
from payfacile.platform.mail import queue_email  # noqa: E402
from payfacile.platform.models import OutboxEmail  # noqa: E402
from payfacile.schema import MODEL_MODULES  # noqa: E402

LOOPBACK = "127.0.0.1"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
BENCH_DATABASE_PREFIX = "pf_bench_jobs"
DEFAULT_INTERVAL = 1.0
FAST_INTERVAL = 0.1
POLL_SECONDS = 0.05
GRACE_SECONDS = 0.5  # a doubled delivery would land in this window
SPACING_SECONDS = 0.3  # latency samples are queued 0–300 ms apart
STOP_TIMEOUT_SECONDS = 15.0
CONNECT_TIMEOUT_SECONDS = 10.0


class QuietReceiverStop(logging.Filter):
    """Drop the warning taskiq's receiver logs each time `Background.stop` cancels it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "listenig task was cancelled" not in record.getMessage()


class BenchError(RuntimeError):
    """The benchmark could not complete a phase; the message says why."""


# -- the SMTP server ----------------------------------------------------------------------------


@dataclass
class Inbox:
    """What the aiosmtpd server received: each message's Message-ID and arrival time."""

    received: list[tuple[str, datetime]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        at = datetime.now(UTC)
        content = envelope.content
        raw = content.encode() if isinstance(content, str) else (content or b"")
        headers = BytesHeaderParser(policy=default_policy).parsebytes(raw)
        message_id = str(headers.get("Message-ID", ""))
        with self.lock:
            self.received.append((message_id, at))
        return "250 Message accepted"

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def snapshot(self) -> list[tuple[str, datetime]]:
        with self.lock:
            return list(self.received)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname=LOOPBACK, port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


# -- the data: a throwaway database and Redis key space ------------------------------------------


def require_loopback(url: str, what: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK_NAMES:
        raise SystemExit(f"{what} must be on the loopback (127.0.0.1), not {host!r}")


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


async def _pg_admin(admin_url: str, sql: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(admin_url), timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _drop_redis_keys(redis_url: str, prefix: str) -> int:
    client = aioredis.Redis.from_url(redis_url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS)
    deleted = 0
    try:
        # taskiq-redis' autoclaim lock is named after the consumer group, outside the prefix.
        for pattern in (f"{prefix}*", f"autoclaim:{prefix}*"):
            keys = [key async for key in client.scan_iter(match=pattern, count=1000)]
            if keys:
                deleted += int(await client.delete(*keys))
    finally:
        await client.aclose()
    return deleted


@contextlib.asynccontextmanager
async def bench_data(
    data_dir: Path, postgres: str | None, redis_url: str | None
) -> AsyncIterator[Settings]:
    """Migrated, initialised settings on a fresh database; everything removed on the way out."""
    token = uuid.uuid4().hex[:10]
    values: dict[str, object] = {
        "env": "test",
        "data_dir": data_dir,
        "secret_key": ["bench-jobs-secret-key"],
        "platform_domain": "payfacile.localhost",
        "mail_from": "no-reply@payfacile.localhost",
        "redis_url": redis_url or "",
        "redis_prefix": f"pf_bench_jobs:{token}:",
        "smtp_url": "",
        "smtp_timeout": 10.0,
        "job_retry_base_seconds": 10.0,
        "scheduler_interval": DEFAULT_INTERVAL,
    }
    database = ""
    if postgres:
        database = f"{BENCH_DATABASE_PREFIX}_{token}"
        values["database_url"] = urlunsplit(urlsplit(postgres)._replace(path=f"/{database}"))
    else:
        values["database_url"] = f"sqlite://{data_dir / 'payfacile.sqlite3'}"
    settings = Settings.model_validate(values)
    try:
        if postgres:
            await _pg_admin(postgres, f'CREATE DATABASE "{database}"')
        await db.migrate(settings, MODEL_MODULES)
        await db.init_db(settings, MODEL_MODULES)
        try:
            yield settings
        finally:
            await db.close_db()
    finally:
        if postgres:
            try:
                await _pg_admin(postgres, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            except Exception as error:
                print(f"warning: could not drop database {database}: {error}", file=sys.stderr)
        if redis_url:
            try:
                await _drop_redis_keys(redis_url, settings.redis_prefix)
            except Exception as error:
                print(f"warning: could not delete Redis keys: {error}", file=sys.stderr)


# -- measurements --------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Background]:
    jobs = background_work(settings, scheduler=True, worker=True)
    await jobs.start()
    try:
        yield jobs
    finally:
        await asyncio.wait_for(jobs.stop(), STOP_TIMEOUT_SECONDS)


async def queue(settings: Settings, n: int) -> OutboxEmail:
    return await queue_email(
        settings,
        to=f"owner{n}@example.com",
        template="store_invitation",
        context={
            "store_name": f"Shop {n}",
            "url": f"http://payfacile.localhost:8000/invitation/{n}",
            "expires": "1 January 2030",
        },
    )


async def wait_until_done(
    first_id: int, last_id: int, inbox: Inbox | None, *, within: float
) -> None:
    """Poll the database (and the SMTP server) until every row of the range is done."""
    expected = last_id - first_id + 1
    deadline = time.monotonic() + within
    rows = OutboxEmail.filter(id__gte=first_id, id__lte=last_id)
    while True:
        done = await rows.filter(done_at__isnull=False).count()
        received = inbox.count() if inbox is not None else expected
        if done >= expected and received >= expected:
            return
        if time.monotonic() > deadline:
            stuck = rows.filter(done_at=None).limit(3)
            pending = await stuck.values("id", "attempts", "last_error")
            raise BenchError(
                f"{done}/{expected} done, {received} received after {within:.0f} s; e.g. {pending}"
            )
        await asyncio.sleep(POLL_SECONDS)


@dataclass(frozen=True)
class Check:
    expected: int
    once: int
    doubled: int
    missing: int
    unexpected: int
    not_first_attempt: int

    @property
    def ok(self) -> bool:
        return self.once == self.expected and not (
            self.doubled or self.missing or self.unexpected or self.not_first_attempt
        )

    def describe(self) -> str:
        verdict = "yes" if self.ok else "NO"
        return (
            f"{verdict}: {self.once}/{self.expected} once, {self.doubled} doubled, "
            f"{self.missing} missing, {self.unexpected} unexpected, "
            f"{self.not_first_attempt} retried"
        )


async def check_once(expected_ids: Sequence[str], received_ids: Sequence[str]) -> Check:
    wanted = set(expected_ids)
    counts = Counter(received_ids)
    retried = await OutboxEmail.filter(message_id__in=list(wanted), attempts__not=1).count()
    return Check(
        expected=len(wanted),
        once=sum(1 for key in wanted if counts[key] == 1),
        doubled=sum(1 for key in wanted if counts[key] > 1),
        missing=sum(1 for key in wanted if counts[key] == 0),
        unexpected=sum(count for key, count in counts.items() if key not in wanted),
        not_first_attempt=retried,
    )


def maildir_message_ids(path: Path) -> list[str]:
    if not path.exists():
        return []
    box = mailbox.Maildir(str(path), create=False)
    return [str(message["Message-ID"]) for message in box]


@dataclass(frozen=True)
class Throughput:
    target: str
    interval: float
    emails: int
    queue_seconds: float
    seconds: float
    check: Check

    @property
    def rate(self) -> float:
        return self.emails / self.seconds if self.seconds > 0 else float("nan")


async def throughput(base: Settings, *, smtp: bool, interval: float, emails: int) -> Throughput:
    maildir = base.data_dir / "maildir"
    shutil.rmtree(maildir, ignore_errors=True)
    with contextlib.ExitStack() as stack:
        inbox: Inbox | None = None
        update: dict[str, object] = {"scheduler_interval": interval, "smtp_url": ""}
        if smtp:
            inbox, port = stack.enter_context(smtp_server())
            update["smtp_url"] = f"smtp://{LOOPBACK}:{port}"
        settings = base.model_copy(update=update)
        queued_at = time.perf_counter()
        rows = [await queue(settings, n) for n in range(emails)]
        queue_seconds = time.perf_counter() - queued_at
        first_id, last_id = rows[0].id, rows[-1].id
        started = datetime.now(UTC)
        async with running(settings):
            await wait_until_done(first_id, last_id, inbox, within=30 + emails * 0.2)
            done_ats: list[object] = list(
                await OutboxEmail.filter(id__gte=first_id, id__lte=last_id).values_list(
                    "done_at", flat=True
                )
            )
            finished = max(at for at in done_ats if isinstance(at, datetime))
            if inbox is not None:
                finished = max(finished, max(at for _, at in inbox.snapshot()))
            await asyncio.sleep(GRACE_SECONDS)
        if inbox is not None:
            received = [message_id for message_id, _ in inbox.snapshot()]
        else:
            received = await asyncio.to_thread(maildir_message_ids, maildir)
    check = await check_once([row.message_id for row in rows], received)
    return Throughput(
        target="SMTP (aiosmtpd)" if smtp else "Maildir",
        interval=interval,
        emails=emails,
        queue_seconds=queue_seconds,
        seconds=(finished - started).total_seconds(),
        check=check,
    )


@dataclass(frozen=True)
class Spread:
    median: float
    p90: float
    maximum: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        ordered = sorted(values)
        p90 = statistics.quantiles(ordered, n=10, method="inclusive")[8]
        return cls(median=statistics.median(ordered), p90=p90, maximum=ordered[-1])


@dataclass(frozen=True)
class Latency:
    interval: float
    samples: int
    to_received: Spread
    to_done: Spread
    check: Check


async def latency(base: Settings, *, interval: float, samples: int, rng: random.Random) -> Latency:
    with smtp_server() as (inbox, port):
        settings = base.model_copy(
            update={"scheduler_interval": interval, "smtp_url": f"smtp://{LOOPBACK}:{port}"}
        )
        rows: list[OutboxEmail] = []
        async with running(settings):
            await asyncio.sleep(interval + 0.5)  # started and idle: its first scans are over
            for n in range(samples):
                await asyncio.sleep(rng.uniform(0, SPACING_SECONDS))
                rows.append(await queue(settings, n))
            await wait_until_done(rows[0].id, rows[-1].id, inbox, within=30 + interval * 5)
            await asyncio.sleep(GRACE_SECONDS)
        received = inbox.snapshot()
    done_at = dict(
        await OutboxEmail.filter(id__in=[row.id for row in rows]).values_list("id", "done_at")
    )
    first_received: dict[str, datetime] = {}
    for message_id, at in received:
        first_received.setdefault(message_id, at)
    to_received: list[float] = []
    to_done: list[float] = []
    for row in rows:
        due = row.next_attempt_at
        finished = done_at.get(row.id)
        arrived = first_received.get(row.message_id)
        if due is None or not isinstance(finished, datetime) or arrived is None:
            raise BenchError(f"row {row.id} has no due time, done_at or receipt")
        to_received.append((arrived - due).total_seconds())
        to_done.append((finished - due).total_seconds())
    check = await check_once([row.message_id for row in rows], [key for key, _ in received])
    return Latency(
        interval=interval,
        samples=samples,
        to_received=Spread.of(to_received),
        to_done=Spread.of(to_done),
        check=check,
    )


# -- the run -------------------------------------------------------------------------------------


def describe_setup(settings: Settings, postgres: str | None, emails: int, samples: int) -> str:
    if postgres:
        parts = urlsplit(settings.database_url)
        database = f"PostgreSQL {parts.path.lstrip('/')} on {parts.hostname}:{parts.port or 5432}"
    else:
        database = "SQLite in a temporary directory"
    if settings.redis_url:
        parts = urlsplit(settings.redis_url)
        broker = (
            f"taskiq RedisStreamBroker on {parts.hostname}:{parts.port or 6379} "
            f"(prefix {settings.redis_prefix}), in-process worker"
        )
    else:
        broker = "taskiq InMemoryBroker (in-process)"
    return (
        f"PayFacile background jobs: {emails} emails per throughput run, "
        f"{samples} latency samples\n"
        f"database: {database}\nbroker:   {broker}\n"
        f"machine:  {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )


def print_throughput(results: Sequence[Throughput]) -> None:
    print()
    print("Throughput: N queued, then the Background started; clock until the last row is done")
    header = (
        f"{'target':<16} {'interval':>8} {'emails':>6} {'seconds':>8} {'emails/s':>9} "
        f"{'queue/s':>8}  received exactly once"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        queue_rate = result.emails / result.queue_seconds if result.queue_seconds else 0.0
        print(
            f"{result.target:<16} {result.interval:>7.1f}s {result.emails:>6} "
            f"{result.seconds:>8.2f} {result.rate:>9.1f} {queue_rate:>8.1f}  "
            f"{result.check.describe()}"
        )
    print("(queue/s: queue_email, rendering and inserting, before the Background starts)")


def print_latency(results: Sequence[Latency]) -> None:
    print()
    print(
        "Latency into an idle Background, one email at a time 0–300 ms apart, "
        "from next_attempt_at (ms)"
    )
    header = (
        f"{'interval':>8} {'samples':>7} | {'→ SMTP received: median':>23} {'p90':>7} {'max':>7} "
        f"| {'→ done_at: median':>17} {'p90':>7} {'max':>7} | exactly once"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        r, d = result.to_received, result.to_done
        print(
            f"{result.interval:>7.1f}s {result.samples:>7} | {r.median * 1000:>23.1f} "
            f"{r.p90 * 1000:>7.1f} {r.maximum * 1000:>7.1f} | {d.median * 1000:>17.1f} "
            f"{d.p90 * 1000:>7.1f} {d.maximum * 1000:>7.1f} | {result.check.describe()}"
        )


async def run(args: argparse.Namespace) -> int:
    main_task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if main_task is not None:
        loop.add_signal_handler(signal.SIGTERM, main_task.cancel)
    rng = random.Random(args.seed)
    budget = 120 + 4 * (30 + args.emails * 0.25) + 2 * (40 + args.samples * SPACING_SECONDS)
    ok = False
    data_dir = Path(tempfile.mkdtemp(prefix="pf-bench-jobs-"))
    try:
        async with asyncio.timeout(budget), bench_data(data_dir, args.postgres, args.redis) as base:
            print(describe_setup(base, args.postgres, args.emails, args.samples), flush=True)
            results: list[Throughput] = []
            for smtp in (True, False):
                for interval in (DEFAULT_INTERVAL, FAST_INTERVAL):
                    results.append(
                        await throughput(base, smtp=smtp, interval=interval, emails=args.emails)
                    )
            print_throughput(results)
            latencies = [
                await latency(base, interval=interval, samples=args.samples, rng=rng)
                for interval in (DEFAULT_INTERVAL, FAST_INTERVAL)
            ]
            print_latency(latencies)
            ok = all(r.check.ok for r in results) and all(r.check.ok for r in latencies)
    except TimeoutError:
        print(f"error: the benchmark did not finish within {budget:.0f} s", file=sys.stderr)
        return 1
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    print()
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print("every email received exactly once" if ok else "SOME EMAILS WERE NOT RECEIVED ONCE")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL admin URL (loopback)")
    parser.add_argument("--redis", metavar="URL", help="Redis URL (loopback)")
    parser.add_argument("--emails", type=int, default=500, help="emails per throughput run")
    parser.add_argument("--samples", type=int, default=50, help="latency samples per interval")
    parser.add_argument("--seed", type=int, default=1, help="seed of the latency spacing")
    args = parser.parse_args()
    if args.emails < 1 or args.samples < 2:
        parser.error("--emails must be at least 1 and --samples at least 2")
    if args.postgres:
        require_loopback(args.postgres, "--postgres")
    if args.redis:
        require_loopback(args.redis, "--redis")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("taskiq.receiver").addFilter(QuietReceiverStop())
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
