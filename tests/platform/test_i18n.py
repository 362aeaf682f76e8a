from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from babel.numbers import format_currency, get_currency_precision
from markupsafe import Markup
from quart import Quart, g, render_template_string
from quart.typing import TestClientProtocol as Client

import payfacile
from payfacile.platform.config import Settings
from payfacile.platform.elision import NAMES, elide, name_slots
from payfacile.platform.i18n import breakable, install_i18n, money
from payfacile.platform.mail import queue_email
from payfacile.platform.text import _l
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


NBSP = "\u00a0"
# A mark is French punctuation where a word or a sentence ends with it: followed by a space,
# the end, or a closing quote or tag. Not in `https://`, "14:30", a ratio "4,5:1" or a
# "description;quantité" format, where a letter, a digit or a slash follows it.
FRENCH_MARK = re.compile(r"(.?)([?!;:])(?=\s|$|[»\"”)<.])")


def french_strings() -> list[tuple[str, str]]:
    """Each French string of the catalog (plural forms apart) with its message id."""
    with CATALOG.open("rb") as source:
        catalog = read_po(source)
    found = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        found.extend((ids[0], text) for text in strings if text)
    return found


def orphaned_punctuation(text: str) -> list[str]:
    """Where `text` puts a plain space (or none) before ? ! ; : or inside « », each with a
    few characters around it. URLs and HTML tags are set aside first."""
    text = re.sub(r"https?://\S+|<[^>]*>", "", text)
    bad = [
        text[max(0, found.start() - 12) : found.end() + 2]
        for found in FRENCH_MARK.finditer(text)
        if found.group(1) != NBSP
    ]
    bad += [
        text[max(0, i - 12) : i + 12]
        for i, c in enumerate(text)
        if c == "«" and text[i + 1 : i + 2] != NBSP
    ]
    bad += [
        text[max(0, i - 12) : i + 2]
        for i, c in enumerate(text)
        if c == "»" and text[i - 1 : i] != NBSP
    ]
    return bad


def test_french_punctuation_keeps_its_no_break_space() -> None:
    """A no-break space (U+00A0) before ? ! ; : and inside « »: on a phone, a line never
    starts with the mark or leaves a guillemet alone."""
    bad = {
        msgid: found for msgid, text in french_strings() if (found := orphaned_punctuation(text))
    }
    assert bad == {}, f"{len(bad)} French strings orphan their punctuation"


def test_the_punctuation_check_sees_what_it_should() -> None:
    assert orphaned_punctuation("Mot de passe oublié ?")
    assert orphaned_punctuation("Motif: aucun")
    assert orphaned_punctuation("« %(slug)s » est réservé.")
    assert not orphaned_punctuation(f"Mot de passe oublié{NBSP}?")
    assert not orphaned_punctuation(f"«{NBSP}%(slug)s{NBSP}» est réservé{NBSP}: oui.")
    assert not orphaned_punctuation("Ouvrez https://example.com/a?b=c à 14:30, ratio 4,5:1.")
    assert not orphaned_punctuation("sous la forme description;quantité;prix")
    assert not orphaned_punctuation('<a href="/x">lien</a>')


def test_de_before_a_name_elides_in_every_french_string() -> None:
    """Each French string with "de %(store)s" (or a product's, a person's name) reads
    "d’Atelier Lumière" and "d’Hermès", but "de Boutique Nord" and "de Hachette"."""
    slotted = [
        (msgid, text)
        for msgid, text in french_strings()
        if name_slots(text) and all(word.lower() == "d" for word, _ in name_slots(text))
    ]
    assert len(slotted) >= 7  # the team's emails, a domain removed, a request to cancel…
    for msgid, text in slotted:
        keys = set(re.findall(r"%\((\w+)\)s", text))
        for name, elided in (
            ("Atelier Lumière", True),
            ("Hermès", True),
            ("Boutique Nord", False),
            ("Hachette", False),
        ):
            values = {key: name if key in NAMES else "x" for key in keys}
            shown = elide(text, values) % values
            assert (f"d’{name}" in shown) is elided, (msgid, shown)
            assert (f"de {name}" in shown) is not elided, (msgid, shown)


async def test_pages_emails_and_texts_elide_before_a_store_name(database: Settings) -> None:
    store = await make_store("atelier", name="Atelier Lumière", locale="fr")
    email = await queue_email(
        database,
        to="sam@example.com",
        template="staff_invitation",
        context={"store_name": store.name, "inviter": "Camille", "url": "http://x.example/",
                 "expires": "demain"},
        brand=brand_of(store),
        store_id=store.id,
    )  # fmt: skip
    assert email.subject == "Vous êtes invité dans l’équipe d’Atelier Lumière sur PayFacile"
    text = _l("%(host)s was removed from %(store)s", host="a.example", store=store.name)
    assert text.in_language("fr") == "a.example a été retiré d’Atelier Lumière"
    assert text.in_language("en") == "a.example was removed from Atelier Lumière"
    app = Quart(__name__)
    install_i18n(app)
    async with app.app_context():
        g.locale = "fr"
        shown = await render_template_string(
            "{{ _('%(customer)s asks to cancel %(product)s', customer='Léa', product=p) }}",
            p="Abonnement <café>",
        )
    assert shown == "Léa demande la résiliation d’Abonnement &lt;café&gt;"
