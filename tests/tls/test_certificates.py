"""Certificates for custom domains, against the real thing: Pebble as the CA validating
HTTP-01 against a running `payfacile serve`, pebble-challtestsrv as the DNS both ask, and a
TLS handshake with SNI whose chain verifies against Pebble's root."""

from __future__ import annotations

import contextlib
import http.client
import re
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from payfacile.platform import db
from payfacile.platform.config import Settings
from payfacile.schema import MODEL_MODULES
from payfacile.tenants.models import Domain
from payfacile.tls.models import AcmeAccount, AcmeOrder, Certificate
from tests.challtestsrv import ChallTestSrv, free_port
from tests.conftest import ordering_from, run_sync
from tests.pebble import Pebble
from tests.platform.test_instances import server, wait_for
from tests.platform.test_jobs import start_payfacile, stop_all
from tests.tenants.test_domains_cli import added_with_its_records, domains
from tests.test_cli import payfacile


@pytest.fixture
def settings(settings: Settings, challtestsrv: ChallTestSrv, pebble: Pebble) -> Settings:
    return ordering_from(settings, challtestsrv, pebble)


def handshake(port: int, server_name: str, root_pem: str) -> ssl.SSLSocket:
    """A TLS connection to the loopback naming `server_name`, verified against `root_pem`."""
    context = ssl.create_default_context(cadata=root_pem)
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    return context.wrap_socket(raw, server_hostname=server_name)


def serves_verified(port: int, server_name: str, root_pem: str) -> bool:
    try:
        with handshake(port, server_name, root_pem):
            return True
    except (ssl.SSLError, OSError):
        return False


def get(port: int, server_name: str, root_pem: str, path: str = "/portal/login") -> bytes:
    with handshake(port, server_name, root_pem) as connection:
        connection.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n".encode()
        )
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@contextlib.contextmanager
def background(settings: Settings, tmp_path: Path) -> Iterator[None]:
    """The scheduler and a worker in processes of their own, with Redis (serve runs them
    itself without)."""
    if not settings.redis_url:
        yield
        return
    processes = [
        start_payfacile(settings, "scheduler", log=tmp_path / "scheduler.log"),
        start_payfacile(settings, "worker", log=tmp_path / "worker.log"),
    ]
    try:
        yield
    finally:
        stop_all(processes)


