from __future__ import annotations

import asyncio
import re

import pytest
from quart.typing import TestClientProtocol as Client

from payfacile.app import create_app
from payfacile.platform.config import Settings
from payfacile.platform.errors import BadHost
from payfacile.tenants import stores
from payfacile.tenants.hosts import HostResolver, Site, normalise_host
from payfacile.tenants.models import DomainStatus, StoreStatus
from tests.conftest import RunningApp
from tests.factories import make_domain, make_store


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Demo.PayFacile.localhost", "demo.payfacile.localhost"),
        ("demo.payfacile.localhost:8000", "demo.payfacile.localhost"),
        ("demo.payfacile.localhost.", "demo.payfacile.localhost"),
        ("shop.example.com.:443", "shop.example.com"),
        ("BÜCHER.example", "xn--bcher-kva.example"),
    ],
)
def test_hosts_are_normalised(raw: str, expected: str) -> None:
    assert normalise_host(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "bad_host",
        "evil.com/path",
        "a..b",
        "-lead.example",
        "x" * 64 + ".example",
        "127.0.0.1",
        "[::1]:8000",
        "host:port",
        "a b.example",
        "exa mple.com",
        "shop.example.com:80:80",
    ],
)
def test_malformed_hosts_are_refused(raw: str) -> None:
    with pytest.raises(BadHost):
        normalise_host(raw)


async def test_store_subdomain_serves_its_portal(client: Client) -> None:
    await make_store("acme", name="Acme Coffee")
    response = await client.get("/portal/login", headers={"Host": "acme.payfacile.localhost:8000"})
    assert response.status_code == 200
    assert "Acme Coffee" in await response.get_data(as_text=True)


async def test_central_host_is_not_a_store(client: Client) -> None:
    await make_store("acme")
    home = await client.get("/", headers={"Host": "payfacile.localhost"})
    assert home.status_code == 200
    assert "customer portal" in (await home.get_data(as_text=True)).lower()
    portal = await client.get("/portal/login", headers={"Host": "payfacile.localhost"})
    assert portal.status_code == 404


@pytest.mark.parametrize(
    "host",
    [
        "nope.payfacile.localhost",
        "deep.acme.payfacile.localhost",
        "example.com",
        "payfacile.localhost.evil.com",
        "localhost",
    ],
)
async def test_unknown_hosts_get_no_store_here(client: Client, host: str) -> None:
    await make_store("acme", name="Acme Coffee")
    response = await client.get("/portal/login", headers={"Host": host})
    assert response.status_code == 404
    page = await response.get_data(as_text=True)
    assert "No store here" in page
    assert "Acme Coffee" not in page


async def test_malformed_host_is_a_400_page(client: Client) -> None:
    response = await client.get("/portal/login", headers={"Host": "bad_host!"})
    assert response.status_code == 400
    assert "not a valid hostname" in await response.get_data(as_text=True)


async def test_suspended_store_answers_503(client: Client) -> None:
    await make_store("sleepy", name="Sleepy Shop", status=StoreStatus.SUSPENDED)
    response = await client.get("/portal/login", headers={"Host": "sleepy.payfacile.localhost"})
    assert response.status_code == 503
    assert "Sleepy Shop is not available" in await response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("status", "serves"),
    [
        (DomainStatus.PENDING_DNS, False),
        (DomainStatus.VERIFIED, True),
        (DomainStatus.ISSUING, True),
        (DomainStatus.ACTIVE, True),
        (DomainStatus.RENEWING, True),
        (DomainStatus.DNS_MOVED, True),
        (DomainStatus.FAILED, False),
        (DomainStatus.REMOVED, False),
    ],
)
async def test_custom_domain_serves_from_verified_on(
    client: Client, status: DomainStatus, serves: bool
) -> None:
    store = await make_store("acme", name="Acme Coffee")
    await make_domain(store, "shop.acme.test", status)
    response = await client.get("/portal/login", headers={"Host": "Shop.Acme.Test"}, scheme="https")
    assert response.status_code == (200 if serves else 404)
    assert ("Acme Coffee" in await response.get_data(as_text=True)) is serves


@pytest.mark.parametrize(
    ("status", "https_only"),
    [
        (DomainStatus.VERIFIED, False),
        (DomainStatus.ISSUING, False),
        (DomainStatus.ACTIVE, True),
        (DomainStatus.RENEWING, True),
        (DomainStatus.DNS_MOVED, False),
    ],
)
async def test_a_domain_with_its_certificate_is_https_only_with_hsts(
    client: Client, status: DomainStatus, https_only: bool
) -> None:
    store = await make_store("acme")
    await make_domain(store, "shop.acme.test", status)
    plain = await client.get("/portal/login?next=%2Fportal%2F", headers={"Host": "shop.acme.test"})
    posted = await client.post("/portal/login", headers={"Host": "shop.acme.test"})
    secure = await client.get("/portal/login", headers={"Host": "shop.acme.test"}, scheme="https")
    if https_only:
        assert plain.status_code == 301
        assert plain.headers["Location"] == "https://shop.acme.test/portal/login?next=%2Fportal%2F"
        assert posted.status_code == 308  # a form sent over HTTP is sent again, not lost
        assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert "secure" in secure.headers["Set-Cookie"].lower()
    else:
        assert plain.status_code == 200
        assert "Strict-Transport-Security" not in plain.headers
        assert "secure" not in plain.headers["Set-Cookie"].lower()


