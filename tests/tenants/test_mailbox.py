"""The development mailbox on the central host, and the ways in a first run shows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from quart.typing import TestClientProtocol as Client

from payfacile.platform.config import Settings
from payfacile.platform.mail import Mailer, queue_email
from payfacile.tenants.branding import brand_of
from payfacile.tenants.models import Store
from tests.conftest import make_settings
from tests.factories import make_store
from tests.platform.test_web import serving

CENTRAL = {"Host": "payfacile.localhost"}
MAILBOX = "/dev/mailbox/"
SIGN_IN = "http://acme.payfacile.localhost:8000/portal/sign-in/abc123"
LETTER = re.compile(r'href="/dev/mailbox/([^"]+)"')


async def deliver(settings: Settings, store: Store, *, name: str = "Camille") -> None:
    """An email as the app sends one: queued into the outbox, then written to the Maildir."""
    row = await queue_email(
        settings,
        to="camille@example.com",
        template="portal_sign_in",
        context={"url": SIGN_IN, "name": name, "expires": "soon", "portal_url": "x"},
        brand=brand_of(store),
        store_id=store.id,
    )
    await Mailer(settings).send(row)


async def test_the_mailbox_lists_the_emails_and_their_links_are_clickable(
    client: Client, settings: Settings
) -> None:
    store = await make_store("acme", name="Acme Coffee")
    await deliver(settings, store)
    listing = await client.get(MAILBOX, headers=CENTRAL)
    assert listing.status_code == 200
    page = await listing.get_data(as_text=True)
    assert "Your sign-in link for Acme Coffee" in page
    assert "To camille@example.com" in page
    [key] = LETTER.findall(page)

    opened = await client.get(f"{MAILBOX}{key}", headers=CENTRAL)
    assert opened.status_code == 200
    letter = await opened.get_data(as_text=True)
    assert f'<a href="{SIGN_IN}">{SIGN_IN}</a>' in letter
    assert "Acme Coffee &lt;no-reply@payfacile.localhost&gt;" in letter


async def test_the_mailbox_says_when_it_is_empty_in_french(client: Client) -> None:
    response = await client.get(MAILBOX, headers={**CENTRAL, "Cookie": "pf_lang=fr"})
    assert response.status_code == 200
    page = await response.get_data(as_text=True)
    assert "Aucun e-mail pour l’instant" in page


async def test_markup_in_an_email_is_shown_as_text(client: Client, settings: Settings) -> None:
    store = await make_store("acme", name="Acme <b>Coffee</b>")
    await deliver(settings, store, name="<script>alert(1)</script>")
    page = await (await client.get(MAILBOX, headers=CENTRAL)).get_data(as_text=True)
    [key] = LETTER.findall(page)
    letter = await (await client.get(f"{MAILBOX}{key}", headers=CENTRAL)).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in letter
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in letter


@pytest.mark.parametrize("key", ["nope", "..%2F..%2Fsecret_key", "a" * 300])
async def test_an_unknown_email_is_a_404(client: Client, settings: Settings, key: str) -> None:
    await deliver(settings, await make_store("acme"))
    response = await client.get(f"{MAILBOX}{key}", headers=CENTRAL)
    assert response.status_code == 404


async def test_the_mailbox_is_not_on_a_store_host(client: Client, settings: Settings) -> None:
    await deliver(settings, await make_store("acme"))
    response = await client.get(MAILBOX, headers={"Host": "acme.payfacile.localhost"})
    assert response.status_code == 404


async def test_in_production_the_mailbox_is_a_404(settings: Settings, tmp_path: Path) -> None:
    production = make_settings(
        tmp_path, settings.database_url, env="production", redis_prefix=settings.redis_prefix
    )
    async with serving(production) as app:
        await deliver(settings, await make_store("acme"))
        client = app.test_client()
        for path in (MAILBOX, f"{MAILBOX}anything"):
            response = await client.get(path, headers=CENTRAL, scheme="https")
            assert response.status_code == 404
        home = await client.get("/", headers=CENTRAL, scheme="https")
        assert MAILBOX not in await home.get_data(as_text=True)


async def test_the_central_home_leads_to_the_demo_and_the_mailbox(client: Client) -> None:
    await make_store("demo", name="Atelier Lumière")
    page = await (await client.get("/", headers=CENTRAL)).get_data(as_text=True)
    assert 'href="http://demo.payfacile.localhost:8000/portal/"' in page
    assert f'href="{MAILBOX}"' in page


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "[::1]:8000", "10.0.0.7"])
async def test_an_ip_address_gets_a_page_linking_the_right_names(client: Client, host: str) -> None:
    await make_store("demo")
    response = await client.get("/", headers={"Host": host})
    assert response.status_code == 400
    page = await response.get_data(as_text=True)
    assert "Stores are not served on IP addresses." in page
    assert "PayFacile&#39;s home page" in page
    assert 'href="http://payfacile.localhost:8000/"' in page
    assert 'href="http://demo.payfacile.localhost:8000/portal/"' in page


async def test_the_ip_address_page_speaks_the_visitors_language(client: Client) -> None:
    response = await client.get("/", headers={"Host": "127.0.0.1:8000", "Cookie": "pf_lang=fr"})
    page = await response.get_data(as_text=True)
    assert '<html lang="fr">' in page
    assert "L’accueil de PayFacile" in page
