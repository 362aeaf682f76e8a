"""What the tls part adds to the app: so far, that ACME's HTTP-01 challenges are answered on
any host, before host resolution (the challenge route and issuance come with the
certificates issue)."""

from __future__ import annotations

from payfacile.platform.registry import Registry

ACME_CHALLENGE_PATH = "/.well-known/acme-challenge/"


def register(registry: Registry) -> None:
    registry.hostless_paths.append(ACME_CHALLENGE_PATH)
