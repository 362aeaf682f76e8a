"""Background work under faults: slow handlers, stuck handlers, dead workers, Redis restarting
empty, bursts of due rows, a data directory nobody made; and emails whose stored rows never
hold a usable link."""

from __future__ import annotations

import asyncio
import email
import email.policy
import mailbox
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from tortoise import Tortoise

from payfacile.platform.config import Settings
from payfacile.platform.jobs import (
    EMAIL,
    STREAM_MAXLEN,
    Background,
    JobKind,
    JobRegistry,
    dispatch_due,
    kernel_jobs,
    make_broker,
    register_tasks,
    run_job,
    sweep,
)
from payfacile.platform.models import OutboxEmail, SessionKind, TokenPurpose
from payfacile.portal.auth import send_link
from payfacile.schema import MODEL_MODULES
from payfacile.tenants.accounts import send_password_link
from payfacile.tenants.models import MerchantUser, PlatformAdmin
from tests.conftest import run_sync
from tests.factories import make_customer, make_store
from tests.platform.test_jobs import (
    Inbox,
    free_port,
    queue,
    smtp_server,
    start_payfacile,
    stop_all,
    wait_until_all_sent,
    with_smtp,
)


def registry_of(*kinds: JobKind) -> JobRegistry:
    registry = JobRegistry()
    for kind in kinds:
        registry.add_kind(kind)
    return registry


@asynccontextmanager
async def running(settings: Settings, jobs: JobRegistry) -> AsyncIterator[Background]:
    work = Background(settings, jobs, scheduler=True, worker=True)
    await work.start()
    try:
        yield work
    finally:
        await work.stop()


@dataclass
class SlowInbox(Inbox):
    """An SMTP server that takes `seconds` to accept each message, and counts how many it
    was handling at once."""

    seconds: float = 1.0
    in_flight: int = 0
    most_at_once: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.in_flight += 1
            self.most_at_once = max(self.most_at_once, self.in_flight)
        await asyncio.sleep(self.seconds)
        with self.lock:
            self.in_flight -= 1
        return await super().handle_DATA(server, session, envelope)


@contextmanager
def slow_smtp(port: int, seconds: float) -> Iterator[SlowInbox]:
    inbox = SlowInbox(seconds=seconds)
    with smtp_server(port, inbox):
        yield inbox


async def test_a_job_slower_than_its_lease_is_done_once_and_recorded(
    database: Settings,
) -> None:
    """Seen before: one email delivered 4 times in 6 s and never marked sent, with a 1 s
    lease and an SMTP server taking 2.5 s a message. The worker renews its claim now."""
    port = free_port()
    settings = with_smtp(database, port)
    short_lease = replace(EMAIL, lease=timedelta(seconds=0.6), time_limit=timedelta(seconds=20))
    with slow_smtp(port, seconds=2.0) as inbox:
        row = await queue(settings, None, 1)
        async with running(settings, registry_of(short_lease)):
            await wait_until_all_sent(1, within=20)
            await asyncio.sleep(1.5)  # a second delivery would land in this window
    assert [str(m["Message-ID"]) for m in inbox.messages] == [row.message_id]
    sent = await OutboxEmail.get(id=row.id)
    assert sent.done_at is not None
    assert sent.attempts == 1


async def never_finishes(_runtime: Any, _row: Any) -> None:
    await asyncio.Event().wait()


async def test_a_stuck_job_is_stopped_counted_and_given_up_with_the_reason(
    database: Settings,
) -> None:
    settings = database.model_copy(
        update={"scheduler_interval": 0.05, "job_retry_base_seconds": 0.05}
    )
    stuck = JobKind(
        name="stuck",
        rows=OutboxEmail.all,
        handler=never_finishes,
        lease=timedelta(seconds=5),
        time_limit=timedelta(seconds=0.3),
        max_attempts=2,
    )
    row = await queue(settings, None, 1)
    async with running(settings, registry_of(stuck)):
        deadline = time.monotonic() + 15
        while (await OutboxEmail.get(id=row.id)).next_attempt_at is not None:
            assert time.monotonic() < deadline, "the stuck job was never given up"
            await asyncio.sleep(0.05)
    given_up = await OutboxEmail.get(id=row.id)
    assert given_up.attempts == 2
    assert given_up.done_at is None
    assert given_up.last_error.startswith("gave up after 2 attempts: TimeLimitPassed")
    assert "0.3 s" in given_up.last_error