def plain(port: int, host: str, path: str) -> tuple[int, str]:
    """The status and Location of a plain-HTTP GET of `path` on `host`."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers={"Host": host})
        answer = connection.getresponse()
        return answer.status, answer.getheader("Location") or ""
    finally:
        connection.close()


@contextlib.contextmanager
def issuing(
    settings: Settings, tmp_path: Path, http_port: int, https_port: int | None = None
) -> Iterator[None]:
    """`payfacile serve` on the port Pebble validates on (and HTTPS on `https_port`),
    scanning for due work every 0.2 s, with the `background` that orders certificates."""
    tls = ("--https-port", str(https_port)) if https_port is not None else ()
    env = {"PAYFACILE_SCHEDULER_INTERVAL": "0.2"}
    with server(settings, tmp_path, *tls, env=env, port=http_port), background(settings, tmp_path):
        yield


def certs(settings: Settings) -> subprocess.CompletedProcess[str]:
    return payfacile(settings, "certs", "list")


def test_a_verified_domain_gets_a_certificate_served_by_its_name_at_the_handshake(
    settings: Settings, challtestsrv: ChallTestSrv, pebble: Pebble, http_port: int, tmp_path: Path
) -> None:
    host = connected(settings, challtestsrv)
    https_port = free_port()
    with issuing(settings, tmp_path, http_port, https_port):
        root = pebble.root_pem()
        assert not serves_verified(https_port, host, root)  # no certificate yet
        assert domains(settings, "verify", host).returncode == 0
        started = time.monotonic()
        wait_for(lambda: serves_verified(https_port, host, root), within=60.0)
        seconds = time.monotonic() - started
        print(f"verified → served over HTTPS in {seconds:.2f} s")

        answer = get(https_port, host, root)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        head = answer.split(b"\r\n\r\n", 1)[0].lower()
        assert b"strict-transport-security: max-age=31536000" in head
        assert re.search(rb"set-cookie: [^\r]*; secure", head)  # over HTTPS, even in tests
        with handshake(https_port, host, root) as connection:
            leaf = connection.getpeercert()
        assert ("DNS", host) in leaf["subjectAltName"]

        # Plain HTTP now redirects to HTTPS, except ACME's challenges; the platform
        # subdomain's portal sends its visitors to this primary domain.
        secure_origin = f"https://{host}:{https_port}"
        assert plain(http_port, host, "/portal/orders?page=2") == (
            301,
            f"{secure_origin}/portal/orders?page=2",
        )
        assert plain(http_port, host, "/.well-known/acme-challenge/" + "x" * 43)[0] == 404
        assert plain(http_port, "acme.payfacile.localhost", "/portal/login") == (
            301,
            f"{secure_origin}/portal/login",
        )

        # Another name gets the default certificate (the platform's), not this store's,
        # and then the page saying there is no store here.
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(https_port, f"other.{host}", root).close()
        unverified = ssl.create_default_context()
        unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE
        with (
            socket.create_connection(("127.0.0.1", https_port), timeout=5) as raw,
            unverified.wrap_socket(raw, server_hostname=f"other.{host}") as other,
        ):
            served = other.getpeercert(binary_form=True)
            assert served is not None
            names = x509.load_der_x509_certificate(served).extensions.get_extension_for_class(
                x509.SubjectAlternativeName
            )
            assert host not in names.value.get_values_for_type(x509.DNSName)
            other.sendall(
                f"GET / HTTP/1.1\r\nHost: other.{host}\r\nConnection: close\r\n\r\n".encode()
            )
            assert other.recv(65536).startswith(b"HTTP/1.1 404")

    listed = certs(settings).stdout
    row = next(line for line in listed.splitlines() if line.startswith(host))
    assert row.split()[1:3] == ["acme", "active"]

    # For a terminator in front: a bundle per domain, and HAProxy's crt-list naming it.
    exported = payfacile(settings, "certs", "export", str(tmp_path / "export"))
    assert exported.returncode == 0, exported.stderr
    bundle = tmp_path / "export" / f"{host}.pem"
    assert (tmp_path / "export" / "crt-list.txt").read_text() == f"{bundle} {host}\n"
    assert bundle.stat().st_mode & 0o777 == 0o600
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(bundle)


def connected(settings: Settings, challtestsrv: ChallTestSrv) -> str:
    """A new store's domain with its records set in DNS, and its CNAME's target addressed
    to the loopback, where Pebble and the pre-flight reach the app."""
    host = added_with_its_records(settings, challtestsrv)
    challtestsrv.add_a(settings.cname_target, "127.0.0.1")
    return host


def served_serial(port: int, host: str, root: str) -> int:
    with handshake(port, host, root) as connection:
        der = connection.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


async def _renewal_due(settings: Settings, host: str) -> None:
    """Move the clock on, as far as this certificate knows: its renewal time has come."""
    await db.init_db(settings, MODEL_MODULES)
    try:
        now = datetime.now(UTC)
        domain = await Domain.get(hostname=host)
        await Certificate.filter(domain_id=domain.id).update(renew_at=now - timedelta(seconds=1))
        await AcmeOrder.filter(domain_id=domain.id).update(next_attempt_at=now)
    finally:
        await db.close_db()


async def _certificates_of(settings: Settings, host: str) -> int:
    await db.init_db(settings, MODEL_MODULES)
    try:
        return await Certificate.filter(domain__hostname=host).count()
    finally:
        await db.close_db()


def test_renewal_serves_the_old_certificate_until_the_new_one_is_stored(
    settings: Settings, challtestsrv: ChallTestSrv, pebble: Pebble, http_port: int, tmp_path: Path
) -> None:
    host = connected(settings, challtestsrv)
    https_port = free_port()
    with issuing(settings, tmp_path, http_port, https_port):
        root = pebble.root_pem()
        assert domains(settings, "verify", host).returncode == 0
        wait_for(lambda: serves_verified(https_port, host, root), within=60.0)
        first = served_serial(https_port, host, root)

        run_sync(_renewal_due(settings, host))
        # Every handshake meanwhile verifies (served_serial would raise): the old
        # certificate until the new one.
        wait_for(lambda: served_serial(https_port, host, root) != first, within=60.0)
    assert pebble.issued() == 2
    assert run_sync(_certificates_of(settings, host)) == 1  # the old one and its key gone
    assert certs(settings).stdout.splitlines()[1].split()[2] == "active"


@pytest.mark.postgres_redis
def test_a_removed_domain_stops_being_served_on_every_instance_within_a_second(
    settings: Settings, challtestsrv: ChallTestSrv, pebble: Pebble, http_port: int, tmp_path: Path
) -> None:
    host = connected(settings, challtestsrv)
    https_port, other_https_port = free_port(), free_port()
    with (
        issuing(settings, tmp_path, http_port, https_port),
        server(settings, tmp_path, "--https-port", str(other_https_port)),
    ):
        root = pebble.root_pem()
        assert domains(settings, "verify", host).returncode == 0
        for port in (https_port, other_https_port):
            wait_for(lambda port=port: serves_verified(port, host, root), within=60.0)

        assert domains(settings, "remove", host).returncode == 0
        for port in (https_port, other_https_port):
            wait_for(lambda port=port: not serves_verified(port, host, root), within=1.0)
    assert run_sync(_certificates_of(settings, host)) == 0  # its key deleted with it


@pytest.mark.parametrize("nonce_reject_percent", [50])
def test_a_ca_rejecting_half_the_nonces_still_issues(
    settings: Settings, challtestsrv: ChallTestSrv, pebble: Pebble, http_port: int, tmp_path: Path
) -> None:
    host = connected(settings, challtestsrv)
    with issuing(settings, tmp_path, http_port):
        assert domains(settings, "verify", host).returncode == 0
        # Without retries of our own, 4 issuances in 5 fail here (the library retries
        # once), and the next try would come a minute later, past this wait.
        wait_for(lambda: "active" in certs(settings).stdout, within=50.0)
    assert "Configured to reject 50% of good nonces" in pebble.log.read_text()
    assert pebble.issued() == 1


@pytest.mark.postgres_redis
def test_two_schedulers_and_two_workers_racing_for_one_hostname_place_one_order(
    settings: Settings, challtestsrv: ChallTestSrv, pebble: Pebble, http_port: int, tmp_path: Path
) -> None:
    host = connected(settings, challtestsrv)
    env = {"PAYFACILE_SCHEDULER_INTERVAL": "0.05"}
    with server(settings, tmp_path, env=env, port=http_port):
        racers = [
            start_payfacile(settings, role, log=tmp_path / f"{role}-{n}.log")
            for role in ("scheduler", "worker")
            for n in (1, 2)
        ]
        try:
            assert domains(settings, "verify", host).returncode == 0
            wait_for(lambda: "active" in certs(settings).stdout, within=60.0)
            time.sleep(1.0)  # time for a second order, were one under way
        finally:
            stop_all(racers)
    assert (pebble.accounts(), pebble.orders(), pebble.issued()) == (1, 1, 1)


async def _order_state(settings: Settings, host: str) -> str:
    await db.init_db(settings, MODEL_MODULES)
    try:
        row = await AcmeOrder.filter(domain__hostname=host).first()
        return row.state if row else ""
    finally:
        await db.close_db()


@pytest.mark.postgres_redis
@pytest.mark.parametrize("validation_sleep", [4])
def test_a_worker_killed_mid_order_is_taken_over_and_the_certificate_issued_once(
    settings: Settings, challtestsrv: ChallTestSrv, pebble: Pebble, http_port: int, tmp_path: Path
) -> None:
    host = connected(settings, challtestsrv)
    env = {"PAYFACILE_SCHEDULER_INTERVAL": "0.2"}
    with server(settings, tmp_path, env=env, port=http_port):
        scheduler = start_payfacile(settings, "scheduler", log=tmp_path / "scheduler.log")
        doomed = start_payfacile(settings, "worker", log=tmp_path / "worker-1.log")
        try:
            assert domains(settings, "verify", host).returncode == 0
            wait_for(lambda: run_sync(_order_state(settings, host)) == "ordering", within=30.0)
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
            assert pebble.issued() == 0
            survivor = start_payfacile(settings, "worker", log=tmp_path / "worker-2.log")
            try:
                # Taken over once the dead worker's lease lapses (30 s).
                wait_for(lambda: "active" in certs(settings).stdout, within=90.0)
            finally:
                stop_all([survivor])
        finally:
            stop_all([scheduler])
    assert pebble.issued() == 1


async def _sealed_keys(settings: Settings) -> list[str]:
    await db.init_db(settings, MODEL_MODULES)
    try:
        certificates = await Certificate.all().values_list("key_encrypted", flat=True)
        accounts = await AcmeAccount.all().values_list("key_encrypted", flat=True)
        return [str(value) for value in [*certificates, *accounts]]
    finally:
        await db.close_db()


def test_keys_rotate_seals_every_key_again_so_the_old_secret_can_go(
    settings: Settings, challtestsrv: ChallTestSrv, pebble: Pebble, http_port: int, tmp_path: Path
) -> None:
    host = connected(settings, challtestsrv)
    https_port = free_port()
    with issuing(settings, tmp_path, http_port, https_port):
        assert domains(settings, "verify", host).returncode == 0
        wait_for(lambda: "active" in certs(settings).stdout, within=60.0)
    before = run_sync(_sealed_keys(settings))
    assert len(before) == 2  # the certificate's key and the account's

    new_key = "a-new-secret-key-of-more-than-thirty-two-bytes"
    both = settings.model_copy(update={"secret_key": [new_key, *settings.secret_key]})
    rotated = payfacile(both, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert "certificate keys" in rotated.stdout
    assert "1/1" in rotated.stdout
    after = run_sync(_sealed_keys(settings))
    assert set(after).isdisjoint(before)

    only_new = settings.model_copy(update={"secret_key": [new_key]})
    with server(only_new, tmp_path, "--https-port", str(https_port), port=http_port):
        wait_for(lambda: serves_verified(https_port, host, pebble.root_pem()), within=10.0)
