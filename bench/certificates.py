"""Certificates for custom domains, measured (issue 14), end to end on the loopback:
`payfacile serve --https-port` (SQLite, its embedded scheduler and worker), Pebble as the CA
(validating at once, as `tests/pebble.py` starts it) and pebble-challtestsrv as the DNS.

1. seconds from verified to active: a domain's records set, `payfacile domains verify`,
   then the time until a TLS handshake naming it verifies against Pebble's root — for
   `--samples` domains one after the other (median, max);
2. certificates per minute for `--at-once` domains verified in the same instant (their
   status set together in the database, as the DNS checks of many domains would), until
   every one is served by SNI;
3. TLS handshakes per second on the same HTTPS port, from `--clients` processes for
   `--seconds` each (a full handshake per connection, TLS 1.3, no session reuse): naming a
   custom domain (the certificate chosen by `sni_callback` from the cache) and naming the
   central host (the default certificate, one static context, the callback finding none);
   then, to tell the callback's cost from the chain's (Pebble's leaf and intermediate against
   the one self-signed default), a second server whose default certificate is that same
   custom domain's chain (exported with `certs export`). Both serve at once and the three
   kinds take turns, in `ROUNDS` rounds, so that the machine's load falls on each alike.

Figures only, no assertion: the server, the CA, the DNS server and this process share the
machine's cores.

    .venv/bin/python bench/certificates.py [--samples 5] [--at-once 20] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from payfacile.platform import db  # noqa: E402
from payfacile.platform.config import Settings  # noqa: E402
from payfacile.schema import MODEL_MODULES  # noqa: E402
from payfacile.tenants import dns_check  # noqa: E402
from payfacile.tenants.models import Domain, DomainStatus, Store  # noqa: E402
from payfacile.tls.models import Certificate  # noqa: E402
from tests.challtestsrv import ChallTestSrv, free_port  # noqa: E402
from tests.challtestsrv import running as challtestsrv_running  # noqa: E402
from tests.pebble import running as pebble_running  # noqa: E402
from tests.tls.test_certificates import serves_verified  # noqa: E402

CENTRAL = "payfacile.localhost"
ROUNDS = 5  # handshake rounds per kind, taken in turn


def payfacile(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "payfacile", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"payfacile {' '.join(args)} failed: {done.stderr}")
    return done.stdout


@contextmanager
def serving(env: dict[str, str], port: int, https_port: int, log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "payfacile",
                "serve",
                "--port",
                str(port),
                "--https-port",
                str(https_port),
                "--no-access-log",
            ],
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        while not serves_https(https_port):
            if process.poll() is not None:
                raise SystemExit(f"serve exited: {log.read_text()}")
            time.sleep(0.1)
        yield
    finally:
        process.terminate()
        process.wait(timeout=20)


def serves_https(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def set_records(dns: ChallTestSrv, settings: Settings, host: str, token: str) -> None:
    dns.set_txt(dns_check.ownership_name(host), token)
    dns.set_cname(host, settings.cname_target)


async def _token(settings: Settings, slug: str) -> str:
    await db.init_db(settings, MODEL_MODULES)
    try:
        store = await Store.get(slug=slug)
        return store.domain_token
    finally:
        await db.close_db()


async def _verify_all(settings: Settings, hosts: list[str]) -> None:
    await db.init_db(settings, MODEL_MODULES)
    try:
        await Domain.filter(hostname__in=hosts).update(status=DomainStatus.VERIFIED)
    finally:
        await db.close_db()


async def _issued(settings: Settings, hosts: list[str]) -> int:
    await db.init_db(settings, MODEL_MODULES)
    try:
        return await Certificate.filter(domain__hostname__in=hosts).count()
    finally:
        await db.close_db()


def _handshakes(port: int, server_name: str, seconds: float) -> int:
    """Full TLS handshakes (no session reuse) naming `server_name`, for `seconds`."""
    import socket
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the server's work is the same; the client's less
    done = 0
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=server_name),
        ):
            done += 1
    return done


def handshakes_per_second(port: int, server_name: str, seconds: float, clients: int) -> float:
    """Handshakes a second from `clients` processes at once, each for `seconds`."""
    with ProcessPoolExecutor(clients) as pool:
        counts = pool.map(
            _handshakes, [port] * clients, [server_name] * clients, [seconds] * clients
        )
        return sum(counts) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--at-once", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()
    for tool in ("pebble", "pebble-challtestsrv"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (Debian package pebble)")
    work = Path(tempfile.mkdtemp(prefix="pf-bench-certs-"))
    http_port, https_port = free_port(), free_port()
    with (
        challtestsrv_running(shutil.which("pebble-challtestsrv") or "") as dns,
        pebble_running(
            shutil.which("pebble") or "",
            work / "pebble",
            dns_server=dns.nameserver,
            http_port=http_port,
        ) as ca,
    ):
        settings = Settings(
            env="test",
            data_dir=work,
            secret_key=["bench-certificates-secret-key-of-some-length"],
            platform_domain=CENTRAL,
            dns_nameservers=[dns.nameserver],
            acme_directory_url=ca.directory_url,
            acme_ca_bundle=str(ca.ca_bundle),
            acme_http_port=http_port,
        )
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PAYFACILE_")},
            "PAYFACILE_ENV": "test",
            "PAYFACILE_DATA_DIR": str(work),
            "PAYFACILE_SECRET_KEY": settings.secret_key[0],
            "PAYFACILE_PLATFORM_DOMAIN": CENTRAL,
            "PAYFACILE_DNS_NAMESERVERS": dns.nameserver,
            "PAYFACILE_ACME_DIRECTORY_URL": ca.directory_url,
            "PAYFACILE_ACME_CA_BUNDLE": str(ca.ca_bundle),
            "PAYFACILE_ACME_HTTP_PORT": str(http_port),
            "PAYFACILE_SCHEDULER_INTERVAL": "0.2",
        }
        payfacile(env, "migrate")
        stores = ["bench", *(f"many{n}" for n in range(1 + args.at_once // 10))]
        for slug in stores:
            payfacile(
                env, "stores", "create", "--name", slug.title(), "--slug", slug,
                "--owner-email", f"owner@{slug}.example",
            )  # fmt: skip
        dns.add_a(settings.cname_target, "127.0.0.1")
        with serving(env, http_port, https_port, work / "serve.log"):
            root = ca.root_pem()
            print(f"1. verified → active, {args.samples} domains one after the other")
            took = []
            for n in range(args.samples):
                host = f"one{n}.bench-certs.example"
                payfacile(env, "domains", "add", "--store", "bench", host)
                set_records(dns, settings, host, asyncio.run(_token(settings, "bench")))
                payfacile(env, "domains", "verify", host)
                started = time.monotonic()
                while not serves_verified(https_port, host, root):
                    time.sleep(0.02)
                took.append(time.monotonic() - started)
                print(f"   {host}: {took[-1]:.2f} s")
            print(f"   median {statistics.median(took):.2f} s, max {max(took):.2f} s")

            print(f"2. {args.at_once} domains verified at once")
            hosts = [f"many{n}.bench-certs.example" for n in range(args.at_once)]
            for n, host in enumerate(hosts):
                slug = stores[1 + n // 10]  # ten a store: a store connects at most 20
                payfacile(env, "domains", "add", "--store", slug, host)
                set_records(dns, settings, host, asyncio.run(_token(settings, slug)))
            started = time.monotonic()
            asyncio.run(_verify_all(settings, hosts))
            while (issued := asyncio.run(_issued(settings, hosts))) < len(hosts):
                time.sleep(0.25)
            stored = time.monotonic() - started
            while not all(serves_verified(https_port, host, root) for host in hosts):
                time.sleep(0.1)
            served = time.monotonic() - started
            print(
                f"   {issued} stored in {stored:.1f} s ({issued / stored * 60:.0f} a minute),"
                f" all served by SNI after {served:.1f} s"
            )

            print(
                f"3. TLS handshakes a second on one serve process, {args.clients} client"
                f" processes, {args.seconds} s each, in {ROUNDS} interleaved rounds"
            )
            payfacile(env, "certs", "export", str(work / "export"))
            bundle = str(work / "export" / f"{hosts[0]}.pem")
            static_env = {
                **env,
                "PAYFACILE_TLS_DEFAULT_CERT": bundle,
                "PAYFACILE_TLS_DEFAULT_KEY": bundle,
            }
            other_https = free_port()
            # Both servers at once, their rounds taken in turn: what the machine's load does
            # meanwhile falls on each alike.
            with serving(static_env, free_port(), other_https, work / "serve-static.log"):
                kinds = {
                    "sni": (https_port, hosts[0]),
                    "static": (https_port, CENTRAL),
                    "same_chain": (other_https, CENTRAL),
                }
                done = dict.fromkeys(kinds, 0.0)
                each = args.seconds / ROUNDS
                for _ in range(ROUNDS):
                    for kind, (port, name) in kinds.items():
                        done[kind] += handshakes_per_second(port, name, each, args.clients) * each
                sni, static, same_chain = (done[kind] / args.seconds for kind in kinds)
        print(f"   custom domain (sni_callback, from the cache):      {sni:.0f}/s")
        print(f"   central host (the self-signed default, one cert):  {static:.0f}/s")
        print(f"   the custom domain's own chain as the default:      {same_chain:.0f}/s")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