async def test_a_row_whose_worker_dies_every_time_is_given_up_not_handed_out_forever(
    database: Settings,
) -> None:
    """Before: attempts counted failures only, so a job whose worker died mid-way (killed,
    out of memory) was handed out again forever."""
    started = asyncio.Event()

    async def killed_midway(_runtime: Any, _row: Any) -> None:
        started.set()
        await asyncio.Event().wait()

    dies = JobKind(
        name="dies",
        rows=OutboxEmail.all,
        handler=killed_midway,
        lease=timedelta(minutes=1),
        max_attempts=3,
    )
    jobs = registry_of(dies)
    runtime = Background(database, jobs, scheduler=False, worker=False).broker.state.runtime
    row = await queue(database, None, 1)
    workers: list[asyncio.Task[str]] = []

    async def kick(kind: str, row_id: int, token: str) -> None:
        workers.append(asyncio.create_task(run_job(runtime, kind, row_id, token)))

    for _ in range(dies.max_attempts + 3):
        started.clear()
        if await dispatch_due(kick, jobs):
            await started.wait()
            workers[-1].cancel()  # the worker dies mid-job: nothing is recorded
            await asyncio.gather(workers[-1], return_exceptions=True)
        await OutboxEmail.filter(id=row.id, claimed_until__isnull=False).update(
            claimed_until=datetime.now(UTC) - timedelta(seconds=1)  # its lease runs out
        )
    assert len(workers) == dies.max_attempts
    given_up = await OutboxEmail.get(id=row.id)
    assert given_up.next_attempt_at is None
    assert given_up.attempts == dies.max_attempts
    assert "gave up after 3 attempts: the last one never finished" in given_up.last_error


async def test_a_kick_that_fails_hands_the_row_back_for_the_next_scan(
    database: Settings,
) -> None:
    row = await queue(database, None, 1)

    async def broker_down(_kind: str, _row_id: int, _token: str) -> None:
        raise ConnectionError("Redis is down")

    with pytest.raises(ConnectionError):
        await dispatch_due(broker_down, kernel_jobs())
    back = await OutboxEmail.get(id=row.id)
    assert (back.claimed_until, back.claim_token) == (None, "")
    kicked: list[int] = []

    async def broker_up(_kind: str, row_id: int, _token: str) -> None:
        kicked.append(row_id)

    assert await dispatch_due(broker_up, kernel_jobs()) == 1  # at once, not after a lease
    assert kicked == [row.id]


async def test_a_burst_of_due_emails_is_sent_a_few_at_a_time(database: Settings) -> None:
    """Before: the in-process broker opened one SMTP connection per due row at once."""
    port = free_port()
    settings = with_smtp(database, port).model_copy(update={"job_concurrency": 3})
    with slow_smtp(port, seconds=0.3) as inbox:
        for n in range(24):
            await queue(settings, None, n)
        async with running(settings, kernel_jobs()):
            await wait_until_all_sent(24, within=30)
    assert len(inbox.messages) == 24
    assert inbox.most_at_once == 3


async def test_a_worker_creates_the_data_directory_it_delivers_into(
    database: Settings, tmp_path: Path
) -> None:
    """Before: with PostgreSQL and no SMTP URL, every email failed with "No such file or
    directory: …/maildir", since only opening SQLite made the data directory."""
    data_dir = tmp_path / "not" / "made" / "yet"
    settings = database.model_copy(
        update={"data_dir": data_dir, "smtp_url": "", "scheduler_interval": 0.05}
    )
    row = await queue(settings, None, 1)
    async with running(settings, kernel_jobs()):
        await wait_until_all_sent(1)
    assert [m["Message-ID"] for m in mailbox.Maildir(str(data_dir / "maildir"))] == [row.message_id]
    assert data_dir.stat().st_mode & 0o777 == 0o700


async def test_sent_emails_are_deleted_after_thirty_days(database: Settings) -> None:
    old_sent, recent_sent, unsent = [await queue(database, None, n) for n in range(3)]
    month_ago = datetime.now(UTC) - timedelta(days=31)
    await OutboxEmail.filter(id=old_sent.id).update(done_at=month_ago, next_attempt_at=None)
    await OutboxEmail.filter(id=recent_sent.id).update(
        done_at=datetime.now(UTC) - timedelta(days=29), next_attempt_at=None
    )
    await sweep(kernel_jobs())
    assert sorted(await OutboxEmail.all().values_list("id", flat=True)) == sorted(
        [recent_sent.id, unsent.id]
    )


# Redis: a private server this test starts, stops and starts again empty.


class PrivateRedis:
    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.dir = tmp_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (Debian package redis-server)"
        empty = ["--save", "", "--appendonly", "no", "--dir", str(self.dir)]  # keeps nothing
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", *empty],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "the private Redis did not start"
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def key_names(self) -> list[str]:
        client = redis.Redis.from_url(self.url, decode_responses=True)
        try:
            return sorted(client.scan_iter(count=1000))
        finally:
            client.close()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def _queue_one(settings: Settings, n: int) -> str:
    from payfacile.platform import db

    async def make() -> str:
        await db.init_db(settings, MODEL_MODULES)
        try:
            return (await queue(settings, None, n)).message_id
        finally:
            await db.close_db()

    return run_sync(make())


