"""Absolute links for emails: from settings, never from a request's Host."""

from __future__ import annotations

from urllib.parse import quote

from payfacile.platform.config import Settings

# RFC 3986 sub-delimiters and the path's own ":" and "@": kept as they are in a path.
PATH_SAFE = "/:@!$&'()*+,;="


def origin(settings: Settings, hostname: str) -> str:
    """`scheme://hostname[:port]` as the public sees it (`PUBLIC_SCHEME`, `PUBLIC_PORT`)."""
    port = f":{settings.public_port}" if settings.public_port else ""
    return f"{settings.public_scheme}://{hostname}{port}"


def https_origin(settings: Settings, hostname: str) -> str:
    """`https://hostname[:port]`: a custom domain with a certificate (`PUBLIC_HTTPS_PORT`)."""
    port = f":{settings.public_https_port}" if settings.public_https_port else ""
    return f"https://{hostname}{port}"


def central_url(settings: Settings, path: str) -> str:
    return f"{origin(settings, settings.platform_domain)}{path}"


def same_path_on(base: str, path: str, query_string: bytes) -> str:
    """`base` (`scheme://host`) with this request's path and query, each percent-encoded
    again, so nothing a visitor put in the address (an encoded CR/LF) reaches a header raw."""
    query = quote(query_string.decode("latin-1"), safe=PATH_SAFE + "%?")
    return f"{base}{quote(path, safe=PATH_SAFE)}" + (f"?{query}" if query else "")
