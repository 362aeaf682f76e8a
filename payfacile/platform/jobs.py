"""Background work (DESIGN.md "Background work").

Due work lives in database rows (`DueWork`). The scheduler scans for due rows, claims each
with a fresh token and a lease, and kicks a taskiq job naming the row and the token. A worker
does the work only while that claim is its own, then records the outcome under the same token.
A claim that outlives a crashed worker or a lost message expires and the row is handed out
again; failures back off exponentially. CLI commands and requests only ever write rows.

Parts add their own job kinds and sweeps to a `JobRegistry`; the kernel's own kind is email.

Brokers: taskiq's `InMemoryBroker` inside `payfacile serve` when there is no Redis; with Redis,
taskiq-redis' stream broker feeds `payfacile worker` processes from one `payfacile scheduler`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from taskiq import AsyncBroker, Context, InMemoryBroker, TaskiqDepends
from taskiq.api import run_receiver_task
from taskiq_redis import RedisStreamBroker
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from payfacile.platform.config import Settings
from payfacile.platform.mail import Mailer
from payfacile.platform.models import OutboxEmail

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=6)
CONTEXT: Context = TaskiqDepends()  # taskiq injects the running task's context here
TASK_NAME = "payfacile.run_job"
SCAN_BATCH = 200
SWEEP_SECONDS = 60.0  # how often the sweeps bring time-driven state up to date


@dataclass(frozen=True)
class Runtime:
    """What jobs need, opened once per process."""

    settings: Settings
    mailer: Mailer
    jobs: JobRegistry


Handler = Callable[[Runtime, Any], Awaitable[None]]


@dataclass(frozen=True)
class JobKind:
    """One kind of due work: its rows, what to do with one, and how long a claim lasts.

    `rows` is every row of the kind, across stores: a part whose rows are tenant-owned passes
    its own cross-store query (the scheduler is one of the named reasons)."""

    name: str
    rows: Callable[[], QuerySet[Any]]
    handler: Handler
    lease: timedelta
    max_attempts: int


@dataclass(frozen=True)
class Sweep:
    """State that changes with time alone (a subscription whose last period is over).

    `run` brings it up to date and returns how many rows it changed."""

    name: str
    run: Callable[[], Awaitable[int]]


@dataclass
class JobRegistry:
    """The job kinds and sweeps of every part; the scheduler and the workers read it."""

    kinds: dict[str, JobKind] = field(default_factory=dict)
    sweeps: list[Sweep] = field(default_factory=list)

    def add_kind(self, kind: JobKind) -> None:
        if kind.name in self.kinds:
            raise ValueError(f"job kind {kind.name!r} is registered twice")
        self.kinds[kind.name] = kind

    def add_sweep(self, sweep: Sweep) -> None:
        self.sweeps.append(sweep)


async def _send_email(runtime: Runtime, row: OutboxEmail) -> None:
    await runtime.mailer.send(row)


EMAIL = JobKind(
    name="email",
    rows=OutboxEmail.all,
    handler=_send_email,
    lease=timedelta(minutes=2),
    max_attempts=25,  # with a 10 s start and a 6 h cap: about four days of trying
)


def kernel_jobs() -> JobRegistry:
    """A registry holding the kernel's own job kind (email); parts add theirs."""
    registry = JobRegistry()
    registry.add_kind(EMAIL)
    return registry


def _due(kind: JobKind, now: datetime) -> QuerySet[Any]:
    return (
        kind.rows()
        .filter(done_at=None, next_attempt_at__lte=now)
        .filter(Q(claimed_until=None) | Q(claimed_until__lt=now))
    )


def backoff(attempts: int, *, base_seconds: float) -> timedelta:
    """The wait after the `attempts`-th failure: base, 2×base, 4×base … up to 6 h, ±10 %."""
    seconds = min(base_seconds * 2 ** max(attempts - 1, 0), MAX_BACKOFF.total_seconds())
    return timedelta(seconds=seconds * random.uniform(0.9, 1.1))


Kick = Callable[[str, int, str], Awaitable[None]]


async def dispatch_due(kick: Kick, jobs: JobRegistry, *, batch: int = 200) -> int:
    """Claim due rows of every kind and kick a job for each. Returns how many were kicked."""
    kicked = 0
    for kind in jobs.kinds.values():
        now = datetime.now(UTC)
        rows = (
            await _due(kind, now)
            .order_by("next_attempt_at", "id")
            .limit(batch)
            .values_list("id", flat=True)
        )
        for row_id in cast(list[int], rows):
            token = secrets.token_hex(16)
            claimed = (
                await _due(kind, now)
                .filter(id=row_id)
                .update(claimed_until=now + kind.lease, claim_token=token)
            )
            if claimed:
                await kick(kind.name, row_id, token)
                kicked += 1
    return kicked


