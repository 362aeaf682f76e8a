"""Background work and email: due rows are done once, retried on failure, never lost."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ipaddress
import mailbox
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from quart.typing import TestClientProtocol as Client
from tortoise.transactions import in_transaction

from payfacile.app import background_work
from payfacile.platform.brand import PLATFORM
from payfacile.platform.config import Settings
from payfacile.platform.jobs import Background, backoff, dispatch_due, kernel_jobs, run_job
from payfacile.platform.mail import Mailer, queue_email
from payfacile.platform.models import OutboxEmail
from payfacile.platform.urls import central_url
from payfacile.schema import MODEL_MODULES
from payfacile.tenants.branding import brand_of
from payfacile.tenants.models import DomainStatus, Store
from payfacile.tenants.urls import store_url
from tests.conftest import opened, run_sync, settings_env, work_after_answers
from tests.factories import make_customer, make_domain, make_store

JOBS = kernel_jobs()  # email, the kernel's own kind


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Inbox:
    """What a real SMTP server (aiosmtpd) received."""

    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 Message accepted"

    def subjects(self) -> list[str]:
        with self.lock:
            return [str(message["Subject"]) for message in self.messages]


@contextmanager
def smtp_server(port: int, inbox: Inbox | None = None) -> Iterator[Inbox]:
    inbox = inbox or Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def with_smtp(settings: Settings, port: int) -> Settings:
    return settings.model_copy(
        update={
            "smtp_url": f"smtp://127.0.0.1:{port}",
            "job_retry_base_seconds": 0.2,
            "scheduler_interval": 0.05,
            "smtp_timeout": 5.0,
        }
    )


@asynccontextmanager
async def background(settings: Settings) -> AsyncIterator[Background]:
    jobs = background_work(settings, scheduler=True, worker=True)
    await jobs.start()
    try:
        yield jobs
    finally:
        await jobs.stop()


async def wait_until_all_sent(count: int, *, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await OutboxEmail.filter(done_at__isnull=False).count() >= count:
            return
        await asyncio.sleep(0.05)
    pending = await OutboxEmail.filter(done_at=None).values("id", "attempts", "last_error")
    pytest.fail(f"not all sent within {within} s: {pending}")


async def queue(settings: Settings, store: Store | None, n: int) -> OutboxEmail:
    return await queue_email(
        settings,
        to=f"owner{n}@example.com",
        template="store_invitation",
        context={"store_name": f"Shop {n}", "url": f"http://x.example/{n}", "expires": "soon"},
        brand=brand_of(store) if store else PLATFORM,
        store_id=store.id if store else None,
    )


async def test_emails_are_delivered_over_smtp_once_each(database: Settings) -> None:
    port = free_port()
    settings = with_smtp(database, port)
    store = await make_store("acme", name="Acme Coffee", support_email="help@acme.example.com")
    with smtp_server(port) as inbox:
        rows = [await queue(settings, store, n) for n in range(3)]
        async with background(settings):
            await wait_until_all_sent(3)
    assert sorted(inbox.subjects()) == sorted(row.subject for row in rows)
    message = inbox.messages[0]
    assert message["From"] == f"Acme Coffee <{settings.mail_from}>"
    assert message["Reply-To"] == "help@acme.example.com"
    assert message.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
    assert "http://x.example/" in parts["text/plain"]
    assert '<a href="http://x.example/' in parts["text/html"]
    assert "#" in parts["text/html"]  # the store's colour
    assert {m["Message-ID"] for m in inbox.messages} == {row.message_id for row in rows}
    assert set(await OutboxEmail.all().values_list("attempts", flat=True)) == {1}


async def test_smtp_down_then_back_loses_nothing_and_doubles_nothing(database: Settings) -> None:
    port = free_port()  # nothing listens there yet: the SMTP server is down
    settings = with_smtp(database, port)
    rows = [await queue(settings, None, n) for n in range(5)]
    async with background(settings):
        deadline = time.monotonic() + 10
        while await OutboxEmail.filter(attempts__gte=2).count() < 5:
            assert time.monotonic() < deadline, "the failures were not retried"
            await asyncio.sleep(0.05)
        assert await OutboxEmail.filter(done_at__isnull=False).count() == 0
        failed = await OutboxEmail.first()
        assert failed is not None
        assert "Connect" in failed.last_error or "refused" in failed.last_error.lower()
        with smtp_server(port) as inbox:
            await wait_until_all_sent(5)
            await asyncio.sleep(0.5)  # a doubled delivery would land in this window
    assert sorted(m["Message-ID"] for m in inbox.messages) == sorted(r.message_id for r in rows)


async def test_without_smtp_emails_go_to_the_maildir(database: Settings) -> None:
    settings = database.model_copy(update={"smtp_url": "", "scheduler_interval": 0.05})
    row = await queue(settings, None, 1)
    async with background(settings):
        await wait_until_all_sent(1)
    box = mailbox.Maildir(str(settings.data_dir / "maildir"), create=False)
    messages = list(box)
    assert len(messages) == 1
    assert messages[0]["Subject"] == row.subject
    assert messages[0]["Message-ID"] == row.message_id


async def test_an_email_exists_only_if_its_event_committed(database: Settings) -> None:
    async def event_that_fails() -> None:
        async with in_transaction():
            await queue(database, None, 1)
            raise RuntimeError("the event failed")

    with pytest.raises(RuntimeError):
        await event_that_fails()
    assert await OutboxEmail.all().count() == 0


async def test_a_crashed_workers_claim_expires_and_the_row_is_retried(database: Settings) -> None:
    settings = database.model_copy(update={"smtp_url": ""})
    row = await queue(settings, None, 1)
    lost: list[tuple[str, int, str]] = []

    async def lost_kick(kind: str, row_id: int, token: str) -> None:
        lost.append((kind, row_id, token))  # the worker that got it crashed

    assert await dispatch_due(lost_kick, JOBS) == 1
    assert await dispatch_due(lost_kick, JOBS) == 0  # claimed: not handed out twice
    # Time passes beyond the lease.
    await OutboxEmail.filter(id=row.id).update(
        claimed_until=datetime.now(UTC) - timedelta(seconds=1)
    )
    runtime = background_work(settings, scheduler=False, worker=False).broker.state.runtime
    retried: list[tuple[str, int, str]] = []

    async def kick(kind: str, row_id: int, token: str) -> None:
        retried.append((kind, row_id, token))

    assert await dispatch_due(kick, JOBS) == 1
    assert await run_job(runtime, *retried[0]) == "done"
    assert await run_job(runtime, *lost[0]) == "claim lost"  # the old worker wakes up late
    box = mailbox.Maildir(str(settings.data_dir / "maildir"), create=False)
    assert len(list(box)) == 1


def test_retries_back_off() -> None:
    waits = [backoff(n, base_seconds=10).total_seconds() for n in range(1, 30)]
    assert 9 <= waits[0] <= 11
    assert 18 <= waits[1] <= 22
    assert max(waits) <= 6 * 3600 * 1.1
    assert waits[-1] >= 6 * 3600 * 0.9


FORGED = {
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "https",
    "Forwarded": "host=evil.example",
}
SIGN_IN_LINK = "http://acme.payfacile.localhost:8000/portal/sign-in/"


async def emailed_sign_in_link(client: Client, host: str) -> str:
    """Ask for a sign-in link on `host`, with forged forwarding headers: the email's body."""
    headers = {"Host": host, **FORGED}
    page = await (await client.get("/portal/login", headers=headers)).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None, page[:300]
    form = {"link_email": "camille@example.com", "csrf_token": token.group(1)}
    response = await client.post("/portal/login/link", form=form, headers=headers)
    assert response.status_code == 200, await response.get_data(as_text=True)
    await work_after_answers(client.app)
    row = await OutboxEmail.filter(to_address="camille@example.com").order_by("-id").first()
    assert row is not None, "no sign-in link was emailed"
    return opened(row).text_body


