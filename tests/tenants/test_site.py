"""The pages a visitor meets when a host serves no store, or a store that is closed: where to
go instead (the no-store and IP-address pages), and whom to write to without giving away
anybody's personal address (a suspended store)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from quart.typing import TestClientProtocol as Client

from payfacile.platform.config import Settings
from payfacile.platform.i18n import LANGUAGE_COOKIE
from payfacile.tenants import stores
from payfacile.tenants.models import (
    DomainStatus,
    Membership,
    MembershipRole,
    MerchantUser,
    Store,
    StoreStatus,
)
from payfacile.tenants.scope import scoped
from tests.conftest import RunningApp, make_settings
from tests.factories import make_domain, make_store
from tests.merchants import merchant
from tests.platform.test_web import serving

MAIN = re.compile(r"<main[^>]*>.*?</main>", re.S)
LINKS = re.compile(r'<a href="([^"]+)">([^<]+)</a>')
OWNER = "jeanne.personal@example.com"
SLEEPY = {"Host": "sleepy.payfacile.localhost"}


def main_of(html: str) -> str:
    found = MAIN.search(html)
    assert found is not None, html[:300]
    return found.group(0)


def links_of(html: str) -> dict[str, str]:
    """The page's links in its main part: label → address."""
    return {label.replace("&#39;", "'"): url for url, label in LINKS.findall(main_of(html))}


# No store here


@pytest.mark.parametrize("host", ["nope.payfacile.localhost", "shop.example.com"])
async def test_the_no_store_page_says_where_to_go(client: Client, host: str) -> None:
    store = await make_store("acme", name="Acme Coffee")
    await make_domain(store, "shop.example.com", status=DomainStatus.PENDING_DNS)
    response = await client.get("/portal/", headers={"Host": host})
    assert response.status_code == 404
    html = await response.get_data(as_text=True)
    text = main_of(html).replace("&#39;", "'")
    assert "No store here" in text
    assert "is not, or is no longer, a store on PayFacile" in text
    assert "Check that it is spelled right, or the link you followed" in text
    assert "Connect it on the Domains page of your store's dashboard" in text
    assert "it can take a few hours" in text
    links = links_of(html)
    assert links["PayFacile's home page"] == "http://payfacile.localhost:8000/"
    assert (
        links["Sign in to your store's dashboard"] == "http://payfacile.localhost:8000/dashboard/"
    )
    assert "Acme Coffee" not in html  # a pending domain gives its store away to nobody


async def test_the_no_store_page_speaks_the_visitors_language(client: Client) -> None:
    client.set_cookie("nope.payfacile.localhost", LANGUAGE_COOKIE, "fr")
    response = await client.get("/", headers={"Host": "nope.payfacile.localhost"})
    html = await response.get_data(as_text=True)
    assert '<html lang="fr">' in html
    assert "Aucune boutique ici" in html
    assert "Vérifiez qu’elle est bien écrite" in html
    assert "Se connecter au tableau de bord de votre boutique" in html


async def test_an_unknown_host_asked_as_json_gets_its_code(client: Client) -> None:
    response = await client.get(
        "/portal/", headers={"Host": "nope.payfacile.localhost", "Accept": "application/json"}
    )
    assert response.status_code == 404
    assert (await response.get_json())["error"]["code"] == "no_store_here"


# An IP address


async def test_the_ip_address_page_in_development_links_the_addresses(client: Client) -> None:
    await make_store("demo", name="Atelier Lumière")
    response = await client.get("/", headers={"Host": "127.0.0.1:8000"})
    assert response.status_code == 400
    html = await response.get_data(as_text=True)
    text = main_of(html).replace("&#39;", "'")
    assert "No store at this address" in text
    assert "a name ending in .payfacile.localhost, or the store's own domain" in text
    assert "its Domains page connects a domain of your own" in text
    assert links_of(html) == {
        "PayFacile's home page": "http://payfacile.localhost:8000/",
        "Sign in to your store's dashboard": "http://payfacile.localhost:8000/dashboard/",
        "The demo store's customer portal": "http://demo.payfacile.localhost:8000/portal/",
    }


