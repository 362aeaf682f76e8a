"""The store's settings in its dashboard, as its owner uses them: identity, branding shown in
the portal at once and frozen into the invoices issued after, the legal identity, every bad
field refused with nothing written, and the page closed to staff and to other stores."""

from __future__ import annotations

import io
import os
import re
from typing import Any

import pytest
from PIL import Image
from quart import Response
from quart.typing import TestClientProtocol as Client
from werkzeug.datastructures import FileStorage

from payfacile.platform.i18n import LANGUAGE_COOKIE
from payfacile.portal.models import Customer, Invoice
from payfacile.tenants import store_settings
from payfacile.tenants.hosts import CACHED_STORE_FIELDS
from payfacile.tenants.models import MembershipRole, Store, StoreLogo
from payfacile.tenants.scope import scoped
from payfacile.tenants.stores import set_logo
from tests.conftest import RunningApp, work_after_answers
from tests.factories import make_customer, make_store
from tests.merchants import CENTRAL, CSRF, merchant
from tests.portal.test_invoices import invoiced

ACME = {"Host": "acme.payfacile.localhost"}
SETTINGS = "/dashboard/acme/settings"
SIREN = "732829320"
SIRET = "73282932000074"
VAT = "FR44732829320"  # the VAT number of that SIREN


def image(width: int = 64, height: int = 32, color: str = "#7c2d12", kind: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format=kind)
    return out.getvalue()


