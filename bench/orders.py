"""The signed-in order list and invoice PDFs, measured: requests/s, page depth, render times.

On one Uvicorn worker, loaded with wrk on the loopback (see bench/resolution.py for the
set-up it shares):

1. the PayFacile bare route (host resolution, CSRF check, headers; no template, no query);
2. /portal/orders, signed in, for a buyer with 10 orders and for one with 100,000: their first
   page, and a page near the end of the 100,000 (keyset pages cost the same at any depth);
3. invoice PDFs: the median time to render a 20-line invoice (in this process, and as the first
   download over HTTP, which renders and stores it), and to serve a stored one (200 and 304).

DESIGN.md's target: the order list at a quarter of the bare route's requests/s. Figures only,
no assertion; wrk, the server and the database share this machine's cores.

    .venv/bin/python bench/orders.py
    .venv/bin/python bench/orders.py --postgres postgres://postgres@127.0.0.1:5432/postgres \\
        --redis redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from payfacile.portal.models import Customer
    from payfacile.tenants.models import Store

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bare_app import BARE_BODY, BARE_PATH  # noqa: E402
from bench.resolution import (  # noqa: E402
    LOOPBACK,
    STORE_HOST,
    Backend,
    BenchError,
    Load,
    Result,
    Server,
    Target,
    code_version,
    cpu_busy,
    measure,
    parse_args,
    print_table,
    run_until_done,
    set_up,
)

BIG = 100_000
SMALL = 10
PASSWORD = "bench orders passphrase"  # noqa: S105 - a throwaway benchmark account
SEED_MARK = "BENCH_SEED "
RENDER_SAMPLES = 15
SERVE_SAMPLES = 200


# --- data (run in a child process that shares the server's settings) --------------------------


async def seed() -> dict[str, object]:
    """Two buyers (10 and 100,000 orders, each with an invoice) and 20-line invoices to render."""
    from payfacile.platform import db
    from payfacile.platform.config import Settings
    from payfacile.platform.passwords import hash_password
    from payfacile.portal.models import Customer, Invoice, Order
    from payfacile.portal.orders import Cursor
    from payfacile.schema import MODEL_MODULES
    from payfacile.tenants.models import Store
    from payfacile.tenants.scope import scoped

    settings = Settings()
    await db.init_db(settings, MODEL_MODULES)
    try:
        store = await Store.get(slug="demo")
        scope = scoped(store)
        password_hash = await hash_password(PASSWORD)
        start = datetime(2020, 1, 1, tzinfo=UTC)
        buyers = {}
        for email, count in (("small@example.com", SMALL), ("big@example.com", BIG)):
            buyer = await scope.create(
                Customer, email=email, name="Bench Buyer", password_hash=password_hash
            )
            buyers[email] = buyer
            for first in range(0, count, 5_000):
                batch = range(first, min(first + 5_000, count))
                await scope.create_many(Order, [_order(buyer.id, email, n, start) for n in batch])
                ids = (
                    await scope.query(Order)
                    .filter(customer_id=buyer.id, number__in=[f"{email[0]}{n}" for n in batch])
                    .values_list("id", "number", "placed_at")
                )
                await scope.create_many(Invoice, [_invoice(buyer.id, *row) for row in ids])
                print(f"  {email}: {min(first + 5_000, count):,} orders", flush=True)
        big = buyers["big@example.com"]
        deep = (
            await scope.query(Order)
            .filter(customer_id=big.id)
            .order_by("placed_at", "id")
            .offset(30)
            .first()
        )
        assert deep is not None
        to_render, snapshot = await issue_invoices(store, big, start)
        return {"deep_cursor": str(Cursor.of(deep)), "invoices": to_render, "snapshot": snapshot}
    finally:
        await db.close_db()


async def issue_invoices(
    store: Store, buyer: Customer, start: datetime
) -> tuple[list[str], dict[str, Any]]:
    """`RENDER_SAMPLES + 1` paid orders of 20 lines for `buyer`, placed the day before `start`,
    each invoiced through the app's own code (not rendered yet): their numbers, and the last
    one's snapshot."""
    from payfacile.portal.invoices import issue_invoice
    from payfacile.portal.models import OrderStatus
    from payfacile.portal.orders import Line, place_order

    lines = [Line(f"Specialty coffee lot {n}", n % 3 + 1, 1450 + n, 550) for n in range(20)]
    numbers: list[str] = []
    snapshot: dict[str, Any] = {}
    for n in range(RENDER_SAMPLES + 1):
        order = await place_order(
            store,
            buyer,
            number=f"R{n}",
            lines=lines,
            placed_at=start - timedelta(days=1),
            status=OrderStatus.PAID,
        )
        invoice = await issue_invoice(store, order, issued_at=start)
        numbers.append(invoice.number)
        snapshot = invoice.snapshot
    return numbers, snapshot