async def test_active_primary_domain_takes_over_the_subdomain(client: Client) -> None:
    store = await make_store("acme")
    await make_domain(store, "shop.acme.test", DomainStatus.ACTIVE, is_primary=True)
    response = await client.get("/portal/?tab=orders", headers={"Host": "acme.payfacile.localhost"})
    assert response.status_code == 301
    assert response.headers["Location"] == "https://shop.acme.test/portal/?tab=orders"
    on_domain = await client.get(
        "/portal/login", headers={"Host": "shop.acme.test"}, scheme="https"
    )
    assert on_domain.status_code == 200


async def test_a_verified_but_not_active_primary_does_not_redirect(
    client: Client,
) -> None:
    store = await make_store("acme")
    await make_domain(store, "shop.acme.test", DomainStatus.VERIFIED, is_primary=True)
    response = await client.get("/portal/login", headers={"Host": "acme.payfacile.localhost"})
    assert response.status_code == 200


async def test_store_root_leads_to_the_portal(client: Client) -> None:
    await make_store("acme")
    response = await client.get("/", headers={"Host": "acme.payfacile.localhost"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/portal/"


async def test_new_store_replaces_a_cached_no_store_here(
    client: Client, services: RunningApp
) -> None:
    headers = {"Host": "late.payfacile.localhost"}
    assert (await client.get("/portal/login", headers=headers)).status_code == 404
    await stores.create_store(
        settings=services.settings,
        hosts=services.hosts,
        name="Late Shop",
        slug="late",
        owner_email="owner@late.example.com",
    )
    assert (await client.get("/portal/login", headers=headers)).status_code == 200


async def test_suspension_through_the_service_is_seen_at_once(
    client: Client, services: RunningApp
) -> None:
    store = await make_store("acme")
    headers = {"Host": "acme.payfacile.localhost"}
    assert (await client.get("/portal/login", headers=headers)).status_code == 200
    await stores.set_status(store, StoreStatus.SUSPENDED, hosts=services.hosts)
    assert (await client.get("/portal/login", headers=headers)).status_code == 503
    await stores.set_status(store, StoreStatus.ACTIVE, hosts=services.hosts)
    assert (await client.get("/portal/login", headers=headers)).status_code == 200


@pytest.mark.parametrize("host", ["nope.payfacile.localhost", "sleepy.payfacile.localhost"])
async def test_error_pages_are_styled_on_any_host(client: Client, host: str) -> None:
    await make_store("sleepy", status=StoreStatus.SUSPENDED)
    page = await (await client.get("/portal/login", headers={"Host": host})).get_data(as_text=True)
    stylesheet = re.search(r'<link rel="stylesheet" href="(/static/app\.[0-9a-f]+\.css)">', page)
    assert stylesheet is not None
    css = await client.get(stylesheet.group(1), headers={"Host": host})
    assert css.status_code == 200
    assert css.mimetype == "text/css"


async def test_requests_that_miss_together_share_one_lookup(hosts: HostResolver) -> None:
    await make_store("acme")
    lookups = []
    original = hosts.lookup

    async def counting_lookup(hostname: str) -> Site | None:
        lookups.append(hostname)
        await asyncio.sleep(0.05)  # a slow database
        return await original(hostname)

    hosts.lookup = counting_lookup  # type: ignore[method-assign]
    sites = await asyncio.gather(*(hosts.resolve("acme.payfacile.localhost") for _ in range(20)))
    assert {site.store.slug for site in sites if site.store} == {"acme"}
    assert lookups == ["acme.payfacile.localhost"]


@pytest.mark.postgres_redis
async def test_stopping_the_app_ends_the_invalidation_listener_before_redis_closes(
    settings: Settings,
) -> None:
    """A listener only cancelled (not awaited) still reads Redis while it closes: shutdown
    then hangs or warns. It must be over by the time Redis closes."""
    app = create_app(settings, background=False)
    shared = app.extensions["payfacile"].shared
    close = shared.close
    seen_at_close: list[bool] = []

    async def recording_close() -> None:
        seen_at_close.extend(task.done() for task in listeners)
        await close()

    shared.close = recording_close
    async with app.test_app():
        listeners = [t for t in asyncio.all_tasks() if t.get_name() == "host-invalidation"]
        assert len(listeners) == 1
        assert not listeners[0].done()
    assert seen_at_close == [True]
