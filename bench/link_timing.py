"""How long the sign-in-link and reset forms take to answer, for a buyer's address and for
an unknown one: the answer must not tell them apart.

Runs the app in-process (Quart's test client) on a fresh SQLite database in a temporary
directory, or on `PAYFACILE_DATABASE_URL` when it names an empty, migrated PostgreSQL
database. Each request comes from its own client address and asks for its own address, so
no rate limit is hit; the work the app does after its answer is awaited between requests and
not counted.

    .venv/bin/python bench/link_timing.py [requests per kind, default 200]
"""

from __future__ import annotations

import asyncio
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from payfacile.app import create_app
from payfacile.platform import db
from payfacile.platform.config import Settings
from payfacile.schema import MODEL_MODULES
from payfacile.tenants.models import Store
from payfacile.tenants.scope import scoped

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HOST = {"Host": "bench.payfacile.localhost"}
FORMS = (("/portal/login/link", "link_email"), ("/portal/forgot-password", "email"))


async def _seed(count: int) -> None:
    from payfacile.portal.models import Customer

    store = await Store.create(slug="bench", name="Bench", support_email="s@bench.example")
    for n in range(count * len(FORMS)):
        await scoped(store).create(Customer, email=f"known{n}@bench.example", name=f"B {n}")


async def _run(settings: Settings, count: int) -> None:
    await db.migrate(settings, MODEL_MODULES)
    app = create_app(settings, background=False)
    async with app.test_app():
        await _seed(count)
        client = app.test_client()
        page = await (await client.get("/portal/login", headers=HOST)).get_data(as_text=True)
        match = CSRF.search(page)
        assert match is not None
        token = match.group(1)
        n = known_n = 0
        for path, field in FORMS:
            times: dict[str, list[float]] = {"known": [], "unknown": []}
            for _ in range(count):
                for kind in ("known", "unknown"):
                    n += 1
                    if kind == "known":
                        address, known_n = f"known{known_n}@bench.example", known_n + 1
                    else:
                        address = f"unknown{n}@bench.example"
                    client_ip = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
                    form = {field: address, "csrf_token": token}
                    start = time.perf_counter()
                    response = await client.post(
                        path, form=form, headers=HOST, scope_base={"client": (client_ip, 1)}
                    )
                    await response.get_data()
                    times[kind].append(time.perf_counter() - start)
                    assert response.status_code == 200, response.status_code
                    while app.background_tasks:  # the work after the answer, not counted
                        await asyncio.gather(*app.background_tasks)
            known, unknown = (statistics.median(times[k]) * 1000 for k in ("known", "unknown"))
            print(
                f"{path}: median {known:.1f} ms for a buyer's address, {unknown:.1f} ms for an"
                f" unknown one ({count} each)"
            )


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as directory:
        settings = Settings(env="test", data_dir=Path(directory), secret_key=["b" * 32])
        asyncio.run(_run(settings, count))


if __name__ == "__main__":
    main()
