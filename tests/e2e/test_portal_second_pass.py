"""Issue 15's portal in a real browser, in English and French, on a phone and a desktop: the
header, Pay now (a decline, then a payment), what each subscription charges next, a
cancellation request's trace, and the invoices page with a credit note. Axe-clean throughout."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from payfacile.platform.config import Settings
from payfacile.portal.gateway import gateway_for
from payfacile.portal.models import Invoice, InvoiceKind, Order, OrderStatus
from payfacile.portal.refunds import refund_order
from payfacile.tenants.scope import scoped
from tests.e2e.conftest import check_accessibility, mobile_context, new_context
from tests.e2e.test_portal_browser import make_busy_acme, page_in, sign_in_as_the_buyer

WORDS = {
    "en": {
        "nav": ["Home", "Orders", "Invoices", "Subscriptions", "Payment methods"],
        "other_language": "Français",
        "pay": "Pay €22.80 now",
        "add": "Add a new payment method",
        "saved": "Your new card is saved. You can pay with it below.",
        "declined": "Your bank declined the payment (insufficient funds).",
        "paid": "Thank you: the order is paid.",
        "next": "Next payment: €22.80 on",
        "expired": "Visa •••• 4242 has expired.",
        "request": "Request cancellation",
        "requested": "Cancellation requested on",
        "reason": "Your reason: Moving abroad",
        "credit": "Credit note",
        "refunded": "Refunded €22.80 on",
    },
    "fr": {
        "nav": ["Accueil", "Commandes", "Factures", "Abonnements", "Moyens de paiement"],
        "other_language": "English",
        "pay": "Payer 22,80\u00a0€ maintenant",
        "add": "Ajouter un moyen de paiement",
        "saved": "Votre nouvelle carte est enregistrée. Vous pouvez payer avec ci-dessous.",
        "declined": "Votre banque a refusé le paiement (fonds insuffisants).",
        "paid": "Merci\u00a0: la commande est payée.",
        "next": "Prochain paiement\u00a0: 22,80\u00a0€ le",
        "expired": "Visa •••• 4242 a expiré.",
        "request": "Demander la résiliation",
        "requested": "Résiliation demandée le",
        "reason": "Votre motif\u00a0: Moving abroad",
        "credit": "Avoir",
        "refunded": "Remboursement de 22,80\u00a0€ le",
    },
}


async def a_context(browser: Browser, device: str) -> BrowserContext:
    return await (mobile_context(browser) if device == "phone" else new_context(browser))


async def signed_in_buyer(
    browser: Browser, live_server: int, language: str, device: str
) -> tuple[Page, str]:
    """A page of the buyer signed in at acme, in `language` on a phone or a desktop, and the
    store's origin."""
    page, origin = await page_in(await a_context(browser, device), live_server, language)
    await sign_in_as_the_buyer(page, origin)
    return page, origin


async def header_fits(page: Page, device: str, words: dict[str, list[str] | str]) -> None:
    """The desktop header is one line; the phone's takes two short rows, not five."""
    nav = page.locator("header nav a")
    await expect(nav).to_have_text(words["nav"])
    tops = await nav.evaluate_all("links => links.map(link => link.getBoundingClientRect().top)")
    assert len(set(tops)) == 1, f"the page links wrap: {tops}"
    height = await page.locator("header.topbar").evaluate("h => h.getBoundingClientRect().height")
    assert height < (100 if device == "desktop" else 150), f"the header is {height} px high"
    await expect(page.locator("header form.language button")).to_have_count(1)
    await expect(page.locator("header select")).to_have_count(0)


async def fill_card(page: Page, number: str) -> None:
    await page.locator("#number").fill(number)
    await page.locator("#expiry").fill(f"12/{(datetime.now(UTC).year + 2) % 100}")
    await page.locator("#cvc").fill("123")
    await page.locator("main form:has(#number) button[type=submit]").click()


@pytest.mark.parametrize("device", ["phone", "desktop"])
@pytest.mark.parametrize("language", ["en", "fr"])
async def test_the_buyer_pays_a_failed_order_and_reads_what_comes_next(
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
    await header_fits(page, device, words)
    await check_accessibility(page)

    # Pay now: the only card has expired; a card that the bank declines, then a good one.
    await page.goto(origin + "/portal/orders/1006")
    pay = page.locator("section.pay-now")
    await expect(pay.get_by_role("heading")).to_have_text(words["pay"])
    await expect(pay.get_by_role("button")).to_have_count(0)  # nothing usable to pay with
    await check_accessibility(page)
    await pay.get_by_role("link", name=words["add"]).click()
    await fill_card(page, "4000 0000 0000 0341")
    await expect(page).to_have_url(origin + "/portal/orders/1006?done=card")
    await expect(page.get_by_role("status").first).to_have_text(words["saved"])
    await pay.get_by_role("button", name=words["pay"]).click()
    await expect(page.get_by_role("alert")).to_contain_text(words["declined"])
    await check_accessibility(page)
    await pay.get_by_role("link", name=words["add"]).click()
    await fill_card(page, "4242 4242 4242 4242")
    await pay.get_by_role("button", name=words["pay"]).click()
    await expect(page.get_by_role("status").first).to_contain_text(words["paid"])
    await expect(page.locator("section.pay-now")).to_have_count(0)
    await check_accessibility(page)
    order = await scoped(store).get(Order, number="1006")
    assert order.status == OrderStatus.PAID

    # Subscriptions: the amount charged next (VAT included), and a request's trace.
    await page.goto(origin + "/portal/subscriptions")
    locked = page.locator(".subscription").filter(has_text="Annual espresso machine")
    await expect(locked).to_contain_text("€178.80" if language == "en" else "178,80\u00a0€")
    await expect(page.locator(".subscription").first).to_contain_text(words["next"])
    await locked.locator("textarea").fill("Moving abroad")
    await locked.get_by_role("button", name=words["request"]).click()
    await expect(locked).to_contain_text(words["requested"])
    await expect(locked).to_contain_text(words["reason"])
    await expect(locked.get_by_role("button", name=words["request"])).to_have_count(0)
    await check_accessibility(page)

    # The store refunds the order just paid: the buyer sees the refund and the credit note.
    gateway = gateway_for(settings)
    assert gateway is not None
    await refund_order(settings, gateway, store, order.id)
    note = await scoped(store).get(Invoice, order_id=order.id, kind=InvoiceKind.CREDIT_NOTE)
    await page.goto(origin + "/portal/orders/1006")
    await expect(page.get_by_role("status").first).to_contain_text(words["refunded"])
    await page.goto(origin + "/portal/invoices")
    first = page.locator("table.invoices tbody tr").first
    await expect(first).to_contain_text(note.number)
    await expect(first).to_contain_text(words["credit"])
    await check_accessibility(page)
    widths = await page.evaluate(
        "({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
    )
    assert widths["scroll"] <= widths["inner"], widths

    # The language is one control: it switches at once.
    await page.locator("header form.language button").click()
    other = "fr" if language == "en" else "en"
    await expect(page.locator("html")).to_have_attribute("lang", other)
    await check_accessibility(page)


async def test_the_account_menu_opens_without_javascript(
    browser: Browser, live_server: int, database: Settings
) -> None:
    await make_busy_acme()
    context = await new_context(browser, java_script_enabled=False)
    page, origin = await page_in(context, live_server, "en")
    await sign_in_as_the_buyer(page, origin)
    await expect(page.get_by_role("link", name="Profile")).to_be_hidden()
    await page.locator("details.menu summary").click()
    await page.get_by_role("link", name="Profile").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Profile")
    await page.locator("details.menu summary").click()
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(origin + "/portal/login")
