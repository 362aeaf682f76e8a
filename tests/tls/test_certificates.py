"""Certificates for custom domains, against the real thing: Pebble as the CA validating
HTTP-01 against a running `payfacile serve`, pebble-challtestsrv as the DNS both ask, and a
TLS handshake with SNI whose chain verifies against Pebble's root."""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from payfacile.platform.config import Settings
from tests.challtestsrv import ChallTestSrv, free_port
from tests.conftest import require_tool
from tests.pebble import Pebble
from tests.pebble import running as pebble_running
from tests.platform.test_instances import server, wait_for
from tests.platform.test_jobs import start_payfacile, stop_all
from tests.tenants.test_domains_cli import added_with_its_records, domains
from tests.test_cli import payfacile


@pytest.fixture
def http_port() -> int:
    """The port the app serves HTTP on, where Pebble fetches the challenges."""
    return free_port()


@pytest.fixture
def pebble(challtestsrv: ChallTestSrv, http_port: int, tmp_path: Path) -> Iterator[Pebble]:
    executable = require_tool("pebble", "pebble")
    with pebble_running(
        executable, tmp_path / "pebble", dns_server=challtestsrv.nameserver, http_port=http_port
    ) as ca:
        yield ca


@pytest.fixture
def settings(settings: Settings, challtestsrv: ChallTestSrv, pebble: Pebble) -> Settings:
    return settings.model_copy(
        update={
            "dns_nameservers": [challtestsrv.nameserver],
            "acme_directory_url": pebble.directory_url,
            "acme_ca_bundle": str(pebble.ca_bundle),
            "acme_http_port": pebble.http_port,
        }
    )


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


def certs(settings: Settings) -> subprocess.CompletedProcess[str]:
    return payfacile(settings, "certs", "list")


def test_a_verified_domain_gets_a_certificate_served_by_its_name_at_the_handshake(
    settings: Settings, challtestsrv: ChallTestSrv, pebble: Pebble, http_port: int, tmp_path: Path
) -> None:
    host = added_with_its_records(settings, challtestsrv)
    challtestsrv.add_a(settings.cname_target, "127.0.0.1")  # where its CNAME leads
    https_port = free_port()
    env = {"PAYFACILE_SCHEDULER_INTERVAL": "0.2"}
    with (
        server(settings, tmp_path, "--https-port", str(https_port), env=env, port=http_port),
        background(settings, tmp_path),
    ):
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

        # Another name gets the default certificate (the platform's), not this store's.
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(https_port, f"other.{host}", root).close()

    listed = certs(settings).stdout
    row = next(line for line in listed.splitlines() if line.startswith(host))
    assert row.split()[1:3] == ["acme", "active"]
