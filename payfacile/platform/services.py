"""The long-lived services of one app instance, and the accessor views use to reach them.

Views import `services()` from here, never from the factory, so no view module depends on
the module that assembles the app. Parts keep their own services (the tenants part's host
resolver) in `app.extensions` under their own key, beside these.
"""

from __future__ import annotations

from dataclasses import dataclass

from quart import current_app

from payfacile.platform.cache import Shared
from payfacile.platform.config import Settings
from payfacile.platform.ratelimit import RateLimiter
from payfacile.platform.security import Csrf
from payfacile.platform.sessions import Sessions

EXTENSION = "payfacile"


@dataclass(slots=True)
class Services:
    settings: Settings
    shared: Shared
    sessions: Sessions
    csrf: Csrf
    limiter: RateLimiter

    @classmethod
    def open(cls, settings: Settings) -> Services:
        """The services for `settings`; connections open lazily, on first use."""
        shared = Shared(settings.redis_url, prefix=settings.redis_prefix)
        return cls(
            settings=settings,
            shared=shared,
            sessions=Sessions(settings, shared),
            csrf=Csrf(settings),
            limiter=RateLimiter(settings.redis_url, prefix=settings.redis_prefix),
        )

    async def close(self) -> None:
        await self.shared.close()
        await self.limiter.close()


def services() -> Services:
    """This app's services (inside a request or the app context)."""
    found: Services = current_app.extensions[EXTENSION]
    return found
