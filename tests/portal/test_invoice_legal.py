"""What an invoice says of its seller and its terms: the legal identity a French invoice
names, the payment terms for every buyer, and for business buyers the late-payment
penalties and the fixed 40 € recovery indemnity, all frozen at issue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from payfacile.portal.models import Invoice
from payfacile.portal.pdf import invoice_pdf
from payfacile.tenants.models import Store
from tests.factories import make_customer, make_store
from tests.portal.test_invoices import invoiced, pdf_text

LYON = {
    "name": "Atelier Lumière",
    "locale": "fr",
    "country": "FR",
    "address_line1": "12 rue des Artisans",
    "postal_code": "69002",
    "city": "Lyon",
    "legal_form": "SAS",
    "company_registration": "73282932000074",
    "registration_office": "Lyon",
    "share_capital": 1_000_000,
    "vat_number": "FR44732829320",
}


async def printed(store: Store, invoice: Invoice, tmp_path: Path) -> str:
    """The PDF's text, with its line breaks and no-break spaces as plain spaces."""
    pdf, _ = await invoice_pdf(store, invoice)
    return " ".join(pdf_text(pdf, tmp_path).replace("\u00a0", " ").split())


async def lyon(**values: Any) -> Store:
    return await make_store("atelier", **{**LYON, **values})


async def test_a_business_buyer_is_told_the_penalties_and_the_40_euro_indemnity(
    database: object, tmp_path: Path
) -> None:
    store = await lyon()
    business = await make_customer(store, "achats@client.example", company="Client SARL")
    text = await printed(store, await invoiced(store, business, lines=1, number="1001"), tmp_path)
    for words in (
        "SAS au capital de 10 000,00 €",
        "SIRET 732 829 320 00074",
        "RCS Lyon 732 829 320",
        "Numéro de TVA : FR44732829320",
        "Conditions de paiement : Paiement à réception de facture",
        "Pénalités de retard : trois fois le taux d’intérêt légal",
        "Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : 40,00 €",
        "art. L441-10 et D441-5 du Code de commerce",
        "Pas d’escompte pour paiement anticipé.",
    ):
        assert words in text, words


async def test_a_consumer_is_not_told_of_the_indemnity(database: object, tmp_path: Path) -> None:
    store = await lyon()
    consumer = await make_customer(store, "camille@example.com", name="Camille")
    invoice = await invoiced(store, consumer, lines=1, number="1001")
    assert invoice.snapshot["business_buyer"] is False
    text = await printed(store, invoice, tmp_path)
    assert "SIRET 732 829 320 00074" in text
    assert "Conditions de paiement : Paiement à réception de facture" in text
    for words in ("Indemnité forfaitaire", "40,00 €", "Pénalités de retard", "escompte"):
        assert words not in text, words


async def test_a_vat_number_alone_makes_a_business_buyer(database: object) -> None:
    store = await lyon()
    buyer = await make_customer(store, "pro@example.com", vat_number="BE0123456749")
    invoice = await invoiced(store, buyer, lines=1, number="1001")
    assert invoice.snapshot["business_buyer"] is True
    assert "40,00" in invoice.snapshot["terms"]["recovery"]


async def test_an_invoice_keeps_the_identity_and_terms_it_was_issued_with(
    database: object, tmp_path: Path
) -> None:
    store = await lyon()
    business = await make_customer(store, "achats@client.example", company="Client SARL")
    before = await invoiced(store, business, lines=1, number="1001")
    await Store.filter(id=store.id).update(
        name="Lumière & Fils",
        legal_form="SARL",
        company_registration="303265045",
        vat_number="FR40303265045",
        share_capital=None,
        registration_office="",
        payment_terms="Paiement à 30 jours fin de mois",
        late_payment_terms="Pénalités au taux BCE majoré de 10 points.",
    )
    # `store` still holds the row as it was: issuing reads the settings anew.
    after = await invoiced(store, business, lines=1, number="1002")
    old = await printed(store, before, tmp_path)
    assert "Atelier Lumière" in old
    assert "SAS au capital de 10 000,00 €" in old
    assert "SIRET 732 829 320 00074" in old
    assert "Paiement à réception de facture" in old
    assert "BCE" not in old
    new = await printed(store, after, tmp_path)
    assert "Lumière & Fils" in new
    assert "SIREN 303 265 045" in new
    assert "SARL" in new
    assert "capital" not in new
    assert "RCS" not in new
    assert "Conditions de paiement : Paiement à 30 jours fin de mois" in new
    assert "Pénalités au taux BCE majoré de 10 points." in new
    assert "Indemnité forfaitaire pour frais de recouvrement" in new  # fixed by law


async def test_an_english_store_prints_english_terms(database: object, tmp_path: Path) -> None:
    store = await make_store(
        "bakery", name="Bakery", locale="en", country="GB", company_registration="01234567"
    )
    business = await make_customer(store, "buyer@firm.example", company="Firm Ltd")
    text = await printed(store, await invoiced(store, business, lines=1, number="1001"), tmp_path)
    for words in (
        "Company registration: 01234567",
        "Payment terms: Payment due on receipt",
        "Late payment penalties: three times the French legal interest rate",
        "Fixed compensation for recovery costs in case of late payment: €40.00",
        "No discount for early payment.",
    ):
        assert words in text, words
    assert "SIREN" not in text