async def test_links_come_from_settings_never_from_a_request(
    client: Client, settings: Settings
) -> None:
    store = await make_store("acme")
    await make_customer(store, "camille@example.com")
    assert central_url(settings, "/admin") == "http://payfacile.localhost:8000/admin"
    assert await store_url(settings, store, "/portal/") == (
        "http://acme.payfacile.localhost:8000/portal/"
    )
    production = settings.model_copy(update={"public_scheme": "https", "public_port": None})
    assert await store_url(production, store, "/portal/") == (
        "https://acme.payfacile.localhost/portal/"
    )

    for host in ("acme.payfacile.localhost", "acme.payfacile.localhost:6666"):
        body = await emailed_sign_in_link(client, host)
        links = re.findall(r"https?://\S+", body)
        assert links, body
        assert all(link.startswith(SIGN_IN_LINK) for link in links), body
        assert "evil.example" not in body
        assert "6666" not in body
    assert await OutboxEmail.filter(to_address="camille@example.com").count() == 2

    await make_domain(store, "shop.acme.example", DomainStatus.ACTIVE, is_primary=True)
    assert await store_url(settings, store, "/portal/") == "https://shop.acme.example/portal/"


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate (its own CA) for 127.0.0.1 and localhost."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def only_us_at_er(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    """Accepts the user "us@er" with the password "p:ss", nobody else."""
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"us@er",
        b"p:ss",
    )
    return AuthResult(success=ok, handled=False)


@contextmanager
def smtps_server(port: int, cert: Path, key: Path) -> Iterator[Inbox]:
    """A real SMTP server with implicit TLS (smtps) that needs a sign-in."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        ssl_context=server_ctx,
        authenticator=only_us_at_er,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


