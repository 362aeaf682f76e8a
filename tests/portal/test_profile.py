"""The buyer's profile: name, address, phone (E.164), company and VAT, on later invoices only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from quart.typing import TestClientProtocol as Client

from payfacile.portal.invoices import issue_invoice
from payfacile.portal.models import Customer
from payfacile.tenants.scope import scoped
from tests.factories import make_order
from tests.portal.test_auth import ACME, acme_with_buyer, post, sign_in

PAGE = "/portal/profile"
GOOD = {
    "name": "Camille Martin",
    "phone": "06 12 34 56 78",
    "address_line1": "5 avenue Foch",
    "address_line2": "",
    "postal_code": "75116",
    "city": "Paris",
    "country": "FR",
    "company": "Martin & Fils",
    "vat_number": "fr 40 123456789",
}


async def test_details_are_saved_and_printed_on_later_invoices_only(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    before = await issue_invoice(
        store, await make_order(store, buyer, "1001"), issued_at=datetime.now(UTC)
    )
    await sign_in(client)
    response = await post(client, PAGE, GOOD, page=PAGE)
    assert response.status_code == 303
    assert response.headers["Location"] == f"{PAGE}?done=saved"
    saved = await scoped(store).get(Customer, id=buyer.id)
    assert saved.phone == "+33612345678"
    assert saved.vat_number == "FR40123456789"
    assert (saved.company, saved.city, saved.country) == ("Martin & Fils", "Paris", "FR")
    page = await (await client.get(f"{PAGE}?done=saved", headers=ACME)).get_data(as_text=True)
    assert 'value="+33 6 12 34 56 78"' in page
    assert '<option value="FR" selected>France</option>' in page
    assert "Your details are saved." in page

    after = await issue_invoice(
        store, await make_order(store, buyer, "1002"), issued_at=datetime.now(UTC)
    )
    assert after.snapshot["buyer"]["company"] == "Martin & Fils"
    assert after.snapshot["buyer"]["phone"] == "+33612345678"
    assert before.snapshot["buyer"]["company"] == ""


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"phone": "12"}, "phone", "This phone number is not valid."),
        ({"phone": "call me maybe"}, "phone", "Enter a phone number with its country code"),
        ({"name": "x" * 121}, "name", "A name is 120 characters at most."),
        ({"city": "y" * 101}, "city", "A city is 100 characters at most."),
        ({"country": "XX"}, "country", "Choose a country from the list."),
        ({"vat_number": "Z" * 33}, "vat_number", "A VAT number is 32 characters at most."),
    ],
)
async def test_bad_input_changes_nothing(
    client: Client, change: dict[str, str], field: str, message: str
) -> None:
    store, buyer = await acme_with_buyer()
    await sign_in(client)
    response = await post(client, PAGE, {**GOOD, **change}, page=PAGE)
    assert response.status_code == 422
    page = await response.get_data(as_text=True)
    assert f'<p class="field__error" id="{field}-error">{message}' in page
    assert "Nothing was saved." in page
    unchanged = await scoped(store).get(Customer, id=buyer.id)
    assert (unchanged.name, unchanged.city, unchanged.phone) == ("Camille", "", "")


async def test_the_email_is_not_changed_here(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    await sign_in(client)
    await post(client, PAGE, {**GOOD, "email": "new@example.com"}, page=PAGE)
    assert (await scoped(store).get(Customer, id=buyer.id)).email == "camille@example.com"


async def test_markup_in_a_name_is_text(client: Client) -> None:
    await acme_with_buyer()
    await sign_in(client)
    await post(client, PAGE, {**GOOD, "name": '<img src=x onerror="alert(1)">'}, page=PAGE)
    page = await (await client.get(PAGE, headers=ACME)).get_data(as_text=True)
    assert '<img src=x onerror="alert(1)">' not in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page


async def test_a_french_buyer_gets_french_countries_and_messages(client: Client) -> None:
    await acme_with_buyer(language="fr")
    await sign_in(client)
    response = await post(client, PAGE, {**GOOD, "phone": "12"}, page=PAGE)
    page = await response.get_data(as_text=True)
    assert "Ce numéro de téléphone n’est pas valide." in page
    assert '<option value="DE">Allemagne</option>' in page


async def test_french_countries_are_in_french_alphabetical_order(client: Client) -> None:
    await acme_with_buyer(language="fr")
    await sign_in(client)
    page = await (await client.get(PAGE, headers=ACME)).get_data(as_text=True)
    shown = [page.index(f">{name}</option>") for name in FRENCH_ORDER]
    assert shown == sorted(shown), "Égypte goes between Danemark and Espagne, Îles Cook among the I"


FRENCH_ORDER = ("Danemark", "Égypte", "Espagne", "Îles Cook", "Inde", "Irlande", "Zimbabwe")
