"""Pebble (Debian package `pebble`), Let's Encrypt's test CA, started on the loopback.

Its own HTTPS listener needs a certificate: each start makes a throwaway CA and a
`127.0.0.1`/`localhost` certificate under it (`ca_bundle` is what the ACME client trusts).
Pebble validates HTTP-01 on `http_port` of the hostname, asking `dns_server` (our
pebble-challtestsrv) for its address. It makes a new root for every start, served on its
management port (`root_pem()`), which a TLS client trusts to verify what it issued.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.challtestsrv import _wait_for, free_port


@dataclass
class Pebble:
    directory_url: str
    management_port: int
    ca_bundle: Path
    http_port: int
    log: Path

    def _logged(self, marker: str) -> int:
        return self.log.read_text().count(marker)

    def orders(self) -> int:
        """Orders placed with this CA so far (its own log says)."""
        return self._logged("Added order")

    def issued(self) -> int:
        """Certificates this CA issued so far."""
        return self._logged("Issued certificate serial")

    def accounts(self) -> int:
        """Accounts registered with this CA so far."""
        return self._logged("POST /sign-me-up")

    def root_pem(self) -> str:
        context = ssl.create_default_context(cafile=str(self.ca_bundle))
        url = f"https://127.0.0.1:{self.management_port}/roots/0"
        with urllib.request.urlopen(url, context=context, timeout=5) as answer:
            return str(answer.read().decode())


def _listener_certificate(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA, and a certificate for 127.0.0.1 and localhost under it."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble listener test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@contextlib.contextmanager
def running(
    executable: str,
    directory: Path,
    *,
    dns_server: str,
    http_port: int,
    nonce_reject_percent: int = 0,
    validation_sleep: int = 0,
) -> Iterator[Pebble]:
    """A Pebble of its own until the block ends, validating at once, or after a random wait
    of up to `validation_sleep` seconds (as a busy CA does)."""
    ca, cert, key = _listener_certificate(directory)
    listen, management = free_port(), free_port()
    config = directory / "pebble-config.json"
    config.write_text(
        json.dumps(
            {
                "pebble": {
                    "listenAddress": f"127.0.0.1:{listen}",
                    "managementListenAddress": f"127.0.0.1:{management}",
                    "certificate": str(cert),
                    "privateKey": str(key),
                    "httpPort": http_port,
                    "tlsPort": free_port(),
                    "ocspResponderURL": "",
                    "externalAccountBindingRequired": False,
                }
            }
        )
    )
    log = directory / "pebble.log"
    environment = {
        **os.environ,
        **(
            {"PEBBLE_VA_SLEEPTIME": str(validation_sleep)}
            if validation_sleep
            else {"PEBBLE_VA_NOSLEEP": "1"}
        ),
        "PEBBLE_WFE_NONCEREJECT": str(nonce_reject_percent),
        "PEBBLE_AUTHZREUSE": "0",
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [executable, "-config", str(config), "-dnsserver", dns_server],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(listen, process)
        _wait_for(management, process)
        time.sleep(0.1)
        yield Pebble(
            directory_url=f"https://127.0.0.1:{listen}/dir",
            management_port=management,
            ca_bundle=ca,
            http_port=http_port,
            log=log,
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
