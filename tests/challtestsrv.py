"""pebble-challtestsrv (Debian package `pebble`) as the DNS server tests ask: started on the
loopback on free ports, its records set through its management API.

It answers every name it holds no record for with no answer (its default A and AAAA
addresses are switched off), which a resolver reads as "missing".
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ChallTestSrv:
    dns_port: int
    management_port: int

    @property
    def nameserver(self) -> str:
        """What `PAYFACILE_DNS_NAMESERVERS` names to ask this server."""
        return f"127.0.0.1:{self.dns_port}"

    def _post(self, path: str, **body: Any) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.management_port}/{path}",
            data=json.dumps(body).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 (loopback)
            assert answer.status == 200, (path, answer.status)

    def set_txt(self, name: str, value: str) -> None:
        self._post("set-txt", host=f"{name}.", value=value)

    def clear_txt(self, name: str) -> None:
        self._post("clear-txt", host=f"{name}.")

    def set_cname(self, name: str, target: str) -> None:
        self._post("set-cname", host=f"{name}.", target=f"{target}.")

    def clear_cname(self, name: str) -> None:
        self._post("clear-cname", host=f"{name}.")

    def add_a(self, name: str, *addresses: str) -> None:
        self._post("add-a", host=f"{name}.", addresses=list(addresses))

    def clear_a(self, name: str) -> None:
        self._post("clear-a", host=f"{name}.")

    def add_aaaa(self, name: str, *addresses: str) -> None:
        self._post("add-aaaa", host=f"{name}.", addresses=list(addresses))

    def clear_aaaa(self, name: str) -> None:
        self._post("clear-aaaa", host=f"{name}.")

    def add_caa(self, name: str, *issuers: str, tag: str = "issue") -> None:
        policies = [{"tag": tag, "value": issuer} for issuer in issuers]
        self._post("add-caa", host=f"{name}.", policies=policies)

    def clear_caa(self, name: str) -> None:
        self._post("clear-caa", host=f"{name}.")


@contextlib.contextmanager
def running(executable: str) -> Iterator[ChallTestSrv]:
    """A pebble-challtestsrv of its own, serving DNS only, until the block ends."""
    server = ChallTestSrv(dns_port=free_port(), management_port=free_port())
    process = subprocess.Popen(
        [
            executable,
            "-dns01",
            server.nameserver,
            "-management",
            f"127.0.0.1:{server.management_port}",
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
            "-defaultIPv4",
            "",
            "-defaultIPv6",
            "",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(server.management_port, process)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pebble-challtestsrv exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError("pebble-challtestsrv did not start within 10 s")
