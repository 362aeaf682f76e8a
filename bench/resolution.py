"""Requests per second of a resolved store page against a bare route, on one Uvicorn worker.

Three targets, each loaded with wrk on the loopback:

1. a plain Quart app with a single route returning "ok": the framework floor;
2. that same route registered on the PayFacile app (`bench/bare_app.py`): host resolution
   from the in-process cache, the CSRF check and the security headers, no template, no query;
3. the demo store's customer portal, GET /portal/ on `demo.{PLATFORM_DOMAIN}`: the same
   request flow plus a Jinja template.

The data lives in a temporary directory (SQLite, in-process cache), or with `--postgres URL
--redis URL` in a throwaway PostgreSQL database `pf_bench` and a unique Redis key prefix. It
prints figures and asserts no timing: wrk, the server and the database share this machine's
cores, so compare figures from one run with each other, not with another machine's. The
server's CPU time per request is printed too: it moves much less than requests/s when other
work shares the cores.

    .venv/bin/python bench/resolution.py
    .venv/bin/python bench/resolution.py --postgres postgres://postgres@127.0.0.1:5432/postgres \\
        --redis redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bare_app import BARE_BODY, BARE_PATH  # noqa: E402

BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
PLATFORM_DOMAIN = "payfacile.localhost"
STORE_HOST = f"demo.{PLATFORM_DOMAIN}"
STORE_NAME = "Atelier Lumière"  # what `payfacile demo` calls its store
BENCH_DATABASE = "pf_bench"
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
RESULT_MARK = "BENCH_RESULT "
BUSY_WARNING = 0.10  # share of the CPUs already busy before the run that makes figures suspect
# wrk calls `done` once at the end: one line of JSON with the figures we print (times in µs).
WRK_SCRIPT = f"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{RESULT_MARK}{{"requests": %.0f, "duration_us": %.0f, "p50_us": %.0f, "p99_us": %.0f, '
    .. '"connect": %.0f, "read": %.0f, "write": %.0f, "status": %.0f, "timeout": %.0f}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


class BenchError(Exception):
    """A set-up step failed; the message says which and what to do."""


@dataclasses.dataclass(frozen=True)
class Load:
    seconds: int
    warmup_seconds: int
    connections: int
    threads: int


@dataclasses.dataclass(frozen=True)
class Target:
    label: str
    path: str
    host: str
    expect_body: str | None = None  # exact body; else a page that names the demo store
    cookie: str = ""  # a Cookie header to send (a signed-in session)


@dataclasses.dataclass(frozen=True)
class Result:
    target: Target
    requests: int
    requests_per_second: float
    p50_us: float
    p99_us: float
    # The server process's CPU time (all its threads) per request: unlike requests/s, it
    # hardly moves when other work shares the cores. None where /proc is missing.
    server_cpu_us: float | None = None


@dataclasses.dataclass(frozen=True)
class Backend:
    """Where the app keeps its data: the `PAYFACILE_*` values that say so, and a description."""

    description: str
    database_url: str = ""
    redis_url: str = ""
    redis_prefix: str = ""


# --- processes -------------------------------------------------------------------------------


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def cpu_busy(seconds: float = 1.0) -> float | None:
    """The share of this machine's CPU time spent busy over the next `seconds` (Linux)."""

    def sample() -> tuple[int, int]:
        fields = [int(value) for value in Path("/proc/stat").read_text().split()[1:9]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    try:
        total_before, idle_before = sample()
        time.sleep(seconds)
        total, idle = sample()
    except (OSError, ValueError):
        return None
    elapsed = total - total_before
    return 1 - (idle - idle_before) / elapsed if elapsed > 0 else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def app_env(data_dir: Path, backend: Backend) -> dict[str, str]:
    """This process's environment without any `PAYFACILE_*`, plus the benchmark's own."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PAYFACILE_")}
    env.update(
        PAYFACILE_ENV="development",
        PAYFACILE_DATA_DIR=str(data_dir),
        PAYFACILE_PLATFORM_DOMAIN=PLATFORM_DOMAIN,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    if backend.database_url:
        env["PAYFACILE_DATABASE_URL"] = backend.database_url
    if backend.redis_url:
        env["PAYFACILE_REDIS_URL"] = backend.redis_url
        env["PAYFACILE_REDIS_PREFIX"] = backend.redis_prefix
    return env


def run_checked(command: list[str], *, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        raise BenchError(f"`{' '.join(command)}` failed ({done.returncode}):\n{output}")
    return done.stdout


def get(port: int, path: str, host: str, cookie: str = "") -> tuple[int, str]:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
    try:
        headers = {"Host": host, "Cookie": cookie} if cookie else {"Host": host}
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


class Server:
    """One Uvicorn worker serving `factory` on a free loopback port; stopped on exit."""

    def __init__(self, factory: str, env: dict[str, str], log_path: Path) -> None:
        self.factory = factory
        self.env = env
        self.log_path = log_path
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """The server's command line (a subclass may serve another way on `self.port`)."""
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            self.factory,
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--lifespan",
            "on",
            "--no-access-log",
            "--no-server-header",
            "--no-proxy-headers",
            "--log-level",
            "warning",
        ]

    def __enter__(self) -> Server:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{self.factory} exited at start-up:\n{self.log_tail()}")
            try:
                # Any answer means Uvicorn is listening and the lifespan (database) is up.
                get(self.port, BARE_PATH, LOOPBACK)
            except OSError:
                time.sleep(0.1)
                continue
            return
        raise BenchError(f"{self.factory} was not ready after {READY_TIMEOUT_SECONDS:.0f} s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def cpu_seconds(self) -> float | None:
        """User and system CPU time the server has used so far (Linux)."""
        if self.process is None:
            return None
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        except OSError:
            return None
        fields = stat.rpartition(")")[2].split()  # after "pid (comm)": state is fields[0]
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])