def _order(customer_id: int, email: str, n: int, start: datetime) -> dict[str, object]:
    return {
        "customer_id": customer_id,
        "number": f"{email[0]}{n}",
        "status": ("paid", "fulfilled", "refunded", "pending")[n % 4],
        "currency": "EUR",
        "subtotal": 1000 + n % 500,
        "tax_total": 200,
        "total": 1200 + n % 500,
        "placed_at": start + timedelta(minutes=n),
    }


def _invoice(customer_id: int, order_id: int, number: str, placed: datetime) -> dict[str, object]:
    return {
        "order_id": order_id,
        "customer_id": customer_id,
        "number": f"B-{number}",
        "issued_at": placed,
        "currency": "EUR",
        "snapshot": {},
        "total": 1200,
    }


def seed_in_child(env: dict[str, str]) -> dict[str, object]:
    """`seed` in a child process on the server's settings, its progress shown as it goes."""
    print(f"Adding buyers with {SMALL} and {BIG:,} orders …", flush=True)
    command = [sys.executable, str(Path(__file__)), "--seed"]
    found: dict[str, object] | None = None
    with subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(SEED_MARK):
                found = json.loads(line.removeprefix(SEED_MARK))
            else:
                print(line, end="", flush=True)
    if process.returncode != 0 or found is None:
        raise BenchError(f"seeding failed ({process.returncode}); see the output above")
    return found


# --- HTTP --------------------------------------------------------------------------------------


