"""A signed-in buyer's error pages keep the portal's header (its page links, the account
menu with Sign out, the language button); a signed-out visitor's and the central host's
stay plain, and a 404 for somebody else's order says no more than one for no order."""

from __future__ import annotations

import re

import pytest
from quart.typing import TestClientProtocol as Client

from payfacile.platform.i18n import LANGUAGE_COOKIE
from tests.factories import make_customer, make_order, make_store
from tests.portal.test_auth import ACME, acme_with_buyer, sign_in

PAGE_LINKS = (
    "/portal/orders",
    "/portal/invoices",
    "/portal/subscriptions",
    "/portal/payment-methods",
)
HEADER = re.compile(r'<header class="topbar">.*?</header>', re.S)
MAIN = re.compile(r"<main[^>]*>.*?</main>", re.S)


def header_of(html: str) -> str:
    found = HEADER.search(html)
    assert found is not None, html[:300]
    return found.group(0)


def main_of(html: str) -> str:
    found = MAIN.search(html)
    assert found is not None, html[:300]
    return found.group(0)


def has_portal_header(html: str, sign_out: str = "Sign out") -> bool:
    header = header_of(html)
    return (
        all(f'href="{link}"' in header for link in PAGE_LINKS)
        and 'action="/portal/logout"' in header
        and sign_out in header
    )


@pytest.mark.parametrize(
    "path", ["/portal/orders/9999", "/portal/nope", "/nope", "/portal/invoices/X-1.pdf"]
)
async def test_a_signed_in_buyers_404_keeps_the_portal_header(client: Client, path: str) -> None:
    await acme_with_buyer()
    await sign_in(client)
    response = await client.get(path, headers=ACME)
    assert response.status_code == 404
    html = await response.get_data(as_text=True)
    assert has_portal_header(html)
    header = header_of(html)
    assert "Camille" in header  # the account menu's button
    assert 'action="/language"' in header
    assert "Page not found" in main_of(html) or "has no" in main_of(html)
    assert 'href="/portal/"' in main_of(html)  # its way home is the portal's home


async def test_the_header_of_a_signed_in_404_speaks_french(client: Client) -> None:
    await acme_with_buyer()
    await sign_in(client)
    client.set_cookie("acme.payfacile.localhost", LANGUAGE_COOKIE, "fr")
    response = await client.get("/portal/nope", headers=ACME)
    assert response.status_code == 404
    html = await response.get_data(as_text=True)
    assert '<html lang="fr">' in html
    assert has_portal_header(html, sign_out="Se déconnecter")
    assert ">Commandes</a>" in header_of(html)
    assert "Page introuvable" in main_of(html)


async def test_another_buyers_or_stores_order_is_a_404_that_reveals_nothing(
    client: Client,
) -> None:
    store, buyer = await acme_with_buyer()
    await make_order(store, buyer, "1001", total=2599)
    someone = await make_customer(store, "someone@example.com", name="Somebody Else")
    await make_order(store, someone, "1002", total=4242)
    other = await make_store("other", name="Other Shop")
    await make_order(other, await make_customer(other, "camille@example.com"), "1003")
    await sign_in(client)
    pages = {}
    for number in ("1002", "1003", "1004"):
        response = await client.get(f"/portal/orders/{number}", headers=ACME)
        assert response.status_code == 404
        html = await response.get_data(as_text=True)
        assert has_portal_header(html)
        for secret in ("Somebody", "someone@example.com", "42.42", "Other Shop"):
            assert secret not in html
        pages[number] = main_of(html).replace(number, "N")
    assert pages["1002"] == pages["1003"] == pages["1004"]


async def test_a_signed_out_visitors_404_stays_plain(client: Client) -> None:
    await acme_with_buyer()
    response = await client.get("/portal/nope", headers=ACME)
    assert response.status_code == 404
    html = await response.get_data(as_text=True)
    assert not has_portal_header(html)
    assert "Sign out" not in html
    assert "/portal/orders" not in html
    assert 'action="/language"' in header_of(html)  # the store's page keeps its language


@pytest.mark.parametrize(
    "host", ["other.payfacile.localhost", "payfacile.localhost"], ids=["another store", "central"]
)
async def test_a_signed_in_buyer_is_a_stranger_on_another_host(client: Client, host: str) -> None:
    await acme_with_buyer()
    await make_store("other", name="Other Shop")
    await sign_in(client)
    response = await client.get("/nope", headers={"Host": host})
    assert response.status_code == 404
    html = await response.get_data(as_text=True)
    assert not has_portal_header(html)
    assert "Camille" not in html


async def test_an_error_page_asked_as_json_is_still_json(client: Client) -> None:
    await acme_with_buyer()
    await sign_in(client)
    response = await client.get(
        "/portal/orders/9999", headers={**ACME, "Accept": "application/json"}
    )
    assert response.status_code == 404
    assert (await response.get_json())["error"]["code"] == "not_found"