async def run_job(runtime: Runtime, kind_name: str, row_id: int, token: str) -> str:
    """Do one claimed row's work and record the outcome. Returns what happened."""
    kind = runtime.jobs.kinds[kind_name]
    now = datetime.now(UTC)
    row = await kind.rows().filter(id=row_id, claim_token=token, done_at=None).first()
    if row is None or row.claimed_until is None or row.claimed_until <= now:
        return "claim lost"
    mine = kind.rows().filter(id=row_id, claim_token=token)
    attempts = row.attempts + 1
    try:
        await kind.handler(runtime, row)
    except Exception as error:
        retry = attempts < kind.max_attempts
        wait = backoff(attempts, base_seconds=runtime.settings.job_retry_base_seconds)
        await mine.update(
            attempts=attempts,
            claimed_until=None,
            claim_token="",
            last_error=f"{type(error).__name__}: {error}"[:2000],
            next_attempt_at=datetime.now(UTC) + wait if retry else None,
        )
        log.warning("%s %s failed (attempt %s): %s", kind_name, row_id, attempts, error)
        return "retry" if retry else "gave up"
    await mine.update(
        attempts=attempts,
        claimed_until=None,
        claim_token="",
        done_at=datetime.now(UTC),
        next_attempt_at=None,
        last_error="",
    )
    return "done"


def make_broker(settings: Settings) -> AsyncBroker:
    if settings.redis_url:
        return RedisStreamBroker(
            settings.redis_url,
            queue_name=f"{settings.redis_prefix}jobs",
            consumer_group_name=f"{settings.redis_prefix}workers",
            unacknowledged_lock_timeout=60,
        )
    return InMemoryBroker()


def register_tasks(broker: AsyncBroker) -> Kick:
    """Register the job task on `broker`; returns the function that kicks one."""

    async def job(kind_name: str, row_id: int, token: str, context: Context = CONTEXT) -> str:
        runtime: Runtime = context.state.runtime
        return await run_job(runtime, kind_name, row_id, token)

    task = broker.register_task(job, task_name=TASK_NAME)

    async def kick(kind_name: str, row_id: int, token: str) -> None:
        await task.kiq(kind_name, row_id, token)

    return kick


async def scheduler_loop(kick: Kick, settings: Settings, jobs: JobRegistry) -> None:
    """Scan for due work every `SCHEDULER_INTERVAL` seconds until cancelled, and run the
    sweeps (state that changes with time alone) every `SWEEP_SECONDS`."""
    next_sweep = 0.0
    while True:
        try:
            kicked = await dispatch_due(kick, jobs, batch=SCAN_BATCH)
            if time.monotonic() >= next_sweep:
                await sweep(jobs)
                next_sweep = time.monotonic() + SWEEP_SECONDS
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("scheduler scan failed; trying again")
            kicked = 0
        if kicked < SCAN_BATCH:  # a full batch means more is due: scan again at once
            await asyncio.sleep(settings.scheduler_interval)


async def sweep(jobs: JobRegistry) -> None:
    """Run every registered sweep once; one that fails does not stop the others."""
    for registered in jobs.sweeps:
        try:
            changed = await registered.run()
        except Exception:
            log.exception("sweep %s failed; it runs again at the next sweep", registered.name)
            continue
        if changed:
            log.info("sweep %s: %s rows brought up to date", registered.name, changed)


class Background:
    """The broker, the scheduler and (embedded) the worker of one process."""

    def __init__(
        self, settings: Settings, jobs: JobRegistry, *, scheduler: bool, worker: bool
    ) -> None:
        self.settings = settings
        self.jobs = jobs
        self.broker = make_broker(settings)
        self.broker.state.runtime = Runtime(settings=settings, mailer=Mailer(settings), jobs=jobs)
        self.kick = register_tasks(self.broker)
        self.run_scheduler = scheduler
        self.run_worker = worker and not isinstance(self.broker, InMemoryBroker)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.broker.startup()
        if self.run_worker:
            self._tasks.append(asyncio.create_task(run_receiver_task(self.broker)))
        if self.run_scheduler:
            self._tasks.append(
                asyncio.create_task(scheduler_loop(self.kick, self.settings, self.jobs))
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.broker.shutdown()
