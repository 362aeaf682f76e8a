"""Absolute links for emails: from settings, never from a request's Host."""

from __future__ import annotations

from payfacile.platform.config import Settings


def origin(settings: Settings, hostname: str) -> str:
    """`scheme://hostname[:port]` as the public sees it (`PUBLIC_SCHEME`, `PUBLIC_PORT`)."""
    port = f":{settings.public_port}" if settings.public_port else ""
    return f"{settings.public_scheme}://{hostname}{port}"


def central_url(settings: Settings, path: str) -> str:
    return f"{origin(settings, settings.platform_domain)}{path}"
