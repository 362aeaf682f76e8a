"""Customers by hand, from the store dashboard: adding one, editing their details under the
portal's own rules, and the email that is the dashboard's only until the buyer has a password."""

from __future__ import annotations

import re
from html import unescape

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from payfacile.platform.i18n import LANGUAGE_COOKIE
from payfacile.platform.models import OutboxEmail
from payfacile.platform.passwords import hash_password
from payfacile.portal.models import Customer
from payfacile.tenants.models import MembershipRole, Store
from payfacile.tenants.scope import scoped
from tests.conftest import opened
from tests.factories import make_customer, make_store
from tests.merchants import CENTRAL, merchant, post

NEW = "/dashboard/acme/customers/new"
ACME = {"Host": "acme.payfacile.localhost"}
ERROR = re.compile(r'<p class="field__error" id="(\w+)-error">')


async def acme_with(client: Client, role: MembershipRole = MembershipRole.OWNER) -> Store:
    acme = await make_store("acme", name="Acme Coffee")
    await merchant(client, acme, role, f"{role}@example.com")
    return acme


def fields_in_error(html: str) -> set[str]:
    return set(ERROR.findall(html))


@pytest.mark.parametrize("role", [MembershipRole.OWNER, MembershipRole.STAFF])
async def test_a_customer_added_by_hand_lands_on_their_profile_ready_to_invite(
    client: Client, role: MembershipRole
) -> None:
    acme = await acme_with(client, role)
    listing = await (await client.get("/dashboard/acme/customers", headers=CENTRAL)).get_data(
        as_text=True
    )
    assert f'href="{NEW}"' in listing
    form = {
        "email": " Camille@Example.COM ",
        "name": "  Camille   Dupont ",
        "language": "fr",
        "phone": "06 12 34 56 78",
        "country": "FR",
        "city": "Lyon",
        "company": "",
    }
    added = await post(client, NEW, form, page=NEW)
    assert added.status_code == 303
    camille = await scoped(acme).get(Customer, email="camille@example.com")
    assert added.headers["Location"] == f"/dashboard/acme/customers/{camille.id}?done=added"
    assert (camille.name, camille.language, camille.phone) == (
        "Camille Dupont",
        "fr",
        "+33612345678",
    )
    assert camille.invited_at is None
    assert camille.password_hash is None
    page = await (await client.get(added.headers["Location"], headers=CENTRAL)).get_data(
        as_text=True
    )
    assert "The customer is added" in page
    assert "Invite to portal" in page
    assert "Lyon" in page
    assert "France" in page
    assert "Edit details" in page
    assert await OutboxEmail.all().count() == 0  # nobody is emailed before "Invite to portal"


async def test_wrong_fields_are_each_shown_and_nothing_is_written(client: Client) -> None:
    acme = await acme_with(client)
    form = {"email": "not an address", "name": "x" * 121, "phone": "12", "country": "XX"}
    refused = await post(client, NEW, form, page=NEW)
    assert refused.status_code == 422
    html = unescape(await refused.get_data(as_text=True))
    assert fields_in_error(html) == {"email", "name", "phone", "country"}
    assert "Nothing was saved" in html
    assert "Enter a valid email address" in html
    assert 'value="not an address"' in html  # what was typed is kept
    assert await scoped(acme).query(Customer).count() == 0
    no_email = await post(client, NEW, {"name": "Camille"}, page=NEW)
    assert no_email.status_code == 422
    assert fields_in_error(await no_email.get_data(as_text=True)) == {"email"}
    assert await scoped(acme).query(Customer).count() == 0


async def test_an_email_another_customer_has_is_refused_on_the_field(client: Client) -> None:
    acme = await acme_with(client)
    await make_customer(acme, "camille@example.com", name="Camille")
    bravo = await make_store("bravo", name="Bravo")
    await make_customer(bravo, "jo@example.com")
    twice = await post(client, NEW, {"email": "CAMILLE@example.com", "name": "Other"}, page=NEW)
    assert twice.status_code == 409
    html = await twice.get_data(as_text=True)
    assert fields_in_error(html) == {"email"}
    assert "Another customer of this store has the email camille@example.com." in html
    assert await scoped(acme).query(Customer).count() == 1
    assert (await scoped(acme).get(Customer, email="camille@example.com")).name == "Camille"
    elsewhere = await post(client, NEW, {"email": "jo@example.com"}, page=NEW)
    assert elsewhere.status_code == 303  # buyer accounts are per store


async def test_editing_details_and_the_email_of_a_customer_who_never_signed_in(
    client: Client, app: Quart
) -> None:
    acme = await acme_with(client, MembershipRole.STAFF)
    await make_customer(acme, "taken@example.com")
    camille = await make_customer(acme, "camile@exmaple.com", name="Camille")
    profile = f"/dashboard/acme/customers/{camille.id}"
    await post(client, f"{profile}/invite", {}, page=profile)  # sent to the mistyped address
    row = await OutboxEmail.get(to_address="camile@exmaple.com")
    link = re.search(r"/portal/invitation/[\w-]+", opened(row).text_body)
    edit = f"{profile}/edit"
    form = await (await client.get(edit, headers=CENTRAL)).get_data(as_text=True)
    assert 'value="camile@exmaple.com"' in form
    assert "You can change it until the customer chooses a password" in form

    clash = await post(client, edit, {"email": "taken@example.com", "name": "C"}, page=edit)
    assert clash.status_code == 409
    assert fields_in_error(await clash.get_data(as_text=True)) == {"email"}
    assert (await scoped(acme).get(Customer, id=camille.id)).name == "Camille"

    details = {"email": "camille@example.com", "name": "Camille D", "phone": "+33 6 12 34 56 78"}
    saved = await post(client, edit, {**details, "address_line1": "1 rue de la Paix"}, page=edit)
    assert saved.headers["Location"] == f"{profile}?done=saved"
    fixed = await scoped(acme).get(Customer, id=camille.id)
    assert (fixed.email, fixed.name, fixed.phone) == (
        "camille@example.com",
        "Camille D",
        "+33612345678",
    )
    assert fixed.address_line1 == "1 rue de la Paix"
    assert fixed.invited_at is None  # the invitation went to the old address: invite again
    page = await (await client.get(saved.headers["Location"], headers=CENTRAL)).get_data(
        as_text=True
    )
    assert "details are saved" in unescape(page)
    assert "Invite to portal" in page
    assert link is not None
    opened_link = await app.test_client().get(link.group(0), headers=ACME)
    assert opened_link.status_code == 410  # the old address's link no longer works


