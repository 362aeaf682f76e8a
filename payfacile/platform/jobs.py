"""Background work (DESIGN.md "Background work").

Due work lives in database rows (`DueWork`). The scheduler scans for due rows, claims each
with a fresh token and a lease, and kicks a taskiq job naming the row and the token. A worker
counts the attempt when it starts, and does the work only while that claim is its own: it
renews the lease while the handler runs, stops the handler when the claim is lost or the
kind's time limit passes, and records the outcome under the same token (an outcome that
finds the claim gone is a lost claim, not a success). A claim that outlives a crashed worker
or a lost message expires and the row is handed out again; failures back off exponentially,
and a row whose attempts are spent is given up with the reason kept. CLI commands and
requests only ever write rows.

Parts add their own job kinds and sweeps to a `JobRegistry`; the kernel's own kind is email.

Brokers: taskiq's `InMemoryBroker` inside `payfacile serve` when there is no Redis; with Redis,
a stream broker (taskiq-redis', made to outlive a Redis restart) feeds `payfacile worker`
processes from one `payfacile scheduler`. Each process runs at most `JOB_CONCURRENCY` jobs
at once, whatever the broker hands it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq import AckableMessage, AsyncBroker, Context, InMemoryBroker, TaskiqDepends
from taskiq.acks import AcknowledgeType
from taskiq.api import run_receiver_task
from taskiq_redis import RedisStreamBroker
from tortoise.expressions import F, Q
from tortoise.queryset import QuerySet

from payfacile.platform.config import Settings
from payfacile.platform.mail import AttachmentResolver, Mailer
from payfacile.platform.models import OutboxEmail

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=6)
CONTEXT: Context = TaskiqDepends()  # taskiq injects the running task's context here
TASK_NAME = "payfacile.run_job"
SCAN_BATCH = 200
SWEEP_SECONDS = 60.0  # how often the sweeps bring time-driven state up to date
STREAM_MAXLEN = 10_000  # the job stream is trimmed to about this many messages
REDIS_RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)  # a worker's waits while Redis is unreachable


@dataclass(frozen=True)
class Runtime:
    """What jobs need, opened once per process."""

    settings: Settings
    mailer: Mailer
    jobs: JobRegistry
    slots: asyncio.Semaphore  # at most `JOB_CONCURRENCY` jobs of this process at once


Handler = Callable[[Runtime, Any], Awaitable[None]]


@dataclass(frozen=True)
class JobKind:
    """One kind of due work: its rows, what to do with one, and how long a claim lasts.

    `rows` is every row of the kind, across stores: a part whose rows are tenant-owned passes
    its own cross-store query (the scheduler is one of the named reasons).

    The worker renews the `lease` while the handler runs, so a short lease only decides how
    soon a crashed worker's row is handed out again; `time_limit` (the lease when unset) is
    the longest one run may take before it is stopped and counted as a failure. `finished`
    are fields written with the outcome, done or given up (the email's sealed links, blanked);
    done rows are deleted once `retention` has passed, when it is set.

    A `recurring` kind's rows are never done: its handler sets the row's next
    `next_attempt_at` itself (none: nothing more to do) and may delete the row; a success
    only releases the claim and starts the attempts afresh.

    `seed`, when set, runs before each scan of the kind: it makes the rows that should exist
    by now (a part's work that follows from another part's rows), and returns how many."""

    name: str
    rows: Callable[[], QuerySet[Any]]
    handler: Handler
    lease: timedelta
    max_attempts: int
    time_limit: timedelta | None = None
    finished: Mapping[str, Any] = field(default_factory=dict)
    retention: timedelta | None = None
    recurring: bool = False
    seed: Callable[[], Awaitable[int]] | None = None

    @property
    def limit(self) -> timedelta:
        return self.time_limit or self.lease


@dataclass(frozen=True)
class Sweep:
    """State that changes with time alone (a subscription whose last period is over).

    `run` brings it up to date and returns how many rows it changed."""

    name: str
    run: Callable[[], Awaitable[int]]


@dataclass
class JobRegistry:
    """The job kinds and sweeps of every part, and the resolvers of the files emails carry
    (`mail.Attachment`); the scheduler and the workers read it."""

    kinds: dict[str, JobKind] = field(default_factory=dict)
    sweeps: list[Sweep] = field(default_factory=list)
    attachments: dict[str, AttachmentResolver] = field(default_factory=dict)

    def add_kind(self, kind: JobKind) -> None:
        if kind.name in self.kinds:
            raise ValueError(f"job kind {kind.name!r} is registered twice")
        self.kinds[kind.name] = kind
        if kind.retention is not None:
            self.add_sweep(Sweep(name=f"{kind.name} past retention", run=_purger(kind)))

    def add_sweep(self, sweep: Sweep) -> None:
        self.sweeps.append(sweep)

    def add_attachment_kind(self, kind: str, resolver: AttachmentResolver) -> None:
        if kind in self.attachments:
            raise ValueError(f"attachment kind {kind!r} is registered twice")
        self.attachments[kind] = resolver


async def _send_email(runtime: Runtime, row: OutboxEmail) -> None:
    await runtime.mailer.send(row)


EMAIL = JobKind(
    name="email",
    rows=OutboxEmail.all,
    handler=_send_email,
    lease=timedelta(minutes=1),
    time_limit=timedelta(minutes=2),  # at most two SMTP timeouts' worth of one message
    max_attempts=25,  # with a 10 s start and a 6 h cap: about four days of trying
    finished={"sealed": ""},  # a sent (or abandoned) email's links are no one's to use
    retention=timedelta(days=30),
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


def _purger(kind: JobKind) -> Callable[[], Awaitable[int]]:
    """Delete the kind's rows finished (done or given up) longer than its retention ago."""
    assert kind.retention is not None
    retention = kind.retention

    async def purge() -> int:
        before = datetime.now(UTC) - retention
        done = await kind.rows().filter(done_at__lt=before).delete()
        given_up = (
            await kind.rows()
            .filter(done_at=None, next_attempt_at=None, claimed_until__lt=before)
            .delete()
        )
        return int(done) + int(given_up)

    return purge


def backoff(attempts: int, *, base_seconds: float) -> timedelta:
    """The wait after the `attempts`-th failure: base, 2×base, 4×base … up to 6 h, ±10 %."""
    seconds = min(base_seconds * 2 ** max(attempts - 1, 0), MAX_BACKOFF.total_seconds())
    return timedelta(seconds=seconds * random.uniform(0.9, 1.1))


Kick = Callable[[str, int, str], Awaitable[None]]


async def _give_up_spent(kind: JobKind, now: datetime) -> None:
    """Rows due again after their last attempt never reported (a worker died, or the job
    outlived every lease): given up, saying so after the last error they had."""
    spent = await _due(kind, now).filter(attempts__gte=kind.max_attempts).values("id", "last_error")
    for row in spent:
        reason = f"gave up after {kind.max_attempts} attempts: the last one never finished"
        if row["last_error"]:
            reason += f" (before it: {row['last_error']})"
        await (
            _due(kind, now)
            .filter(id=row["id"])
            .update(
                next_attempt_at=None,
                claimed_until=now,
                claim_token="",
                last_error=reason[:2000],
                **kind.finished,
            )
        )
        log.error("%s %s: %s", kind.name, row["id"], reason)


async def dispatch_due(kick: Kick, jobs: JobRegistry, *, batch: int = 200) -> int:
    """Claim due rows of every kind and kick a job for each. Returns how many were kicked.

    A kick that fails (Redis down) hands the claim back, so the row goes out at the next
    scan that can reach the broker."""
    kicked = 0
    for kind in jobs.kinds.values():
        if kind.seed is not None:
            await kind.seed()
        now = datetime.now(UTC)
        await _give_up_spent(kind, now)
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
            if not claimed:
                continue
            try:
                await kick(kind.name, row_id, token)
            except BaseException:
                await (
                    kind.rows()
                    .filter(id=row_id, claim_token=token)
                    .update(claimed_until=None, claim_token="")
                )
                raise
            kicked += 1
    return kicked


class ClaimLost(Exception):
    """Another worker holds the row now: this one's claim expired while it worked."""


class TimeLimitPassed(Exception):
    """The handler ran past its kind's time limit and was stopped."""


async def _run_claimed(kind: JobKind, runtime: Runtime, row: Any, mine: QuerySet[Any]) -> None:
    """Run the handler while renewing the claim; `ClaimLost` if a renewal finds it gone,
    `TimeLimitPassed` past the kind's time limit. The handler never outlives this call."""
    work = asyncio.ensure_future(kind.handler(runtime, row))
    every = max(kind.lease.total_seconds() / 3, 0.05)
    limit = asyncio.timeout(kind.limit.total_seconds())
    try:
        async with limit:
            while True:
                done, _ = await asyncio.wait({work}, timeout=every)
                if done:
                    work.result()
                    return
                renewed = await mine.filter(done_at=None).update(
                    claimed_until=datetime.now(UTC) + kind.lease
                )
                if not renewed:
                    raise ClaimLost
    except TimeoutError:
        if limit.expired():  # ours, not a timeout of the handler's own (SMTP, say)
            raise TimeLimitPassed(f"stopped after {kind.limit.total_seconds():g} s") from None
        raise
    finally:
        if not work.done():
            work.cancel()
            with contextlib.suppress(BaseException):
                await work


async def run_job(runtime: Runtime, kind_name: str, row_id: int, token: str) -> str:
    """Do one claimed row's work and record the outcome. Returns what happened."""
    kind = runtime.jobs.kinds[kind_name]
    async with runtime.slots:
        return await _run_job(runtime, kind, row_id, token)


async def _run_job(runtime: Runtime, kind: JobKind, row_id: int, token: str) -> str:
    now = datetime.now(UTC)
    row = await kind.rows().filter(id=row_id, claim_token=token, done_at=None).first()
    if row is None or row.claimed_until is None or row.claimed_until <= now:
        return "claim lost"
    mine = kind.rows().filter(id=row_id, claim_token=token)
    # The attempt counts from here, whether or not this worker lives to report it; a claim
    # that expired in a queue before any worker started it was no attempt.
    started = await mine.filter(done_at=None, claimed_until__gt=now).update(
        attempts=F("attempts") + 1, claimed_until=now + kind.lease
    )
    if not started:
        return "claim lost"
    attempts = row.attempts + 1
    try:
        await _run_claimed(kind, runtime, row, mine)
    except ClaimLost:
        log.warning("%s %s: claim lost while it ran; another worker has it", kind.name, row_id)
        return "claim lost"
    except Exception as error:
        retry = attempts < kind.max_attempts
        reason = f"{type(error).__name__}: {error}"
        if not retry:
            reason = f"gave up after {attempts} attempts: {reason}"
        wait = backoff(attempts, base_seconds=runtime.settings.job_retry_base_seconds)
        recorded = await mine.update(
            claimed_until=None if retry else datetime.now(UTC),
            claim_token="",
            last_error=reason[:2000],
            next_attempt_at=datetime.now(UTC) + wait if retry else None,
            **({} if retry else dict(kind.finished)),
        )
        if not recorded:
            log.warning("%s %s failed after its claim was lost: %s", kind.name, row_id, error)
            return "claim lost"
        log.warning("%s %s failed (attempt %s): %s", kind.name, row_id, attempts, reason)
        return "retry" if retry else "gave up"
    if kind.recurring:
        recorded = await mine.update(claimed_until=None, claim_token="", attempts=0, last_error="")
        if not recorded and not await kind.rows().filter(id=row_id).exists():
            return "done"  # the handler deleted its row
    else:
        recorded = await mine.update(
            claimed_until=None,
            claim_token="",
            done_at=datetime.now(UTC),
            next_attempt_at=None,
            last_error="",
            **kind.finished,
        )
    if not recorded:
        log.warning("%s %s finished after its claim was lost", kind.name, row_id)
        return "claim lost"
    return "done"


StreamEntries = tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]  # XREADGROUP's answer