def noise_png(side: int = 460) -> bytes:
    """A real PNG over 512 KB: random pixels do not compress."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, format="PNG")
    return out.getvalue()


def filled(**changes: str) -> dict[str, str]:
    """The whole settings form, as the owner of a French store fills it."""
    return {
        "name": "Acme Coffee",
        "support_email": "hello@acme.example",
        "address_line1": "12 rue des Artisans",
        "address_line2": "",
        "postal_code": "69002",
        "city": "Lyon",
        "country": "FR",
        "time_zone": "",
        "locale": "fr",
        "currency": "EUR",
        "brand_color": "#0f766e",
        "legal_form": "SAS",
        "company_registration": SIRET,
        "registration_office": "Lyon",
        "share_capital": "10 000",
        "vat_number": VAT,
        "payment_terms": "",
        "late_payment_terms": "",
        "early_payment_terms": "",
        **changes,
    }


async def acme_with_owner(client: Client, **values: Any) -> tuple[Store, Customer]:
    acme = await make_store("acme", name="Acme Coffee", brand_color="#0f766e", **values)
    buyer = await make_customer(acme, "camille@example.com", name="Camille")
    await merchant(client, acme, MembershipRole.OWNER, "owner@example.com")
    return acme, buyer


async def save(
    client: Client, form: dict[str, str], *, logo: bytes | None = None, name: str = "logo.png"
) -> Response:
    """The settings form posted as the browser sends it (multipart, with its CSRF token)."""
    html = await (await client.get("/dashboard/", headers=CENTRAL)).get_data(as_text=True)
    token = CSRF.search(html).group(1)  # type: ignore[union-attr]
    files = {"logo": FileStorage(io.BytesIO(logo or b""), filename=name if logo else "")}
    response = await client.post(
        SETTINGS, form={**form, "csrf_token": token}, files=files, headers=CENTRAL
    )
    await work_after_answers(client.app)
    return response


async def portal_page(client: Client) -> str:
    response = await client.get("/portal/login", headers=ACME)
    assert response.status_code == 200
    return await response.get_data(as_text=True)


def stored(store: Store) -> dict[str, Any]:
    return {name: getattr(store, name) for name in (*CACHED_STORE_FIELDS, "legal_form")}


async def test_the_owner_rebrands_and_the_portal_shows_it_at_once(
    client: Client, services: RunningApp
) -> None:
    acme, buyer = await acme_with_owner(client)
    before = await portal_page(client)  # now in the host cache
    assert "Acme Coffee" in before
    assert "--brand: #0f766e" in before
    assert "brand__logo" not in before
    earlier = await invoiced(acme, buyer, lines=1, number="1001")

    logo = image(64, 32, "#7c2d12")
    saved = await save(client, filled(name="Bean Republic", brand_color="#7C2D12"), logo=logo)
    assert saved.status_code == 303
    assert saved.headers["Location"] == f"{SETTINGS}?done=saved"
    page = await (await client.get(saved.headers["Location"], headers=CENTRAL)).get_data(
        as_text=True
    )
    assert "Settings saved" in page
    assert 'value="Bean Republic"' in page
    assert 'value="#7c2d12"' in page

    after = await portal_page(client)  # no waiting for the cache to expire
    assert "Bean Republic" in after
    assert "Acme Coffee" not in after
    assert "--brand: #7c2d12" in after
    etag = (await Store.get(id=acme.id)).logo_etag
    assert f'src="/brand/logo?v={etag}"' in after
    served = await client.get("/brand/logo", headers=ACME)
    assert await served.get_data() == logo

    later = await invoiced(acme, buyer, lines=1, number="1002")
    assert earlier.snapshot["seller"]["name"] == "Acme Coffee"
    assert earlier.snapshot["branding"] == {"color": "#0f766e", "logo_type": ""}
    assert earlier.brand_logo is None
    assert later.snapshot["seller"]["name"] == "Bean Republic"
    assert later.snapshot["branding"] == {"color": "#7c2d12", "logo_type": "image/png"}
    assert later.brand_logo == logo


async def test_removing_the_logo_leaves_issued_invoices_theirs(
    client: Client, services: RunningApp
) -> None:
    acme, buyer = await acme_with_owner(client)
    logo = image()
    await set_logo(acme, logo, hosts=services.hosts)
    assert "brand__logo" in await portal_page(client)
    issued = await invoiced(acme, buyer, lines=1, number="1001")
    page = await (await client.get(SETTINGS, headers=CENTRAL)).get_data(as_text=True)
    assert f'src="{SETTINGS}/logo?v=' in page
    assert await (await client.get(f"{SETTINGS}/logo", headers=CENTRAL)).get_data() == logo
    token = CSRF.search(page).group(1)  # type: ignore[union-attr]
    removed = await client.post(
        f"{SETTINGS}/logo/remove", form={"csrf_token": token}, headers=CENTRAL
    )
    assert removed.headers["Location"] == f"{SETTINGS}?done=logo_removed"
    assert "brand__logo" not in await portal_page(client)
    assert (await client.get("/brand/logo", headers=ACME)).status_code == 404
    assert await scoped(acme).query(StoreLogo).count() == 0
    assert (await scoped(acme).get(Invoice, id=issued.id)).brand_logo == logo


async def test_every_field_is_saved_as_invoices_need_it(client: Client) -> None:
    acme, _ = await acme_with_owner(client)
    form = filled(
        company_registration="732 829 320 00074",
        vat_number="fr 44 732 829 320",
        share_capital="1 500,50",
        time_zone="Europe/Paris",
        currency="CHF",
        payment_terms="Paiement à 30 jours",
    )
    assert (await save(client, form)).status_code == 303
    store = await Store.get(id=acme.id)
    assert (store.company_registration, store.vat_number) == (SIRET, VAT)
    assert (store.share_capital, store.currency) == (150050, "CHF")
    assert (store.time_zone, store.locale, store.country) == ("Europe/Paris", "fr", "FR")
    assert (store.legal_form, store.registration_office) == ("SAS", "Lyon")
    assert store.payment_terms == "Paiement à 30 jours"
    assert store.late_payment_terms == ""  # the default wording, in the invoice's language
    page = await (await client.get(SETTINGS, headers=CENTRAL)).get_data(as_text=True)
    assert 'value="732 829 320 00074"' in page
    assert 'value="1500.50"' in page
    assert "A new currency applies to new orders only" in page


BAD_FIELDS = [
    ("company_registration", {"company_registration": "732829321"}, "not a valid SIREN"),
    ("company_registration", {"company_registration": "73282932000075"}, "not a valid SIRET"),
    ("company_registration", {"company_registration": "1234"}, "9 digits"),
    ("vat_number", {"vat_number": "FR45732829320"}, "not a valid EU VAT number"),
    ("vat_number", {"vat_number": "FR40303265045"}, "belongs to the SIREN 303 265 045"),
    ("share_capital", {"share_capital": "lots"}, "as an amount"),
    ("brand_color", {"brand_color": "blue"}, "six hexadecimal digits"),
    ("brand_color", {"brand_color": "#facc15"}, "contrast is 1.5:1"),
    ("time_zone", {"time_zone": "Mars/Olympus"}, "is not a time zone"),
    ("postal_code", {"postal_code": "6900"}, "5 digits"),
    ("support_email", {"support_email": "not an address"}, "valid email address"),
    ("name", {"name": " "}, "Enter the store's name."),
    ("currency", {"currency": "XYZ"}, "Choose a currency"),
]


@pytest.mark.parametrize(("field", "changes", "says"), BAD_FIELDS)
async def test_a_bad_field_is_a_422_on_that_field_and_nothing_is_written(
    client: Client, field: str, changes: dict[str, str], says: str
) -> None:
    acme, _ = await acme_with_owner(client)
    before = stored(await Store.get(id=acme.id))
    typed = filled(**{"name": "Bean Republic", "legal_form": "SARL", **changes})
    refused = await save(client, typed)
    assert refused.status_code == 422
    page = await refused.get_data(as_text=True)
    error = re.search(rf'<p class="field__error" id="{field}-error">([^<]+)</p>', page)
    assert error is not None, page
    assert says in error.group(1).replace("&#39;", "'")
    assert "Nothing was saved" in page
    assert 'value="SARL"' in page  # what was typed stays in the form
    if field != "name":
        assert 'value="Bean Republic"' in page
    assert stored(await Store.get(id=acme.id)) == before
    assert "Bean Republic" not in await portal_page(client)


BAD_LOGOS = [
    (b"not an image at all\n" * 20, "logo.png", "must be a PNG or JPEG"),
    (noise_png(), "big.png", "512 KB at most"),
    (image(3000, 20), "wide.png", "16 to 2000 pixels"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "broken.png", "damaged"),
]


@pytest.mark.parametrize(("data", "name", "says"), BAD_LOGOS)
async def test_a_bad_logo_is_a_422_and_nothing_is_written(
    client: Client, data: bytes, name: str, says: str
) -> None:
    acme, _ = await acme_with_owner(client)
    refused = await save(client, filled(name="Bean Republic"), logo=data, name=name)
    assert refused.status_code == 422
    page = await refused.get_data(as_text=True)
    error = re.search(r'<p class="field__error" id="logo-error">([^<]+)</p>', page)
    assert error is not None
    assert says in error.group(1)
    assert "Choose the file again" in page
    store = await Store.get(id=acme.id)
    assert (store.name, store.logo_etag) == ("Acme Coffee", "")
    assert await scoped(acme).query(StoreLogo).count() == 0


async def test_a_jpeg_logo_is_taken_by_its_bytes_whatever_its_name(client: Client) -> None:
    acme, _ = await acme_with_owner(client)
    jpeg = image(40, 40, kind="JPEG")
    assert (await save(client, filled(), logo=jpeg, name="logo.txt")).status_code == 303
    logo = await scoped(acme).get(StoreLogo)
    assert (logo.content_type, bytes(logo.data)) == ("image/jpeg", jpeg)


async def test_staff_cannot_open_or_change_the_settings(
    client: Client, services: RunningApp
) -> None:
    acme = await make_store("acme", name="Acme Coffee", brand_color="#0f766e")
    await set_logo(acme, image(), hosts=services.hosts)
    await merchant(client, acme, MembershipRole.STAFF, "staff@example.com")
    before = stored(await Store.get(id=acme.id))
    home = await (await client.get("/dashboard/acme/", headers=CENTRAL)).get_data(as_text=True)
    assert f'href="{SETTINGS}"' not in home
    page = await client.get(SETTINGS, headers=CENTRAL)
    assert page.status_code == 403
    assert "Only the store&#39;s owner can change this." in await page.get_data(as_text=True)
    assert (await save(client, filled(name="Staff Coffee"))).status_code == 403
    token = CSRF.search(home).group(1)  # type: ignore[union-attr]
    for path in (f"{SETTINGS}/logo/remove", f"{SETTINGS}/logo"):
        method = "POST" if path.endswith("remove") else "GET"
        response = await client.open(
            path, method=method, form={"csrf_token": token}, headers=CENTRAL
        )
        assert response.status_code == 403, path
    assert stored(await Store.get(id=acme.id)) == before
    assert await scoped(acme).query(StoreLogo).count() == 1


async def test_another_stores_owner_finds_no_settings(client: Client) -> None:
    acme = await make_store("acme", name="Acme Coffee")
    bravo = await make_store("bravo", name="Bravo")
    await merchant(client, bravo, MembershipRole.OWNER, "owner@bravo.example")
    before = stored(await Store.get(id=acme.id))
    assert (await client.get("/dashboard/bravo/settings", headers=CENTRAL)).status_code == 200
    for path in (SETTINGS, f"{SETTINGS}/logo", "/dashboard/nosuchstore/settings"):
        assert (await client.get(path, headers=CENTRAL)).status_code == 404, path
    refused = await save(client, filled(name="Taken Over"))
    assert refused.status_code == 404
    assert "Acme Coffee" not in await refused.get_data(as_text=True)
    assert stored(await Store.get(id=acme.id)) == before
    assert (await Store.get(id=bravo.id)).name == "Bravo"


async def test_the_settings_page_speaks_french(client: Client) -> None:
    await acme_with_owner(client, locale="fr_FR", country="FR")  # as stores made before had it
    client.set_cookie("payfacile.localhost", LANGUAGE_COOKIE, "fr")  # type: ignore[attr-defined]
    page = await (await client.get(SETTINGS, headers=CENTRAL)).get_data(as_text=True)
    assert '<html lang="fr">' in page
    for words in ("Paramètres", "Forme juridique", "Capital social"):
        assert words in page, words
    assert 'placeholder="Paiement à réception de facture"' in page
    assert "trois fois le taux d’intérêt légal" in page
    assert 'placeholder="Europe/Paris"' in page  # the country's zone, when left empty
    assert '<option value="fr" selected>' in page
    refused = await save(client, filled(company_registration="732829321"))
    assert refused.status_code == 422
    assert "732829321 n’est pas un SIREN valide" in await refused.get_data(as_text=True)
    assert (await save(client, filled())).status_code == 303
    done = await (await client.get(f"{SETTINGS}?done=saved", headers=CENTRAL)).get_data(
        as_text=True
    )
    assert "Paramètres enregistrés" in done


async def test_the_form_saves_again_unchanged_as_it_shows_the_settings(client: Client) -> None:
    acme, _ = await acme_with_owner(client)
    assert (await save(client, filled(share_capital="1500.5"))).status_code == 303
    first = await Store.get(id=acme.id)
    shown = store_settings.form_values(first)
    assert (shown["company_registration"], shown["share_capital"]) == (
        "732 829 320 00074",
        "1500.50",
    )
    assert (await save(client, shown)).status_code == 303
    again = await Store.get(id=acme.id)
    assert {name: getattr(again, name) for name in store_settings.FIELDS} == {
        name: getattr(first, name) for name in store_settings.FIELDS
    }