def _wait_for(settings: Settings, inbox: Inbox, count: int, within: float, logs: Path) -> None:
    deadline = time.monotonic() + within
    while len(inbox.subjects()) < count:
        if time.monotonic() > deadline:
            from payfacile.platform import db

            async def rows() -> list[dict[str, Any]]:
                await db.init_db(settings, MODEL_MODULES)
                try:
                    fields = ("id", "attempts", "claimed_until", "done_at", "last_error")
                    return await OutboxEmail.all().values(*fields)
                finally:
                    await db.close_db()

            tails = {p.name: p.read_text()[-6000:] for p in logs.glob("*.log")}
            pytest.fail(
                f"{len(inbox.subjects())} of {count} emails arrived; "
                f"rows {run_sync(rows())}; logs {tails}"
            )
        time.sleep(0.05)


def test_scheduler_and_worker_carry_on_after_redis_restarts_empty(
    settings: Settings, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    """Before: after Redis came back the scheduler logged SendTaskError, the worker's read
    failed with NOGROUP, and no email was sent again until both were restarted."""
    port = free_port()
    settings = with_smtp(settings, port).model_copy(update={"redis_url": private_redis.url})
    logs = tmp_path / "logs"
    logs.mkdir()
    with smtp_server(port) as inbox:
        processes = [
            start_payfacile(settings, verb, log=logs / f"{verb}.log")
            for verb in ("scheduler", "worker")
        ]
        try:
            expected = [_queue_one(settings, 0)]
            _wait_for(settings, inbox, 1, 30, logs)
            private_redis.stop()
            expected.append(_queue_one(settings, 1))  # comes due while Redis is down
            time.sleep(1.5)  # the scheduler tries, and fails, to hand it out
            private_redis.start()  # empty: no stream, no consumer group
            expected.append(_queue_one(settings, 2))
            _wait_for(settings, inbox, 3, 40, logs)
            time.sleep(1.0)  # a doubled delivery would land in this window
        finally:
            stop_all(processes)
    assert sorted(str(m["Message-ID"]) for m in inbox.messages) == sorted(expected)
    assert all(key.startswith(settings.redis_prefix) for key in private_redis.key_names())


async def test_the_job_stream_is_trimmed_and_every_key_is_under_the_prefix(
    database: Settings, private_redis: PrivateRedis
) -> None:
    settings = database.model_copy(update={"redis_url": private_redis.url})
    broker = make_broker(settings)
    kick = register_tasks(broker)
    await broker.startup()
    try:
        for n in range(STREAM_MAXLEN + 2_000):
            await kick("email", n, "token")
    finally:
        await broker.shutdown()
    client = redis.Redis.from_url(private_redis.url)
    try:
        length = client.xlen(f"{settings.redis_prefix}jobs")
    finally:
        client.close()
    assert STREAM_MAXLEN <= length < STREAM_MAXLEN + 1_000  # trimmed, approximately
    assert all(key.startswith(settings.redis_prefix) for key in private_redis.key_names())


# Live links are never stored in clear.

LINKS = re.compile(r"https?://[\w.:-]+(/[\w/-]*/)([\w-]{40,})")


async def every_stored_value() -> list[str]:
    values: list[str] = []
    for model in Tortoise.apps["models"].values():
        for row in await model.all().values():
            values.extend(str(value) for value in row.values() if value is not None)
    return values


async def test_no_table_holds_a_usable_link_before_or_after_it_is_sent(
    database: Settings,
) -> None:
    settings = database.model_copy(update={"smtp_url": "", "scheduler_interval": 0.05})
    store = await make_store("acme")
    buyer = await make_customer(store, "camille@example.com")
    links = [
        await send_link(settings, store, buyer, purpose, to=f"{purpose.value}@example.com")
        for purpose in TokenPurpose
    ]
    owner = await MerchantUser.create(email="owner@example.com")
    admin = await PlatformAdmin.create(email="admin@example.com")
    for kind, account in ((SessionKind.MERCHANT, owner), (SessionKind.ADMIN, admin)):
        for invitation in (True, False):
            links.append(
                await send_password_link(
                    settings, kind, account, invitation=invitation, store=store
                )
            )
    tokens = [link.rsplit("/", 1)[1] for link in links]
    assert len(set(tokens)) == len(TokenPurpose) + 4

    def found_in(values: list[str]) -> list[str]:
        return [token for token in tokens if any(token in value for value in values)]

    assert found_in(await every_stored_value()) == []  # waiting to be sent
    async with running(settings, kernel_jobs()):
        await wait_until_all_sent(len(links))
    assert found_in(await every_stored_value()) == []  # sent
    assert set(await OutboxEmail.all().values_list("sealed", flat=True)) == {""}
    box = mailbox.Maildir(str(settings.data_dir / "maildir"))
    delivered = [
        email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
        for key in box.iterkeys()
    ]
    texts = [message.get_body(("plain",)).get_content() for message in delivered]  # type: ignore[union-attr]
    sent_links = {match.group(0) for text in texts for match in LINKS.finditer(text)}
    assert sent_links == set(links)