class StreamBroker(RedisStreamBroker):
    """taskiq-redis' stream broker, made to outlive Redis.

    A worker whose Redis goes away waits and reads again; one whose Redis came back empty
    (the stream and its consumer group gone: `NOGROUP`) declares the group again, from the
    stream's start, so what the scheduler added meanwhile is read. Messages are
    acknowledged when received and never reclaimed from another consumer: a lost message is
    a row whose claim expires, and the scheduler hands it out again. So the stream holds no
    pending list to sweep and the broker takes no lock keys; every key it writes (the
    stream, trimmed to about `STREAM_MAXLEN`) is under `REDIS_PREFIX`."""

    async def _declare_group(self) -> None:
        async with Redis(connection_pool=self.connection_pool) as redis:
            try:
                await redis.xgroup_create(
                    self.queue_name, self.consumer_group_name, id="0", mkstream=True
                )
            except ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    async def startup(self) -> None:
        await AsyncBroker.startup(self)
        await self._declare_group()

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        failures = 0
        while True:
            try:
                async for message in self._read():
                    failures = 0
                    yield message
            except ResponseError as error:
                if "NOGROUP" in str(error):
                    log.warning("the job stream is gone (Redis restarted empty?): declaring it")
                    await self._redeclare()
                    continue
                failures = await self._pause(failures, error)
            except Exception as error:
                failures = await self._pause(failures, error)

    async def _read(self) -> AsyncGenerator[AckableMessage, None]:
        async with Redis(connection_pool=self.connection_pool) as redis:
            while True:
                fetched = await redis.xreadgroup(
                    self.consumer_group_name,
                    self.consumer_name,
                    {self.queue_name: ">"},
                    block=self.block,
                    count=self.count,
                )
                for _stream, messages in cast(list[StreamEntries], fetched or []):
                    for message_id, message in messages:
                        yield AckableMessage(
                            data=message[b"data"], ack=self._acknowledge(message_id.decode())
                        )

    async def _pause(self, failures: int, error: Exception) -> int:
        wait = REDIS_RETRY_SECONDS[min(failures, len(REDIS_RETRY_SECONDS) - 1)]
        log.warning("reading jobs failed (%s): reading again in %s s", error, wait)
        await asyncio.sleep(wait)
        return failures + 1

    def _acknowledge(self, message_id: str) -> Callable[[], Awaitable[None]]:
        ack = self._ack_generator(id=message_id, queue_name=self.queue_name)

        async def acknowledge() -> None:
            try:
                await ack()
            except (RedisConnectionError, RedisTimeoutError, OSError) as error:
                # Harmless: the row's claim, not the message, decides whether work is done.
                log.warning("could not acknowledge job message %s: %s", message_id, error)

        return acknowledge

    async def _redeclare(self) -> None:
        try:
            await self._declare_group()
        except (RedisConnectionError, RedisTimeoutError, OSError) as error:
            log.warning("Redis is unreachable (%s) while declaring the job stream", error)
            await asyncio.sleep(REDIS_RETRY_SECONDS[0])


