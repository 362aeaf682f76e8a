"""The application factory: the one module that sees every part.

`create_app(settings)` opens the kernel's services, asks each part to register itself
(blueprints, request hooks, lifespans, template globals, job kinds and sweeps) and builds
the app from what they registered. The scheduler and the workers (`payfacile scheduler`,
`payfacile worker`) take their job kinds and sweeps from the same registry.
"""

from __future__ import annotations

from quart import Quart

from payfacile.platform.config import Settings
from payfacile.platform.jobs import Background
from payfacile.platform.registry import Registry
from payfacile.platform.services import Services
from payfacile.platform.web import build_app
from payfacile.portal import part as portal
from payfacile.schema import MODEL_MODULES
from payfacile.tenants import part as tenants
from payfacile.tls import part as tls

PARTS = (tenants, portal, tls)


def registry(settings: Settings) -> Registry:
    """The kernel's services for `settings`, with everything each part adds to them."""
    found = Registry(services=Services.open(settings))
    for part in PARTS:
        part.register(found)
    return found


def create_app(settings: Settings | None = None, *, background: bool = True) -> Quart:
    """The app. With `background` (the default) and no Redis, it also runs the scheduler and
    a worker itself; with Redis, `payfacile scheduler` and `payfacile worker` do."""
    return build_app(
        registry(settings or Settings()), model_modules=MODEL_MODULES, background=background
    )


def background_work(settings: Settings, *, scheduler: bool, worker: bool) -> Background:
    """The scheduler and/or worker of one process, with every part's job kinds and sweeps."""
    return Background(settings, registry(settings).jobs, scheduler=scheduler, worker=worker)