async def test_smtps_with_credentials_from_the_url_delivers(
    database: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = make_certificate(tmp_path)
    # aiosmtplib's default context is ssl.create_default_context(), which loads the CA
    # file that SSL_CERT_FILE names: the client trusts the test certificate, nothing else.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    port = free_port()
    with smtps_server(port, cert, key) as inbox:
        row = await queue(database, None, 1)
        good = database.model_copy(
            update={"smtp_url": f"smtps://us%40er:p%3Ass@127.0.0.1:{port}", "smtp_timeout": 5.0}
        )
        await Mailer(good).send(row)
        assert [str(m["Message-ID"]) for m in inbox.messages] == [row.message_id]
        assert inbox.messages[0]["To"] == "owner1@example.com"

        for wrong in ("us%40er:wrong", "someone:p%3Ass"):
            bad = good.model_copy(update={"smtp_url": f"smtps://{wrong}@127.0.0.1:{port}"})
            with pytest.raises(aiosmtplib.SMTPAuthenticationError):
                await Mailer(bad).send(row)
    assert len(inbox.messages) == 1


def start_payfacile(settings: Settings, *args: str, log: Path) -> subprocess.Popen[bytes]:
    """`payfacile ARGS…` as its own process, with this test's settings; output to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "payfacile", *args],
            env=settings_env(settings, PAYFACILE_SMTP_URL=settings.smtp_url),
            cwd=settings.data_dir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=20)


@pytest.mark.postgres_redis
def test_production_shape_does_each_row_exactly_once(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    settings = with_smtp(settings, port)
    count = 60
    with smtp_server(port) as inbox:
        processes = [
            start_payfacile(
                settings, "serve", "--port", str(free_port()), log=tmp_path / "serve.log"
            ),
            start_payfacile(settings, "scheduler", log=tmp_path / "scheduler.log"),
            start_payfacile(settings, "worker", log=tmp_path / "worker1.log"),
            start_payfacile(settings, "worker", log=tmp_path / "worker2.log"),
        ]
        try:

            async def make_rows() -> list[str]:
                from payfacile.platform import db

                await db.init_db(settings, MODEL_MODULES)
                try:
                    return [(await queue(settings, None, n)).message_id for n in range(count)]
                finally:
                    await db.close_db()

            message_ids = run_sync(make_rows())
            deadline = time.monotonic() + 60
            while len(inbox.subjects()) < count and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1.0)  # a doubled delivery would land in this window
        finally:
            stop_all(processes)
    received = sorted(str(m["Message-ID"]) for m in inbox.messages)
    logs = {p.name: p.read_text()[-2000:] for p in tmp_path.glob("*.log")}
    assert received == sorted(message_ids), logs