def make_broker(settings: Settings) -> AsyncBroker:
    if settings.redis_url:
        return StreamBroker(
            settings.redis_url,
            queue_name=f"{settings.redis_prefix}jobs",
            consumer_group_name=f"{settings.redis_prefix}workers",
            maxlen=STREAM_MAXLEN,
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
    failing = False
    while True:
        try:
            kicked = await dispatch_due(kick, jobs, batch=SCAN_BATCH)
            if failing:
                log.warning("scheduler: handing out due work again")
                failing = False
            if time.monotonic() >= next_sweep:
                await sweep(jobs)
                next_sweep = time.monotonic() + SWEEP_SECONDS
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if not failing:  # once per outage, not once a second
                log.exception("scheduler scan failed (%s); trying again", error)
            failing = True
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
        self.broker.state.runtime = Runtime(
            settings=settings,
            mailer=Mailer(settings, jobs.attachments),
            jobs=jobs,
            slots=asyncio.Semaphore(settings.job_concurrency),
        )
        self.kick = register_tasks(self.broker)
        self.run_scheduler = scheduler
        self.run_worker = worker and not isinstance(self.broker, InMemoryBroker)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.broker.startup()
        if self.run_worker:
            self._tasks.append(asyncio.create_task(self._receive()))
        if self.run_scheduler:
            self._tasks.append(
                asyncio.create_task(scheduler_loop(self.kick, self.settings, self.jobs))
            )

    async def _receive(self) -> None:
        """The worker's receiver, started again should it ever stop on an error."""
        while True:
            try:
                await run_receiver_task(
                    self.broker,
                    max_async_tasks=self.settings.job_concurrency,
                    ack_time=AcknowledgeType.WHEN_RECEIVED,
                )
            except Exception:
                log.exception("the worker stopped receiving jobs; starting it again")
            await asyncio.sleep(REDIS_RETRY_SECONDS[1])

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.broker.shutdown()