async def test_the_dashboard_checks_numbers_and_postal_codes_as_the_portal_does(
    client: Client,
) -> None:
    acme = await acme_with(client)
    camille = await make_customer(acme, "camille@example.com", name="Camille", country="FR")
    edit = f"/dashboard/acme/customers/{camille.id}/edit"
    form = await (await client.get(edit, headers=CENTRAL)).get_data(as_text=True)
    assert 'name="company_number"' in form
    assert "SIREN or SIRET in France" in form
    assert 'name="company_number"' in await (await client.get(NEW, headers=CENTRAL)).get_data(
        as_text=True
    )
    wrong = {
        "email": "camille@example.com",
        "name": "Camille",
        "country": "FR",
        "vat_number": "hello world",
        "company_number": "303265046",
        "postal_code": "7500",
    }
    refused = await post(client, edit, wrong, page=edit)
    assert refused.status_code == 422
    html = unescape(await refused.get_data(as_text=True))
    assert fields_in_error(html) == {"vat_number", "company_number", "postal_code"}
    assert "A SIREN has 9 digits and a SIRET 14: check the number." in html
    assert "This is not a postal code of the country chosen (France). Example: 33380." in html
    unchanged = await scoped(acme).get(Customer, id=camille.id)
    assert (unchanged.vat_number, unchanged.company_number) == ("", "")

    right = {
        **wrong,
        "vat_number": "fr 40 303 265 045",
        "company_number": "303 265 045",
        "postal_code": "75001",
    }
    saved = await post(client, edit, right, page=edit)
    assert saved.status_code == 303
    fixed = await scoped(acme).get(Customer, id=camille.id)
    assert (fixed.vat_number, fixed.company_number, fixed.postal_code) == (
        "FR40303265045",
        "303265045",
        "75001",
    )
    again = await (await client.get(edit, headers=CENTRAL)).get_data(as_text=True)
    assert 'value="303265045"' in again


async def test_an_active_customers_email_is_theirs_to_change(client: Client) -> None:
    acme = await acme_with(client)
    camille = await make_customer(
        acme, "camille@example.com", name="Camille", password_hash=await hash_password("x" * 20)
    )
    edit = f"/dashboard/acme/customers/{camille.id}/edit"
    form = unescape(await (await client.get(edit, headers=CENTRAL)).get_data(as_text=True))
    assert 'name="email"' not in form
    assert "their email is theirs to change, from the portal" in form
    refused = await post(client, edit, {"email": "new@example.com", "name": "Camille B"}, page=edit)
    assert refused.status_code == 422
    assert fields_in_error(await refused.get_data(as_text=True)) == {"email"}
    unchanged = await scoped(acme).get(Customer, id=camille.id)
    assert (unchanged.email, unchanged.name) == ("camille@example.com", "Camille")
    saved = await post(client, edit, {"name": "Camille B", "language": "en"}, page=edit)
    assert saved.status_code == 303
    changed = await scoped(acme).get(Customer, id=camille.id)
    assert (changed.email, changed.name, changed.language) == (
        "camille@example.com",
        "Camille B",
        "en",
    )


async def test_another_stores_customer_is_404_and_left_alone(client: Client) -> None:
    await acme_with(client)
    bravo = await make_store("bravo", name="Bravo")
    jo = await make_customer(bravo, "jo@example.com", name="Jo")
    edit = f"/dashboard/acme/customers/{jo.id}/edit"
    assert (await client.get(edit, headers=CENTRAL)).status_code == 404
    refused = await post(client, edit, {"email": "x@example.com", "name": "X"}, page=NEW)
    assert refused.status_code == 404
    unchanged = await scoped(bravo).get(Customer, id=jo.id)
    assert (unchanged.email, unchanged.name) == ("jo@example.com", "Jo")
    for path in (NEW, edit):
        assert (await client.get(path.replace("acme", "bravo"), headers=CENTRAL)).status_code == 404


async def test_the_customer_form_speaks_french(client: Client) -> None:
    acme = await acme_with(client)
    client.set_cookie("payfacile.localhost", LANGUAGE_COOKIE, "fr")  # type: ignore[attr-defined]
    page = await (await client.get(NEW, headers=CENTRAL)).get_data(as_text=True)
    assert '<html lang="fr">' in page
    for words in ("Ajouter un client", "Langue de ses e-mails et de son espace client", "Pays"):
        assert words in page, words
    refused = await post(client, NEW, {"email": "nope"}, page=NEW)
    assert "Saisissez une adresse e-mail valide" in await refused.get_data(as_text=True)
    camille = await make_customer(acme, "camille@example.com")
    profile = await (
        await client.get(f"/dashboard/acme/customers/{camille.id}", headers=CENTRAL)
    ).get_data(as_text=True)
    assert "Modifier les coordonnées" in profile