# --- data --------------------------------------------------------------------------------------


def _psql(admin_url: str, sql: str) -> None:
    parts = urlsplit(admin_url)
    env = dict(os.environ)
    if parts.password:
        env["PGPASSWORD"] = parts.password
    command = [
        "psql",
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        parts.hostname or LOOPBACK,
        "-p",
        str(parts.port or 5432),
        "-U",
        parts.username or "postgres",
        "-d",
        parts.path.lstrip("/") or "postgres",
        "-c",
        sql,
    ]
    run_checked(command, env=env)


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh `pf_bench` database on the server of `admin_url`, dropped afterwards."""
    if shutil.which("psql") is None:
        raise BenchError("--postgres needs psql (Debian package postgresql-client)")
    drop = f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'
    _psql(admin_url, drop)
    _psql(admin_url, f'CREATE DATABASE "{BENCH_DATABASE}"')
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{BENCH_DATABASE}"))
    finally:
        _psql(admin_url, drop)


def drop_redis_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def prepare_data(env: dict[str, str]) -> None:
    """`payfacile migrate` and `payfacile demo` with the installed CLI."""
    cli = str(BIN / "payfacile")
    run_checked([cli, "migrate"], env=env)
    run_checked([cli, "demo"], env=env)


# --- load --------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        print("wrk is not installed; installing the Debian package …", flush=True)
        for step in (
            ["install", "-y", "-q", "wrk"],
            ["update", "-q"],
            ["install", "-y", "-q", "wrk"],
        ):
            subprocess.run([apt, *step], check=False, capture_output=True)
            found = shutil.which("wrk")
            if found:
                return found
    raise BenchError(
        "This benchmark needs wrk and could not install it. Install the Debian package"
        " (`sudo apt-get install wrk`) or build it from https://github.com/wg/wrk."
    )


def check_target(port: int, target: Target) -> None:
    """One request before the load: the right status and body, so wrk measures the page."""
    status, body = get(port, target.path, target.host, target.cookie)
    if target.expect_body is not None:
        ok = status == 200 and body == target.expect_body
    else:
        ok = status == 200 and STORE_NAME in body
    if not ok:
        raise BenchError(f"{target.label}: GET {target.path} answered {status}: {body[:300]!r}")


def run_wrk(wrk: str, script: Path, port: int, target: Target, seconds: int, load: Load) -> Result:
    command = [
        wrk,
        f"--threads={load.threads}",
        f"--connections={load.connections}",
        f"--duration={seconds}s",
        "--timeout=5s",
        f"--script={script}",
        "--header",
        f"Host: {target.host}",
        *(["--header", f"Cookie: {target.cookie}"] if target.cookie else []),
        f"http://{LOOPBACK}:{port}{target.path}",
    ]
    output = run_checked(command)
    line = next((ln for ln in output.splitlines() if ln.startswith(RESULT_MARK)), None)
    if line is None:
        raise BenchError(f"wrk printed no result for {target.label}:\n{output}")
    data = json.loads(line.removeprefix(RESULT_MARK))
    errors = {key: int(data[key]) for key in ("connect", "read", "write", "status", "timeout")}
    if any(errors.values()):
        raise BenchError(f"{target.label}: wrk saw errors {errors}:\n{output}")
    return Result(
        target=target,
        requests=int(data["requests"]),
        requests_per_second=data["requests"] / (data["duration_us"] / 1e6),
        p50_us=data["p50_us"],
        p99_us=data["p99_us"],
    )


def measure(wrk: str, script: Path, server: Server, target: Target, load: Load) -> Result:
    check_target(server.port, target)
    print(f"  {target.label} …", end="", flush=True)
    if load.warmup_seconds:
        run_wrk(wrk, script, server.port, target, load.warmup_seconds, load)
    cpu_before = server.cpu_seconds()
    result = run_wrk(wrk, script, server.port, target, load.seconds, load)
    cpu_after = server.cpu_seconds()
    if cpu_before is not None and cpu_after is not None and result.requests:
        per_request = (cpu_after - cpu_before) / result.requests * 1e6
        result = dataclasses.replace(result, server_cpu_us=per_request)
    print(f" {result.requests_per_second:,.0f} requests/s", flush=True)
    return result


# --- report ------------------------------------------------------------------------------------


def _ms(microseconds: float) -> str:
    return f"{microseconds / 1000:.2f} ms"


def code_version() -> str:
    """The commit measured, and whether the work tree differs from it."""
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    if head.returncode != 0:
        return "unknown"
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "payfacile"],
        capture_output=True,
        text=True,
        check=False,
    )
    changed = " + uncommitted changes in payfacile/" if dirty.stdout.strip() else ""
    return f"{head.stdout.strip()}{changed}"


def print_table(results: list[Result], *, base: Result, share_label: str) -> None:
    """One row per target: requests/s, latency, share of `base`'s requests/s, CPU/request."""
    width = max(len(result.target.label) for result in results)
    print(
        f"{'target'.ljust(width)}  {'requests/s':>10}  {'p50':>9}  {'p99':>9}"
        f"  {share_label:>8}  {'server CPU/request':>18}"
    )
    for result in results:
        share = result.requests_per_second / base.requests_per_second
        cpu = "-" if result.server_cpu_us is None else f"{result.server_cpu_us:,.0f} µs"
        print(
            f"{result.target.label.ljust(width)}  {result.requests_per_second:>10,.0f}"
            f"  {_ms(result.p50_us):>9}  {_ms(result.p99_us):>9}  {share:>8.0%}  {cpu:>18}"
        )


