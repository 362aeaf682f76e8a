"""What a page is made of, piece by piece, in process: the floor under issue 16's targets.

No HTTP and no wrk: the CPU time of each piece a signed-in page pays, called in a loop in
one process (the best of 5 rounds, so that a busy neighbour on a shared machine counts
least), on PostgreSQL + Redis with the demo store and a buyer with 25 orders:

- a request to a bare route through Quart's ASGI test client, on plain Quart and on
  PayFacile (the difference is the request flow: host, nonce, CSRF, headers);
- the session's read from Redis (`Shared.get`, what `Sessions.load` does per request);
- the signed-in buyer by id: Tortoise's `get_or_none`, and `scoped(store).find`;
- the first page of 20 orders: Tortoise's query, and `order_page` (its prepared statement);
- whole pages through the test client: the login page, the order list, a stored PDF, and
  the share of each that rendering its template takes.

bench/suite.py measures the pages over HTTP at scale; this says where their time goes and
what is left when one piece is removed. Figures only.

    .venv/bin/python bench/floor.py [--postgres URL --redis URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.orders import _invoice, _order  # noqa: E402
from bench.resolution import BIN, PLATFORM_DOMAIN, postgres_database  # noqa: E402

ROUNDS = 5
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
Call = Callable[[], Awaitable[Any]]


async def best_of(call: Call, count: int) -> float:
    """CPU µs per call: the best of `ROUNDS` rounds of `count` calls, after a warm-up."""
    for _ in range(max(count // 10, 5)):
        await call()
    best = float("inf")
    for _ in range(ROUNDS):
        began = time.process_time()
        for _ in range(count):
            await call()
        best = min(best, (time.process_time() - began) / count * 1e6)
    return best


async def measure() -> list[tuple[str, float]]:
    from quart import Quart

    from payfacile.app import create_app
    from payfacile.platform import rendering
    from payfacile.platform.config import Settings
    from payfacile.platform.models import SessionKind
    from payfacile.platform.services import services
    from payfacile.portal import orders as order_service
    from payfacile.portal import shell
    from payfacile.portal.models import Customer, Invoice, Order
    from payfacile.tenants.models import Store
    from payfacile.tenants.scope import scoped

    async def bare() -> str:
        return "ok"

    settings = Settings()
    app = create_app(settings, background=False)
    app.add_url_rule("/bench/bare", "bench_bare", bare, methods=["GET"])
    plain = Quart("plain")
    plain.add_url_rule("/bench/bare", "bench_bare", bare, methods=["GET"])
    figures: list[tuple[str, float]] = []
    async with app.test_app() as served, plain.test_app() as plain_served:
        store = await Store.get(slug="demo")
        scope = scoped(store)
        email = "floor@example.com"  # its orders are numbered f0, f1… (bench/orders.py's rows)
        buyer = await scope.create(Customer, email=email, name="Floor Buyer")
        start = datetime(2025, 1, 1, tzinfo=UTC)
        await scope.create_many(Order, [_order(buyer.id, email, n, start) for n in range(25)])
        placed = (
            await scope.query(Order)
            .filter(customer_id=buyer.id)
            .values_list("id", "number", "placed_at")
        )
        invoices = [
            {**_invoice(buyer.id, *row), "pdf": b"%PDF-1.4 " + b"x" * 40_000, "etag": f"e{row[0]}"}
            for row in placed
        ]
        await scope.create_many(Invoice, invoices)
        async with app.app_context():
            found = services()
            token = await found.sessions.start(
                kind=SessionKind.BUYER, subject_id=buyer.id, store_id=store.id
            )
        host = f"demo.{settings.platform_domain}"
        client, plain_client = served.test_client(), plain_served.test_client()
        signed_in = {"Host": host, "Cookie": f"{found.sessions.cookie_name}={token}"}

        def get(path: str, headers: dict[str, str], on: Any = client) -> Call:
            async def call() -> None:
                answer = await on.get(path, headers=headers)
                assert answer.status_code == 200, (path, answer.status_code)

            return call

        quart = await best_of(get("/bench/bare", {"Host": host}, plain_client), 1500)
        flow = await best_of(get("/bench/bare", {"Host": host}), 1500)
        figures += [
            ("bare route, plain Quart (test client)", quart),
            ("bare route, PayFacile (its request flow)", flow),
            ("… the request flow alone", flow - quart),
        ]
        shared = found.shared
        await shared.set_unless_fenced("floor", "x" * 300, ttl=60)
        figures.append(
            (
                "session read from Redis (Shared.get)",
                await best_of(lambda: shared.get("floor"), 2000),
            )
        )
        figures += [
            (
                "buyer by id, Tortoise get_or_none",
                await best_of(lambda: scope.query(Customer).get_or_none(id=buyer.id), 1000),
            ),
            (
                "buyer by id, scoped(store).find",
                await best_of(lambda: scope.find(Customer, id=buyer.id), 1000),
            ),
        ]

        def tortoise_page() -> Awaitable[Any]:
            query = order_service.with_invoice_number(
                scope, scope.query(Order).filter(customer_id=buyer.id)
            )
            return (
                query.order_by("-placed_at", "-id").limit(21).values(**order_service.SUMMARY_VALUES)
            )

        figures += [
            ("20 orders, Tortoise's query", await best_of(tortoise_page, 500)),
            (
                "20 orders, order_page (prepared)",
                await best_of(lambda: order_service.order_page(store, buyer), 500),
            ),
        ]
        rendered: list[float] = []
        original = rendering.render_template

        async def timed(*args: Any, **kwargs: Any) -> str:
            began = time.process_time()
            try:
                return await original(*args, **kwargs)
            finally:
                rendered.append(time.process_time() - began)

        shell.render_template = timed  # type: ignore[assignment]
        pdf = await scope.query(Invoice).filter(customer_id=buyer.id).first()
        assert pdf is not None
        for label, path, headers in (
            ("login page", "/portal/login", {"Host": host}),
            ("order list, 20 orders", "/portal/orders", signed_in),
            ("stored invoice PDF", f"/portal/invoices/{pdf.number}.pdf", signed_in),
        ):
            rendered.clear()
            whole = await best_of(get(path, headers), 300)
            share = sorted(rendered)[len(rendered) // 2] * 1e6 if rendered else 0.0
            figures.append((f"{label}, whole request", whole))
            if share:
                figures.append(("… rendering its template (median)", share))
        shell.render_template = original  # type: ignore[assignment]
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES))
    parser.add_argument("--redis", default=os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS))
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(postgres_database(args.postgres))
        env = {key: value for key, value in os.environ.items() if not key.startswith("PAYFACILE_")}
        env.update(
            PAYFACILE_ENV="development",
            PAYFACILE_DATA_DIR=str(ROOT / "var" / "bench-floor"),
            PAYFACILE_PLATFORM_DOMAIN=PLATFORM_DOMAIN,
            PAYFACILE_DATABASE_URL=database_url,
            PAYFACILE_REDIS_URL=args.redis,
            PAYFACILE_REDIS_PREFIX="bench-floor:",
        )
        for command in (["migrate"], ["demo", "--reset"]):
            subprocess.run(
                [str(BIN / "payfacile"), *command], env=env, check=True, capture_output=True
            )
        os.environ.update(env)
        print(f"CPU time per call, the best of {ROUNDS} rounds (PostgreSQL + Redis, in process):")
        for label, micros in asyncio.run(measure()):
            print(f"  {label:<48} {micros:8,.0f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
