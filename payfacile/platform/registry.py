"""What the parts add to the kernel: each part's `register(registry)` fills one `Registry`
in, and the factory (`payfacile.app`) builds the app and the background work from it.

The kernel offers the slots; it never names a part.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from quart import Blueprint

from payfacile.platform.asgi import ASGIApp
from payfacile.platform.crypto import SealedColumn
from payfacile.platform.jobs import JobRegistry, kernel_jobs
from payfacile.platform.mail import SEALED_LINKS
from payfacile.platform.services import Services

RequestHook = Callable[[], Awaitable[None]]
Lifespan = Callable[[], AbstractAsyncContextManager[None]]
AsgiWrapper = Callable[[ASGIApp], ASGIApp]
# The layout an error page extends instead of base.html, with what that layout needs.
PageLayout = tuple[str, dict[str, Any]]
ErrorLayout = Callable[[], Awaitable[PageLayout | None]]


@dataclass
class Registry:
    services: Services
    blueprints: list[Blueprint] = field(default_factory=list)
    # Run in order on every request after the kernel's first step and before CSRF and the
    # session: the tenants part resolves the host here and sets `g.store_id` and `g.brand`.
    request_hooks: list[RequestHook] = field(default_factory=list)
    # Paths answered on any host, before the request hooks (health checks, ACME challenges).
    hostless_paths: list[str] = field(default_factory=list)
    template_globals: dict[str, Callable[..., Any]] = field(default_factory=dict)
    # Asked in order before an error page for people is rendered; the first that answers
    # gives its layout (a signed-in buyer's error page keeps the portal's header). None:
    # not this part's page.
    error_layouts: list[ErrorLayout] = field(default_factory=list)
    # Entered, in order, while the app serves (after the database opens, before it closes).
    lifespans: list[Lifespan] = field(default_factory=list)
    # Wrapped around the ASGI app, first added outermost.
    asgi_wrappers: list[AsgiWrapper] = field(default_factory=list)
    # A part's own long-lived services, put in `app.extensions` under these keys.
    extensions: dict[str, object] = field(default_factory=dict)
    jobs: JobRegistry = field(default_factory=kernel_jobs)
    # Columns stored sealed with the secret key, for `payfacile keys rotate` (the kernel's
    # own: the links of emails not yet sent).
    sealed: list[SealedColumn] = field(default_factory=lambda: [SEALED_LINKS])
