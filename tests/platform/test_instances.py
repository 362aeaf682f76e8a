"""Real servers in separate processes: what one process changes, the others see."""

from __future__ import annotations

import http.client
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import pytest

from payfacile.platform import db
from payfacile.platform.cache import Shared
from payfacile.platform.config import Settings
from payfacile.platform.models import OutboxEmail
from payfacile.schema import MODEL_MODULES
from payfacile.tenants.hosts import LOCAL_TTL_WITH_REDIS_SECONDS, HostResolver
from payfacile.tenants.models import DomainStatus, Store
from tests.conftest import TEST_REDIS_URL, opened, run_sync, settings_env
from tests.factories import make_customer, make_domain
from tests.test_cli import create_store, payfacile


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def status(port: int, host: str, path: str = "/portal/login") -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
            code: int = response.status
            return code
    except urllib.error.HTTPError as error:
        return error.code


@contextmanager
def server(
    settings: Settings,
    cwd: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    access_log: bool = False,
    port: int | None = None,
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`payfacile serve` on `port` (a free one by default), ready; what it prints goes to
    `{DATA_DIR}/server-{port}.log` (unbuffered)."""
    port = port or free_port()
    log_path = settings.data_dir / f"server-{port}.log"
    quiet = [] if access_log else ["--no-access-log"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "payfacile", "serve", "--port", str(port), *quiet, *extra],
            env={**settings_env(settings, **(env or {})), "PYTHONUNBUFFERED": "1"},
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        # Ready when it answers; a server that exits instead fails at once. No clock: a slow
        # start on a loaded machine is still a start (the test's own timeout bounds a hang).
        while True:
            try:
                if status(port, "payfacile.localhost", "/healthz") == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None:
                raise RuntimeError(f"server did not start: {log_path.read_text()}")
            time.sleep(0.1)
        yield port, process
    finally:
        process.terminate()
        process.wait(timeout=15)


def wait_for(check: object, *, within: float) -> float:
    """Seconds until `check()` is true; fails if it is not within `within` seconds."""
    start = time.monotonic()
    while time.monotonic() - start < within:
        if check():  # type: ignore[operator]
            return time.monotonic() - start
        time.sleep(0.02)
    pytest.fail(f"not seen within {within} s")


async def _connect_domain(settings: Settings, slug: str, hostname: str) -> None:
    await db.init_db(settings, MODEL_MODULES)
    shared = Shared(settings.redis_url, prefix=settings.redis_prefix)
    try:
        store = await Store.get(slug=slug)
        await make_domain(store, hostname, DomainStatus.VERIFIED)
        await HostResolver(settings, shared).invalidate([hostname])
    finally:
        await shared.close()
        await db.close_db()


@pytest.mark.postgres_redis
def test_two_instances_see_each_others_changes_within_a_second(
    settings: Settings, tmp_path: Path
) -> None:
    create_store(settings, "acme")
    store_host = "acme.payfacile.localhost"
    with server(settings, tmp_path) as (first, _), server(settings, tmp_path) as (second, _):
        for port in (first, second):
            assert status(port, store_host) == 200  # now cached in both processes
            assert status(port, "shop.acme.test") == 404  # "no store here", cached too

        payfacile(settings, "stores", "suspend", "acme")
        for port in (first, second):
            wait_for(lambda port=port: status(port, store_host) == 503, within=1.0)

        payfacile(settings, "stores", "reactivate", "acme")
        run_sync(_connect_domain(settings, "acme", "shop.acme.test"))
        for port in (first, second):
            wait_for(lambda port=port: status(port, store_host) == 200, within=1.0)
            wait_for(lambda port=port: status(port, "shop.acme.test") == 200, within=1.0)
    # In-process entries live for LOCAL_TTL_WITH_REDIS_SECONDS: only the invalidation
    # message, not expiry, can explain changes seen within a second.
    assert LOCAL_TTL_WITH_REDIS_SECONDS >= 10


@pytest.mark.skipif(bool(TEST_REDIS_URL), reason="the embedded default has no Redis")
def test_without_redis_a_cli_change_shows_within_seconds(
    settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"host_cache_seconds": 3.0})  # the default
    create_store(settings, "acme")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with server(settings, elsewhere) as (port, _):
        assert status(port, "acme.payfacile.localhost") == 200
        payfacile(settings, "stores", "suspend", "acme")
        wait_for(
            lambda: status(port, "acme.payfacile.localhost") == 503,
            within=settings.host_cache_seconds + 2,
        )


def test_an_installed_server_started_anywhere_finds_its_files(
    settings: Settings, tmp_path: Path
) -> None:
    create_store(settings, "acme")
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    with server(settings, elsewhere) as (port, _):
        assert status(port, "acme.payfacile.localhost") == 200
        assert status(port, "acme.payfacile.localhost", "/static/app.css") == 200
        assert status(port, "nowhere.payfacile.localhost") == 404


def workers_of(pid: int) -> set[int]:
    """The worker processes `payfacile serve --workers` started."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[1]) == pid and b"spawn_main" in command:
            found.add(int(stat.parent.name))
    return found


@pytest.mark.postgres_redis  # several workers need Redis (one process would refuse)
def test_serve_with_workers_serves_and_stops_cleanly(settings: Settings, tmp_path: Path) -> None:
    create_store(settings, "acme")
    with server(settings, tmp_path, "--workers", "2") as (port, process):
        codes = {status(port, "acme.payfacile.localhost") for _ in range(20)}
        assert codes == {200}
        workers = workers_of(process.pid)
        assert len(workers) == 2
    assert process.returncode == 0
    assert {pid for pid in workers if Path(f"/proc/{pid}").exists()} == set()


async def _add_buyer(settings: Settings, slug: str, email: str) -> None:
    await db.init_db(settings, MODEL_MODULES)
    try:
        await make_customer(await Store.get(slug=slug), email)
    finally:
        await db.close_db()


async def _emailed_text(settings: Settings, to: str) -> str:
    await db.init_db(settings, MODEL_MODULES)
    try:
        email = await OutboxEmail.filter(to_address=to).order_by("-id").first()
        assert email is not None, f"no email to {to}"
        return opened(email).text_body
    finally:
        await db.close_db()


def ask_for_a_sign_in_link(port: int, host: str, email: str) -> None:
    """What a buyer does: open the sign-in page, then send its "email me a link" form."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/portal/login", headers={"Host": host})
        page = connection.getresponse()
        cookies = "; ".join(c.split(";")[0] for c in page.headers.get_all("Set-Cookie") or [])
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.read().decode())
        assert token is not None
        connection.request(
            "POST",
            "/portal/login/link",
            body=urlencode({"csrf_token": token.group(1), "link_email": email}),
            headers={
                "Host": host,
                "Cookie": cookies,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        answer = connection.getresponse()
        assert answer.status == 200, answer.read()[:500]
    finally:
        connection.close()


@pytest.mark.parametrize("public_port", [None, "8443"])
def test_emailed_links_use_the_port_serve_listens_on_unless_told_otherwise(
    settings: Settings, tmp_path: Path, public_port: str | None
) -> None:
    create_store(settings, "acme")
    run_sync(_add_buyer(settings, "acme", "camille@example.com"))
    env = {"PAYFACILE_PUBLIC_PORT": public_port} if public_port else {}
    with server(settings, tmp_path, env=env) as (port, _):
        ask_for_a_sign_in_link(port, "acme.payfacile.localhost", "camille@example.com")
    text = run_sync(_emailed_text(settings, "camille@example.com"))
    link = re.search(r"http://acme\.payfacile\.localhost(:\d+)?/portal/sign-in/\S+", text)
    assert link is not None, text
    assert link.group(1) == f":{public_port or port}"


def test_serve_first_names_the_addresses_to_open(settings: Settings, tmp_path: Path) -> None:
    with server(settings, tmp_path) as (port, _):
        lines = (settings.data_dir / f"server-{port}.log").read_text().splitlines()
    assert f"http://payfacile.localhost:{port}/" in lines[0]
    shown = "\n".join(lines)
    assert f"http://demo.payfacile.localhost:{port}/portal/" in shown
    assert f"http://payfacile.localhost:{port}/dev/mailbox/" in shown
    assert "http://127.0.0.1" not in shown  # a store host is not served on an IP address


def test_several_workers_without_redis_are_refused_with_the_reason(
    settings: Settings, tmp_path: Path
) -> None:
    """Without Redis, each worker would count rate limits on its own: 30 guesses, 27 checked
    against a limit of 10. `serve --workers 2` says so and stops instead of serving."""
    alone = settings.model_copy(update={"redis_url": ""})
    result = subprocess.run(
        [sys.executable, "-m", "payfacile", "serve", "--port", str(free_port()), "--workers", "2"],
        env=settings_env(alone),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "--workers above 1 needs PAYFACILE_REDIS_URL" in result.stderr
    assert "rate limits" in result.stderr


def test_serve_runs_its_requests_on_uvloop(settings: Settings, tmp_path: Path) -> None:
    """The server's event loop is uvloop's (libuv, in C), as Uvicorn's own `--loop auto`
    would choose, not asyncio's pure-Python one. No answer shows the loop, so the test reads
    which libraries the serving process has loaded."""
    with server(settings, tmp_path) as (port, process):
        assert status(port, "payfacile.localhost", "/healthz") == 200
        loaded = Path(f"/proc/{process.pid}/maps").read_text()
    assert "uvloop/loop" in loaded