@pytest.mark.parametrize("host", ["10.0.0.7", "[::1]:8000"])
async def test_the_ip_address_page_in_production_helps_and_reveals_nothing(
    settings: Settings, tmp_path: Path, host: str
) -> None:
    production = make_settings(
        tmp_path,
        settings.database_url,
        env="production",
        redis_prefix=settings.redis_prefix,
        platform_domain="payfacile.example",
    )
    async with serving(production) as app:
        await make_store("demo", name="Atelier Lumière")
        response = await app.test_client().get("/", headers={"Host": host}, scheme="https")
        assert response.status_code == 400
        html = await response.get_data(as_text=True)
    text = main_of(html).replace("&#39;", "'")
    assert "a name ending in .payfacile.example" in text
    assert links_of(html) == {
        "PayFacile's home page": "https://payfacile.example/",
        "Sign in to your store's dashboard": "https://payfacile.example/dashboard/",
    }
    for internal in ("demo", "10.0.0.7", "::1", "localhost", "Atelier"):
        assert internal not in html


async def test_a_malformed_host_still_says_so(client: Client) -> None:
    response = await client.get("/", headers={"Host": "bad_host!"})
    assert response.status_code == 400
    html = await response.get_data(as_text=True)
    assert "not a valid hostname" in html
    assert "Sign in to your store's dashboard" in html.replace("&#39;", "'")


# A suspended store


async def onboarded_and_suspended(services: RunningApp) -> Store:
    """Sleepy Shop as `stores.create_store` leaves it (its support address starts as the
    owner's own), then suspended."""
    store = await make_store("sleepy", name="Sleepy Shop", support_email=OWNER)
    owner = await MerchantUser.create(email=OWNER)
    await scoped(store).create(Membership, user_id=owner.id, role=MembershipRole.OWNER)
    return await stores.set_status(store, StoreStatus.SUSPENDED, hosts=services.hosts)


async def test_a_suspended_stores_page_never_shows_the_owners_email(
    client: Client, services: RunningApp
) -> None:
    await onboarded_and_suspended(services)
    response = await client.get("/portal/", headers=SLEEPY)
    assert response.status_code == 503
    html = await response.get_data(as_text=True)
    assert "Sleepy Shop is not available" in html
    assert OWNER not in html
    assert "@" not in html.replace("&#39;", "'")
    assert "reply to one of the store's emails" in html.replace("&#39;", "'")


async def test_nor_a_staff_members_email(client: Client, services: RunningApp) -> None:
    store = await onboarded_and_suspended(services)
    await merchant(client, store, MembershipRole.STAFF, "sam.staff@example.com")
    await Store.filter(id=store.id).update(support_email="sam.staff@example.com")
    await services.hosts.invalidate_store(store)
    html = await (await client.get("/portal/login", headers=SLEEPY)).get_data(as_text=True)
    assert "sam.staff@example.com" not in html
    assert "reply to one of the store's emails" in html.replace("&#39;", "'")


async def test_a_suspended_store_shows_the_support_email_it_set(
    client: Client, services: RunningApp
) -> None:
    store = await onboarded_and_suspended(services)
    await Store.filter(id=store.id).update(support_email="help@sleepy.example.com")
    await services.hosts.invalidate_store(store)
    client.set_cookie("sleepy.payfacile.localhost", LANGUAGE_COOKIE, "fr")
    response = await client.get("/portal/", headers=SLEEPY)
    assert response.status_code == 503
    html = await response.get_data(as_text=True)
    assert "écrivez à la boutique à l’adresse help@sleepy.example.com" in html
    assert 'href="mailto:help@sleepy.example.com"' in html  # the footer's
    assert OWNER not in html
