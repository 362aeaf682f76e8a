"""Behind a TLS terminator (certificates exported to HAProxy, say): a request it forwards
from HTTPS says so with X-Forwarded-Proto, which is believed from TRUSTED_PROXIES only, so
the HTTPS-only redirect of a domain with its certificate does not loop."""

from __future__ import annotations

import pytest
from quart.typing import TestClientProtocol as Client

from payfacile.platform.config import Settings
from payfacile.tenants.models import DomainStatus
from tests.factories import make_domain, make_store


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"trusted_proxies": ["127.0.0.0/8"]})


async def test_a_forwarded_https_request_is_served_not_redirected(client: Client) -> None:
    store = await make_store("acme")
    await make_domain(store, "shop.acme.test", DomainStatus.ACTIVE)
    forwarded = await client.get(
        "/portal/login",
        headers={"Host": "shop.acme.test", "X-Forwarded-Proto": "https"},
        scope_base={"client": ("127.0.0.1", 40000)},  # the terminator, on this machine
    )
    assert forwarded.status_code == 200
    assert forwarded.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "secure" in forwarded.headers["Set-Cookie"].lower()
    plain = await client.get(
        "/portal/login",
        headers={"Host": "shop.acme.test", "X-Forwarded-Proto": "http"},
        scope_base={"client": ("127.0.0.1", 40000)},
    )
    assert plain.status_code == 301


async def test_the_header_from_anyone_else_is_not_believed(client: Client) -> None:
    store = await make_store("acme")
    await make_domain(store, "shop.acme.test", DomainStatus.ACTIVE)
    spoofed = await client.get(
        "/portal/login",
        headers={"Host": "shop.acme.test", "X-Forwarded-Proto": "https"},
        scope_base={"client": ("203.0.113.9", 40000)},
    )
    assert spoofed.status_code == 301
