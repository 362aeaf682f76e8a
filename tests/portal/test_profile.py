"""The buyer's profile: name, address, phone (E.164), company, VAT and company numbers, postal
codes by country; on later invoices only."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

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
    "vat_number": "fr 40 303 265 045",
    "company_number": "",
}
ERROR = re.compile(r'<p class="field__error" id="(\w+)-error">')


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
    assert saved.vat_number == "FR40303265045"
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
        (
            {"vat_number": "hello world"},
            "vat_number",
            "This is not a valid VAT number. It starts with the country code, like FR40 303 265",
        ),
        (
            {"vat_number": "FR41303265045"},
            "vat_number",
            "This is not a valid VAT number for FR: its check digits do not match.",
        ),
        (
            {"vat_number": "FR4030326504"},
            "vat_number",
            "This is not a valid VAT number for FR: it does not have the right length",
        ),
        ({"company_number": "303265046"}, "company_number", "A SIREN has 9 digits and a SIRET 14"),
        ({"company_number": "7328293200007"}, "company_number", "A SIREN has 9 digits"),
        (
            {"country": "DE", "postal_code": "10115", "company_number": "Nowhere HRB 1"},
            "company_number",
            "A German register number names the court",
        ),
        (
            {"country": "GB", "company_number": "SC 123/4?"},
            "company_number",
            "A company registration number has letters and digits only.",
        ),
        (
            {"postal_code": "7500"},
            "postal_code",
            "This is not a postal code of the country chosen (France). Example: 33380.",
        ),
        (
            {"country": "GB", "postal_code": "SW1A 1AA 9"},
            "postal_code",
            "This is not a postal code of the country chosen (United Kingdom). Example: EC1Y 8SY.",
        ),
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
    assert (unchanged.vat_number, unchanged.company_number, unchanged.postal_code) == ("", "", "")


@pytest.mark.parametrize(
    ("change", "stored"),
    [
        ({"vat_number": "fr40 303.265.045"}, {"vat_number": "FR40303265045"}),
        ({"vat_number": "DE 136 695 976"}, {"vat_number": "DE136695976"}),  # bought across a border
        ({"vat_number": "GB 980 7806 84"}, {"vat_number": "GB980780684"}),
        ({"vat_number": "CHE-107.787.577 IVA"}, {"vat_number": "CHE107787577IVA"}),
        ({"company_number": "303 265 045"}, {"company_number": "303265045"}),
        ({"company_number": "732 829 320 00074"}, {"company_number": "73282932000074"}),
        ({"postal_code": "75001"}, {"postal_code": "75001"}),
        (
            {"country": "BE", "postal_code": "1000", "company_number": "0403.019.261"},
            {"company_number": "0403019261", "postal_code": "1000"},
        ),
        (
            {
                "country": "DE",
                "postal_code": "80331",
                "company_number": "Amtsgericht München, hrb 12345",
            },
            {"company_number": "München HRB 12345"},
        ),
        (
            {"country": "GB", "postal_code": "sw1a  1aa", "company_number": "sc 123456"},
            {"postal_code": "SW1A 1AA", "company_number": "SC123456"},
        ),
        ({"country": "CH", "postal_code": "CH-1211"}, {"postal_code": "1211"}),
        ({"country": "NL", "postal_code": "1234 ab"}, {"postal_code": "1234 AB"}),
        ({"country": "", "postal_code": "7500"}, {"postal_code": "7500"}),  # no country: any code
    ],
)
async def test_numbers_and_codes_are_checked_by_country_and_stored_compact(
    client: Client, change: dict[str, str], stored: dict[str, str]
) -> None:
    store, buyer = await acme_with_buyer()
    await sign_in(client)
    form = {**GOOD, "phone": "+33 6 12 34 56 78", **change}
    response = await post(client, PAGE, form, page=PAGE)
    assert response.status_code == 303, ERROR.findall(await response.get_data(as_text=True))
    saved = await scoped(store).get(Customer, id=buyer.id)
    assert {name: getattr(saved, name) for name in stored} == stored


async def test_every_bad_field_is_reported_in_one_answer(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    await sign_in(client)
    form = {
        **GOOD,
        "vat_number": "hello world",
        "company_number": "123",
        "postal_code": "7500",
        "phone": "12",
        "name": "x" * 121,
    }
    response = await post(client, PAGE, form, page=PAGE)
    assert response.status_code == 422
    page = unescape(await response.get_data(as_text=True))
    assert set(ERROR.findall(page)) == {
        "vat_number",
        "company_number",
        "postal_code",
        "phone",
        "name",
    }
    assert 'value="hello world"' in page  # what was typed is kept
    unchanged = await scoped(store).get(Customer, id=buyer.id)
    assert (unchanged.name, unchanged.vat_number, unchanged.company_number) == ("Camille", "", "")


async def test_the_company_number_is_on_the_form_and_on_later_invoices(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    await sign_in(client)
    form = await (await client.get(PAGE, headers=ACME)).get_data(as_text=True)
    assert 'name="company_number"' in form
    assert "SIREN or SIRET in France" in form
    await post(client, PAGE, {**GOOD, "company_number": "732 829 320 00074"}, page=PAGE)
    page = await (await client.get(PAGE, headers=ACME)).get_data(as_text=True)
    assert 'value="73282932000074"' in page
    invoice = await issue_invoice(
        store, await make_order(store, buyer, "1001"), issued_at=datetime.now(UTC)
    )
    assert invoice.snapshot["buyer"]["company_number"] == "73282932000074"


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


async def test_a_postal_code_message_names_the_country_in_the_pages_language(
    client: Client,
) -> None:
    await acme_with_buyer(language="fr")
    await sign_in(client)
    german = {**GOOD, "country": "DE", "postal_code": "7500"}
    page = await (await post(client, PAGE, german, page=PAGE)).get_data(as_text=True)
    error = re.search(r'<p class="field__error" id="postal_code-error">([^<]*)', page)
    assert error is not None
    assert "Allemagne" in error.group(1)
    assert "26133" in error.group(1)  # an example from Google's address data


async def test_french_countries_are_in_french_alphabetical_order(client: Client) -> None:
    await acme_with_buyer(language="fr")
    await sign_in(client)
    page = await (await client.get(PAGE, headers=ACME)).get_data(as_text=True)
    shown = [page.index(f">{name}</option>") for name in FRENCH_ORDER]
    assert shown == sorted(shown), "Égypte goes between Danemark and Espagne, Îles Cook among the I"


FRENCH_ORDER = ("Danemark", "Égypte", "Espagne", "Îles Cook", "Inde", "Irlande", "Zimbabwe")
