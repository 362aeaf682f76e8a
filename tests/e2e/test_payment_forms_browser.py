"""Adding a payment method in a real browser, in English and French, on a phone and a desktop:
the forms wait behind "Add a payment method", a card with several mistakes lists them all in
a summary that has the focus and leads to each field, and a SEPA account is saved under the
mandate its form showed. Axe-clean throughout."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from payfacile.platform.config import Settings
from payfacile.portal.models import PaymentMethod, PaymentMethodKind
from payfacile.tenants.scope import scoped
from tests.e2e.conftest import check_accessibility
from tests.e2e.test_portal_browser import make_busy_acme, page_in, sign_in_as_the_buyer
from tests.e2e.test_portal_second_pass import signed_in_buyer

WORDS = {
    "en": {
        "add": "Add a payment method",
        "summary": "Please check what you entered",
        "mistakes": [
            "This card number is not valid.",
            "Enter the expiry date as MM/YY.",
            "A security code has 3 or 4 digits.",
        ],
        "bank": "Bank account (SEPA Direct Debit)",
        "refund": "A refund must be claimed within 8 weeks",
        "save_bank": "Save bank account and sign the mandate",
        "saved": "Your bank account is saved.",
        "mandate": "Direct Debit mandate {reference}, signed on",
    },
    "fr": {
        "add": "Ajouter un moyen de paiement",
        "summary": "Veuillez vérifier votre saisie",
        "mistakes": [
            "Ce numéro de carte n’est pas valide.",
            "Saisissez la date d’expiration au format MM/AA.",
            "Un code de sécurité a 3 ou 4 chiffres.",
        ],
        "bank": "Compte bancaire (prélèvement SEPA)",
        "refund": "Une demande de remboursement doit être présentée dans les 8 semaines",
        "save_bank": "Enregistrer le compte et signer le mandat",
        "saved": "Votre compte bancaire est enregistré.",
        "mandate": "Mandat de prélèvement {reference}, signé le",
    },
}


async def focused_class(page: Page) -> str:
    return str(await page.evaluate("document.activeElement.className"))


@pytest.mark.parametrize("device", ["phone", "desktop"])
@pytest.mark.parametrize("language", ["en", "fr"])
async def test_a_buyer_adds_a_card_after_mistakes_then_a_bank_account(
    browser: Browser,
    live_server: int,
    settings: Settings,
    database: Settings,
    language: str,
    device: str,
) -> None:
    store = await make_busy_acme()
    words = WORDS[language]
    page, origin = await signed_in_buyer(browser, live_server, language, device)

    await page.goto(origin + "/portal/payment-methods")
    await expect(page.locator("#number")).to_have_count(0)  # no form open on the list
    await expect(page.locator("#iban")).to_have_count(0)
    await page.get_by_role("link", name=words["add"]).click()
    await expect(page.locator("#iban")).to_have_count(0)  # one form at a time
    await page.locator("#number").fill("4242 4242 4242 4241")
    await page.locator("#expiry").fill("13/40")
    await page.locator("#cvc").fill("1")
    await page.locator("main form:has(#number) button[type=submit]").click()

    summary = page.locator(".error-summary")
    await expect(summary.get_by_role("heading")).to_have_text(words["summary"])
    await expect(summary.get_by_role("link")).to_have_text(words["mistakes"])
    assert "error-summary" in await focused_class(page)  # the page opens on the summary
    for field in ("number", "expiry", "cvc"):
        await expect(page.locator(f"#{field}")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#number")).to_have_value("")  # never sent back
    await check_accessibility(page)
    await summary.get_by_role("link", name=words["mistakes"][1]).click()
    await expect(page).to_have_url(re.compile(r"#expiry$"))
    await expect(page.locator("#expiry")).to_be_in_viewport()
    assert not await page.evaluate("document.documentElement.scrollWidth > innerWidth")

    await page.get_by_role("link", name=words["bank"]).click()
    await expect(page.locator("#number")).to_have_count(0)
    mandate = page.locator(".mandate")
    await expect(mandate).to_contain_text(words["refund"])
    await expect(mandate).to_contain_text(store.name)
    reference = await page.locator('input[name="mandate_reference"]').input_value()
    await expect(mandate).to_contain_text(reference)
    await check_accessibility(page)
    await page.locator("#holder").fill("Camille Martin")
    await page.locator("#iban").fill("DE89 3704 0044 0532 0130 00")
    await page.get_by_role("button", name=words["save_bank"]).click()
    await expect(page.get_by_role("status").first).to_contain_text(words["saved"])
    await expect(page.locator(".method").first).to_contain_text(
        words["mandate"].format(reference=reference)
    )
    await check_accessibility(page)
    sepa = await scoped(store).get(PaymentMethod, is_default=True)
    assert (sepa.kind, sepa.mandate_reference) == (PaymentMethodKind.SEPA, reference)


async def test_the_summary_takes_the_focus_without_javascript(
    browser: Browser, live_server: int, settings: Settings, database: Settings
) -> None:
    await make_busy_acme()
    context = await browser.new_context(java_script_enabled=False)
    page, origin = await page_in(context, live_server, "en")
    await sign_in_as_the_buyer(page, origin)
    await page.goto(origin + "/portal/payment-methods/new")
    await page.locator("main form:has(#number) button[type=submit]").click()
    await expect(page.locator(".error-summary a")).to_have_count(3)
    assert "error-summary" in await focused_class(page)
    await context.close()
