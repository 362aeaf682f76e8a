from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from babel.numbers import format_currency, get_currency_precision
from markupsafe import Markup
from quart import Quart, g
from quart.typing import TestClientProtocol as Client

import payfacile
from payfacile.platform.config import Settings
from payfacile.platform.i18n import breakable, money
from payfacile.platform.mail import queue_email
from payfacile.tenants.branding import brand_of
from tests.factories import make_store

ROOT = Path(payfacile.__file__).parent.parent
CATALOG = Path(payfacile.__file__).parent / "translations" / "fr" / "LC_MESSAGES" / "messages.po"


def extracted_messages() -> set[str]:
    method_map = [
        ("payfacile/**.py", "python"),
        ("payfacile/templates/**.html", "jinja2"),
        ("payfacile/templates/**.txt", "jinja2"),
    ]
    options = {"payfacile/templates/**": {"trimmed": "true"}}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options, keywords={"_": None, "_l": None, "gettext": None}
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_message_has_a_french_translation() -> None:
    with CATALOG.open("rb") as source:
        catalog = read_po(source)
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    missing = extracted_messages() - translated
    assert missing == set(), "run `make messages` and translate the new strings"


def test_french_keeps_the_placeholders() -> None:
    with CATALOG.open("rb") as source:
        catalog = read_po(source)
    for message in catalog:
        if message.id:
            names = set(re.findall(r"%\((\w+)\)s", str(message.id)))
            assert names == set(re.findall(r"%\((\w+)\)s", str(message.string))), message.id


async def test_a_french_store_emails_in_french(database: Settings) -> None:
    store = await make_store("boutique", name="La Boutique", locale="fr")
    row = await queue_email(
        database,
        to="client@example.com",
        template="store_invitation",
        context={"store_name": "La Boutique", "url": "http://x.example/", "expires": "demain"},
        brand=brand_of(store),
        store_id=store.id,
    )
    assert row.subject == "Votre boutique PayFacile La Boutique est prête"
    assert "Bonjour," in row.text_body
    assert "Choisir mon mot de passe" in row.html_body
    assert row.html_body.startswith('<!doctype html>\n<html lang="fr">')
    english = await queue_email(
        database,
        to="client@example.com",
        template="store_invitation",
        context={"store_name": "La Boutique", "url": "http://x.example/", "expires": "soon"},
        brand=brand_of(store),
        store_id=store.id,
        language="en",
    )
    assert english.subject == "Your PayFacile store La Boutique is ready"


async def test_a_french_store_page_is_in_french(client: Client) -> None:
    await make_store("boutique", name="La Boutique", locale="fr_FR")
    response = await client.get("/portal/login", headers={"Host": "boutique.payfacile.localhost"})
    page = await response.get_data(as_text=True)
    assert '<html lang="fr">' in page
    assert "Téléchargez chaque facture en PDF" in page


async def test_money_follows_the_language() -> None:
    app = Quart(__name__)
    async with app.app_context():
        g.locale = "en"
        assert money(123456, "EUR") == "€1,234.56"
        g.locale = "fr"
        assert money(123456, "EUR").replace("\u202f", " ").replace("\xa0", " ") == "1 234,56 €"


@pytest.mark.parametrize("language", ["en", "fr", "fr_FR", "de_CH", "en_IN"])
@pytest.mark.parametrize("currency", ["EUR", "USD", "JPY", "KWD"])
def test_money_reads_exactly_as_babel_writes_it(language: str, currency: str) -> None:
    digits = get_currency_precision(currency)
    amounts = [0, 1, 99, 1000, 123456, 10**9 + 7, -2500, *random.sample(range(10**13), 200)]
    for amount in amounts:
        expected = format_currency(amount / 10**digits, currency, locale=language)
        assert money(amount, currency, language) == expected, amount


async def test_a_store_name_starting_with_a_vowel_reads_well_in_french(database: Settings) -> None:
    store = await make_store("atelier", name="Atelier Lumière", locale="fr")
    row = await queue_email(
        database,
        to="client@example.com",
        template="store_invitation",
        context={"store_name": store.name, "url": "http://x.example/", "expires": "demain"},
        brand=brand_of(store),
        store_id=store.id,
    )
    assert "de Atelier" not in row.html_body
    assert "Envoyé par PayFacile pour le compte de la boutique Atelier Lumière." in row.html_body


def test_an_address_wraps_at_its_parts_and_stays_escaped() -> None:
    assert breakable("camille.dupont@atelier.example") == Markup(
        "camille<wbr>.dupont@<wbr>atelier<wbr>.example"
    )
    assert breakable('<b>"x"@y') == Markup("&lt;b&gt;&#34;x&#34;@<wbr>y")