def report(backend: Backend, load: Load, busy_before: float | None, results: list[Result]) -> None:
    floor, bare, page = results
    print()
    print(f"PayFacile host resolution — {backend.description}, code {code_version()}")
    print(
        f"wrk: {load.connections} connections, {load.threads} threads, {load.seconds} s per"
        f" target after {load.warmup_seconds} s of warm-up; Uvicorn: 1 worker, loop and http auto"
    )
    busy = "unknown" if busy_before is None else f"{busy_before:.0%}"
    print(
        f"machine: {os.cpu_count()} CPUs shared by wrk, the server and the database;"
        f" {busy} busy just before the run"
    )
    if busy_before is not None and busy_before > BUSY_WARNING:
        print("  other work was running: these figures are low and noisy, run again when idle")
    print()
    print_table(results, base=floor, share_label="of floor")
    print()
    ratio = page.requests_per_second / bare.requests_per_second
    line = f"store page / PayFacile bare route: {ratio:.2f} of the requests/s"
    if page.server_cpu_us and bare.server_cpu_us:
        line += f", {page.server_cpu_us / bare.server_cpu_us:.1f}× the server CPU per request"
    print(line)
    print("wrk sends no cookies: each store page mints a CSRF cookie, as on a first visit.")
    print("Figures from one run compare with each other, not with another run's or machine's.")


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None, doc: str | None = __doc__) -> argparse.Namespace:
    """The options every benchmark here takes (`doc`: the benchmark's module docstring)."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL server (with --redis)")
    parser.add_argument("--redis", metavar="URL", help="Redis server (with --postgres)")
    parser.add_argument("--seconds", type=int, default=10, help="load per target (10)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up per target (2)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if bool(args.postgres) != bool(args.redis):
        parser.error("--postgres and --redis go together")
    for flag, url in (("--postgres", args.postgres), ("--redis", args.redis)):
        host = urlsplit(url).hostname if url else LOOPBACK
        if host not in LOOPBACK_NAMES:
            parser.error(f"{flag} must be on the loopback (127.0.0.1), not {host or url!r}")
    if args.seconds < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--seconds and --threads must be 1 or more, --warmup 0 or more")
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads")
    return args


@dataclasses.dataclass(frozen=True)
class Setup:
    load: Load
    wrk: str
    work: Path  # a temporary directory, removed at the end
    script: Path  # wrk's reporting script
    backend: Backend
    env: dict[str, str]  # the app's environment: `payfacile …` and the servers use it


def set_up(args: argparse.Namespace, stack: contextlib.ExitStack) -> Setup:
    """wrk, a work directory, the back end (a throwaway database and Redis prefix, or SQLite in
    the work directory) and the demo store in it; all undone when `stack` closes."""
    load = Load(args.seconds, args.warmup, args.connections, args.threads)
    wrk = ensure_wrk()
    work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pf-bench-")))
    script = work / "report.lua"
    script.write_text(WRK_SCRIPT)
    if args.postgres:
        database_url = stack.enter_context(postgres_database(args.postgres))
        prefix = f"pfbench:{uuid.uuid4().hex[:12]}:"
        stack.callback(drop_redis_keys, args.redis, prefix)
        backend = Backend(
            f"PostgreSQL database {BENCH_DATABASE} + Redis",
            database_url=database_url,
            redis_url=args.redis,
            redis_prefix=prefix,
        )
    else:
        backend = Backend("SQLite, in-process host cache")
    env = app_env(work / "data", backend)
    print(f"Preparing the demo store ({backend.description}) …", flush=True)
    prepare_data(env)
    return Setup(load, wrk, work, script, backend, env)


def run(args: argparse.Namespace, stack: contextlib.ExitStack) -> None:
    setup = set_up(args, stack)
    load, wrk, work, script = setup.load, setup.wrk, setup.work, setup.script
    backend, env = setup.backend, setup.env
    floor = Target("(1) plain Quart route", BARE_PATH, STORE_HOST, expect_body=BARE_BODY)
    bare = Target("(2) PayFacile bare route", BARE_PATH, STORE_HOST, expect_body=BARE_BODY)
    page = Target("(3) demo store /portal/login", "/portal/login", STORE_HOST)
    busy_before = cpu_busy()
    results: list[Result] = []
    print("Measuring:", flush=True)
    # Entered on the stack, so that `main` stops them with Ctrl-C ignored.
    plain = stack.enter_context(Server("bench.bare_app:create_plain", env, work / "plain.log"))
    results.append(measure(wrk, script, plain, floor, load))
    plain.stop()
    server = stack.enter_context(Server("bench.bare_app:create", env, work / "payfacile.log"))
    results.append(measure(wrk, script, server, bare, load))
    results.append(measure(wrk, script, server, page, load))
    server.stop()
    log = server.log_tail()
    report(backend, load, busy_before, results)
    if log:
        print(f"\nThe PayFacile server logged:\n{log}")


def run_until_done(
    run_benchmark: Callable[[argparse.Namespace, contextlib.ExitStack], None],
    args: argparse.Namespace,
) -> int:
    """Run a benchmark; whatever it entered on the stack is undone even on Ctrl-C."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    stack = contextlib.ExitStack()
    try:
        run_benchmark(args, stack)
    except BenchError as error:
        print(f"\nbench: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nbench: interrupted", file=sys.stderr)
        return 130
    finally:
        # Servers, the database and the Redis keys go away even on a second Ctrl-C.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_until_done(run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