def sign_in(port: int, email: str, host: str = STORE_HOST, path: str = "/portal/login") -> str:
    """A signed-in Cookie header, through a login form: by default a buyer's, on the store's
    own (the merchants' is `/account/login` on the central host)."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
    connection.request("GET", path, headers={"Host": host})
    response = connection.getresponse()
    page = response.read().decode()
    cookies = _cookies(response)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if token is None:
        raise BenchError("the login page has no CSRF token")
    form = f"email={email}&password={PASSWORD.replace(' ', '+')}&csrf_token={token.group(1)}"
    connection.request(
        "POST",
        path,
        body=form,
        headers={
            "Host": host,
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": f"http://{host}",
            "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
        },
    )
    response = connection.getresponse()
    response.read()
    cookies.update(_cookies(response))
    connection.close()
    if response.status != 303:
        raise BenchError(f"signing in as {email} answered {response.status}")
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def _cookies(response: http.client.HTTPResponse) -> dict[str, str]:
    found = {}
    for header in response.headers.get_all("Set-Cookie") or []:
        name, _, rest = header.partition("=")
        found[name] = rest.split(";", 1)[0]
    return found


def timed_get(
    connection: http.client.HTTPConnection, path: str, headers: dict[str, str]
) -> tuple[float, int, bytes, str]:
    began = time.perf_counter()
    connection.request("GET", path, headers={"Host": STORE_HOST, **headers})
    response = connection.getresponse()
    body = response.read()
    return time.perf_counter() - began, response.status, body, response.headers.get("ETag", "")


def invoice_figures(
    port: int, cookie: str, numbers: list[str], snapshot: dict[str, Any]
) -> dict[str, float]:
    """Times over HTTP for `numbers` (20-line invoices), and in this process for `snapshot`,
    one of their snapshots."""
    from payfacile.portal.pdf import Branding, render_invoice

    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    auth = {"Cookie": cookie}
    timed_get(connection, f"/portal/invoices/{numbers[0]}.pdf", auth)  # warm up the renderer
    first = []
    for number in numbers[1:]:
        seconds, status, body, _ = timed_get(connection, f"/portal/invoices/{number}.pdf", auth)
        if status != 200 or not body.startswith(b"%PDF"):
            raise BenchError(f"invoice {number}: {status}")
        first.append(seconds)
    path = f"/portal/invoices/{numbers[1]}.pdf"
    stored, not_modified = [], []
    _, _, pdf, etag = timed_get(connection, path, auth)
    for _ in range(SERVE_SAMPLES):
        stored.append(timed_get(connection, path, auth)[0])
        seconds, status, _, _ = timed_get(connection, path, {**auth, "If-None-Match": etag})
        if status != 304:
            raise BenchError(f"If-None-Match answered {status}")
        not_modified.append(seconds)
    connection.close()

    in_process = []
    for _ in range(RENDER_SAMPLES):
        began = time.perf_counter()
        render_invoice(snapshot, number="X", issued_at=datetime.now(UTC), branding=Branding("#000"))
        in_process.append(time.perf_counter() - began)
    return {
        "render_in_process_ms": statistics.median(in_process) * 1000,
        "first_download_ms": statistics.median(first) * 1000,
        "stored_ms": statistics.median(stored) * 1000,
        "not_modified_ms": statistics.median(not_modified) * 1000,
        "pdf_kb": len(pdf) / 1024,
    }


# --- main --------------------------------------------------------------------------------------


def run(args: argparse.Namespace, stack: contextlib.ExitStack) -> None:
    setup = set_up(args, stack)
    load, wrk, work, script, env = setup.load, setup.wrk, setup.work, setup.script, setup.env
    seeded = seed_in_child(env)
    busy_before = cpu_busy()

    server = stack.enter_context(Server("bench.bare_app:create", env, work / "payfacile.log"))
    small, big = sign_in(server.port, "small@example.com"), sign_in(server.port, "big@example.com")
    deep = f"/portal/orders?before={seeded['deep_cursor']}"
    targets = [
        Target("PayFacile bare route", BARE_PATH, STORE_HOST, expect_body=BARE_BODY),
        Target(f"/portal/orders, {SMALL} orders", "/portal/orders", STORE_HOST, cookie=small),
        Target(f"/portal/orders, {BIG:,} orders", "/portal/orders", STORE_HOST, cookie=big),
        Target(f"  … page {BIG // 20 - 1:,} of {BIG // 20:,}", deep, STORE_HOST, cookie=big),
    ]
    print("Measuring:", flush=True)
    results = [measure(wrk, script, server, target, load) for target in targets]
    invoices = seeded["invoices"]
    assert isinstance(invoices, list)
    snapshot = seeded["snapshot"]
    assert isinstance(snapshot, dict)
    pdf = invoice_figures(server.port, big, [str(number) for number in invoices], snapshot)
    server.stop()
    report(setup.backend, load, busy_before, results, pdf)


def report(
    backend: Backend,
    load: Load,
    busy_before: float | None,
    results: list[Result],
    pdf: dict[str, float],
) -> None:
    bare = results[0]
    print()
    print(f"PayFacile order list and invoices — {backend.description}, code {code_version()}")
    print(
        f"wrk: {load.connections} connections, {load.threads} threads, {load.seconds} s per"
        f" target after {load.warmup_seconds} s of warm-up; Uvicorn: 1 worker"
    )
    busy = "unknown" if busy_before is None else f"{busy_before:.0%}"
    print(f"machine: CPUs shared by wrk, the server and the database; {busy} busy before the run")
    print()
    print_table(results, base=bare, share_label="of bare")
    print("DESIGN.md's target for the order list: 25 % of the bare route.")
    print()
    print(f"Invoice PDF, 20 lines ({pdf['pdf_kb']:.0f} KB), medians:")
    print(f"  render in this process (Jinja + xhtml2pdf): {pdf['render_in_process_ms']:.0f} ms")
    print(f"  first download over HTTP (renders, stores):  {pdf['first_download_ms']:.0f} ms")
    print(f"  a stored one (200 with the bytes):           {pdf['stored_ms']:.1f} ms")
    print(f"  a stored one the browser has (304):          {pdf['not_modified_ms']:.1f} ms")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, __doc__)
    if args.seed:
        print(SEED_MARK + json.dumps(asyncio.run(seed())), flush=True)
        return 0
    return run_until_done(run, args)


if __name__ == "__main__":
    sys.exit(main())
