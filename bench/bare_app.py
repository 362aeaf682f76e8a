"""ASGI factories for bench/resolution.py (served with `uvicorn --factory`).

`create` is the PayFacile app, unchanged, plus one route that returns a constant: a request to
it pays for the request flow (host resolution from the cache, the CSRF check, the security
headers) and nothing else. `create_plain` is a bare Quart app with the same route: the
framework floor.
"""

from __future__ import annotations

from quart import Quart

from payfacile.app import create_app
from payfacile.platform.config import Settings

BARE_PATH = "/bench/bare"
BARE_BODY = "ok"


async def _bare() -> str:
    return BARE_BODY


def create() -> Quart:
    """PayFacile, configured from `PAYFACILE_*` like `payfacile serve`, plus `BARE_PATH`."""
    app = create_app(Settings())
    app.add_url_rule(BARE_PATH, "bench_bare", _bare, methods=["GET"])
    return app


def create_plain() -> Quart:
    """A Quart app with nothing but `BARE_PATH`."""
    app = Quart("bench_plain")
    app.add_url_rule(BARE_PATH, "bench_bare", _bare, methods=["GET"])
    return app
