"""A buyer goes through every way into the portal in a real browser, axe-clean on each page."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from tortoise import connections
from werkzeug.exceptions import MethodNotAllowed

from payfacile.app import create_app
from payfacile.platform import db
from payfacile.platform.config import Settings
from payfacile.platform.models import OutboxEmail
from payfacile.platform.passwords import hash_password
from payfacile.portal.models import Customer, Order, OrderStatus, PaymentMethod, PaymentStatus
from payfacile.schema import MODEL_MODULES
from payfacile.tenants.models import CancellationMode, Product, ProductKind, Store
from tests.conftest import opened
from tests.e2e.conftest import check_accessibility, mobile_context
from tests.factories import (
    make_customer,
    make_invoice,
    make_payment,
    make_payment_method,
    make_placed_order,
    make_product,
    make_store,
    make_subscription,
)
from tests.portal.test_invoices import pdf_text
from tests.test_cli import payfacile

LINK = re.compile(r"http://acme\.payfacile\.localhost:\d+(/portal/[\w/-]+)")
NEW_PASSWORD = "a buyer's long passphrase"


@pytest.fixture
async def outbox(settings: Settings) -> AsyncIterator[Settings]:
    """This test's database, to read the emails the server wrote (the links buyers get)."""
    await db.init_db(settings, MODEL_MODULES)
    yield settings
    await db.close_db()


READ: set[tuple[str, int]] = set()  # (database, email id) of the emails a test has read


async def emailed_link(to: str, link: re.Pattern[str] = LINK) -> str:
    """The path of the link in the latest email to `to` (by default a portal link of acme)
    that the test has not read yet."""
    # Link and reset emails are written just after the page answers: wait for the new row
    # (the test's own timeout bounds a wait that never ends); the email read before it
    # would lead to a link already used.
    client = connections.get("default")
    database = str(getattr(client, "database", None) or getattr(client, "filename", ""))
    unread = OutboxEmail.filter(to_address=to).order_by("-id")
    email = await unread.first()
    while email is None or (database, email.id) in READ:
        await asyncio.sleep(0.05)
        email = await unread.first()
    READ.add((database, email.id))
    match = link.search(opened(email).text_body)
    assert match is not None, email.text_body
    return match.group(1)


BUYER = "buyer@example.com"
BUYER_PASSWORD = "a buyer's first passphrase"
VAT_BP = 2000


async def make_acme() -> Store:
    """The store "acme", named so that its name shows in what buyers read."""
    return await make_store("acme", name="Atelier Lumière")


async def make_buyer(store: Store) -> Customer:
    """Camille, who signs in with `BUYER` and `BUYER_PASSWORD`."""
    return await make_customer(
        store,
        BUYER,
        name="Camille Martin",
        country="FR",
        language="en",
        password_hash=await hash_password(BUYER_PASSWORD),
        activated_at=datetime.now(UTC),
    )


async def make_lea(store: Store) -> Customer:
    """Léa, a customer without a password yet: she can be invited."""
    return await make_customer(store, "lea@example.com", name="Léa Dubois", country="FR")


async def make_expired_card(store: Store, buyer: Customer) -> PaymentMethod:
    """The buyer's default card, a Visa ending in 4242 that expired last year."""
    last_year = datetime.now(UTC).year - 1
    return await make_payment_method(
        store, buyer, last4="4242", exp_month=8, exp_year=last_year, is_default=True
    )


@dataclass(frozen=True)
class Catalogue:
    cancellable: Product  # a subscription buyers may cancel in the portal
    locked: Product  # a subscription only the store can cancel
    beans: Product
    grinder: Product


async def make_catalogue(store: Store) -> Catalogue:
    return Catalogue(
        cancellable=await make_product(
            store,
            "Coffee of the month",
            kind=ProductKind.SUBSCRIPTION,
            price=1900,
            portal_cancellation_allowed=True,
            cancellation_mode=CancellationMode.END_OF_PERIOD,
        ),
        locked=await make_product(
            store,
            "Annual espresso machine service plan",
            kind=ProductKind.SUBSCRIPTION,
            price=14900,
            interval="year",
            portal_cancellation_allowed=False,
        ),
        beans=await make_product(store, "Ethiopia Yirgacheffe beans, 1 kg", price=3200),
        grinder=await make_product(store, "Hand grinder", price=8900),
    )


async def make_subscriptions(
    store: Store, buyer: Customer, card: PaymentMethod, catalogue: Catalogue
) -> None:
    """The buyer subscribes to both: one they may cancel, one they may not."""
    now = datetime.now(UTC)
    for product, days in ((catalogue.cancellable, 12), (catalogue.locked, 200)):
        await make_subscription(
            store,
            buyer,
            product,
            current_period_end=now + timedelta(days=days),
            payment_method_id=card.id,
        )


async def make_order(
    store: Store,
    buyer: Customer,
    card: PaymentMethod,
    number: str,
    items: list[tuple[Product, int]],
    *,
    days_ago: int,
    status: OrderStatus,
    payment: PaymentStatus | None,
) -> Order:
    """An order (20 % VAT), its payment by `card` if any, and its invoice once paid."""
    placed = datetime.now(UTC) - timedelta(days=days_ago, hours=3)
    order = await make_placed_order(
        store, buyer, number, items, tax_rate_bp=VAT_BP, placed_at=placed, status=status
    )
    if payment is not None:
        await make_payment(
            store,
            order,
            status=payment,
            method_summary="Visa •••• 4242",
            payment_method_id=card.id,
            failure_reason="Card expired" if payment is PaymentStatus.FAILED else "",
        )
    if payment in {PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED}:
        await make_invoice(store, order)
    return order


async def make_first_order(
    store: Store, buyer: Customer, card: PaymentMethod, catalogue: Catalogue
) -> Order:
    """Order 1001: a grinder and two bags of beans, €183.60, paid and invoiced."""
    items = [(catalogue.grinder, 1), (catalogue.beans, 2)]
    return await make_order(
        store,
        buyer,
        card,
        "1001",
        items,
        days_ago=120,
        status=OrderStatus.FULFILLED,
        payment=PaymentStatus.SUCCEEDED,
    )


async def make_order_history(
    store: Store, buyer: Customer, card: PaymentMethod, catalogue: Catalogue
) -> None:
    """Seven orders, 1001 (oldest) to 1007 (newest), one in each state an order can be in."""
    c = catalogue
    await make_first_order(store, buyer, card, c)
    later = [
        ("1002", 90, OrderStatus.REFUNDED, [(c.beans, 1)], PaymentStatus.REFUNDED),
        ("1003", 60, OrderStatus.PAID, [(c.locked, 1)], PaymentStatus.SUCCEEDED),
        ("1004", 40, OrderStatus.CANCELED, [(c.grinder, 1)], None),
        ("1005", 30, OrderStatus.FULFILLED, [(c.cancellable, 1)], PaymentStatus.SUCCEEDED),
        ("1006", 2, OrderStatus.FAILED, [(c.cancellable, 1)], PaymentStatus.FAILED),
        ("1007", 0, OrderStatus.PENDING, [(c.beans, 3)], None),
    ]
    for number, days_ago, status, items, payment in later:
        await make_order(
            store, buyer, card, number, items, days_ago=days_ago, status=status, payment=payment
        )


async def make_busy_acme() -> Store:
    """Acme with everything the portal can show: Léa, and the buyer with an expired default
    card, both kinds of subscription and orders in every state."""
    store = await make_acme()
    await make_lea(store)
    buyer = await make_buyer(store)
    card = await make_expired_card(store, buyer)
    catalogue = await make_catalogue(store)
    await make_subscriptions(store, buyer, card, catalogue)
    await make_order_history(store, buyer, card, catalogue)
    return store


async def page_in(context: BrowserContext, live_server: int, language: str) -> tuple[Page, str]:
    """A page on the store "acme" with `language` chosen, and the store's origin."""
    origin = f"http://acme.payfacile.localhost:{live_server}"
    await context.add_cookies([{"name": "pf_lang", "value": language, "url": origin}])
    return await context.new_page(), origin


async def open_account_menu(page: Page) -> None:
    """The header's account menu (Profile, Sign-in details, Sign out), opened."""
    menu = page.locator("details.menu")
    if await menu.get_attribute("open") is None:
        await menu.locator("summary").click()


async def sign_out(page: Page) -> None:
    await open_account_menu(page)
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(re.compile(r"/portal/login$"))


async def submit(page: Page, form_action: str | None = None) -> None:
    """Click the main content's submit button (the header has the language form's own)."""
    scope = f'main form[action="{form_action}"]' if form_action else "main form"
    await page.locator(f"{scope} button[type=submit]").first.click()


async def test_invited_buyer_sets_a_password_switches_to_french_and_changes_email(
    page: Page, live_server: int, settings: Settings, outbox: Settings
) -> None:
    await make_lea(await make_acme())
    origin = f"http://acme.payfacile.localhost:{live_server}"
    invited = payfacile(settings, "customers", "invite", "--store", "acme", "lea@example.com")
    assert invited.returncode == 0, invited.stderr
    match = LINK.search(invited.stdout)
    assert match is not None

    await page.goto(origin + match.group(1))
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome to your")
    await check_accessibility(page)
    await page.get_by_label("New password", exact=True).fill("short")
    await page.get_by_label("Repeat the password", exact=True).fill("short")
    await submit(page)
    await expect(page.locator("#password-error")).to_contain_text("at least 10 characters")
    await check_accessibility(page)
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("Repeat the password", exact=True).fill(NEW_PASSWORD)
    await submit(page)
    await expect(page).to_have_url(origin + "/portal/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Hello Léa Dubois")
    await check_accessibility(page)

    await page.get_by_role("button", name="Français", exact=True).click()  # one control
    await expect(page.locator("html")).to_have_attribute("lang", "fr")
    await expect(page.get_by_role("heading", name="Abonnements")).to_be_visible()
    await check_accessibility(page)

    await open_account_menu(page)
    await page.get_by_role("link", name="Identifiants").click()
    await check_accessibility(page)
    await page.get_by_label("Nouvelle adresse e-mail").fill("lea.new@example.com")
    await page.get_by_label("Votre mot de passe").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Changer mon adresse e-mail").click()
    await expect(page.get_by_role("status")).to_contain_text("lea.new@example.com")
    await expect(page.get_by_text("Vous vous connectez avec lea@example.com.")).to_be_visible()

    await page.goto(origin + await emailed_link("lea.new@example.com"))
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "Confirmez votre nouvelle adresse e-mail"
    )
    await check_accessibility(page)
    await submit(page)
    await expect(page.get_by_text("Vous vous connectez avec lea.new@example.com.")).to_be_visible()

    await open_account_menu(page)
    await page.get_by_role("button", name="Se déconnecter").click()
    await expect(page).to_have_url(re.compile(r"/portal/login$"))
    await expect(page.locator("html")).to_have_attribute("lang", "fr")  # the choice is kept
    await check_accessibility(page)


async def test_buyer_signs_in_by_password_by_link_and_resets_the_password(
    page: Page, live_server: int, settings: Settings, outbox: Settings
) -> None:
    store = await make_acme()
    buyer = await make_buyer(store)
    card = await make_expired_card(store, buyer)  # what needs the buyer's attention
    await make_first_order(store, buyer, card, await make_catalogue(store))
    origin = f"http://acme.payfacile.localhost:{live_server}"

    await page.goto(origin + "/portal/orders/1001")  # a deep link while signed out
    await expect(page).to_have_url(re.compile(r"/portal/login\?next=/portal/orders/1001$"))
    await check_accessibility(page)
    await page.get_by_label("Email", exact=True).first.fill("buyer@example.com")
    await page.get_by_label("Password", exact=True).fill(BUYER_PASSWORD)
    await submit(page)
    await expect(page).to_have_url(origin + "/portal/orders/1001")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Order 1001")
    await check_accessibility(page)
    await page.get_by_role("link", name="Home").click()
    await expect(page.get_by_role("heading", name="Needs your attention")).to_be_visible()
    await check_accessibility(page)
    await sign_out(page)

    await page.locator("#link_email").fill("buyer@example.com")
    await submit(page, "/portal/login/link")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    await check_accessibility(page)
    await page.goto(origin + await emailed_link("buyer@example.com"))
    await expect(page.get_by_role("button", name="Continue")).to_be_visible()
    await check_accessibility(page)
    await submit(page)
    await expect(page).to_have_url(origin + "/portal/")
    await sign_out(page)

    await page.get_by_role("link", name="Forgot your password?").click()
    await check_accessibility(page)
    await page.get_by_label("Email").fill("buyer@example.com")
    await submit(page)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    await page.goto(origin + await emailed_link("buyer@example.com"))
    await check_accessibility(page)
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("Repeat the password", exact=True).fill(NEW_PASSWORD)
    await submit(page)
    await expect(page).to_have_url(origin + "/portal/")
    await sign_out(page)

    await page.get_by_label("Email", exact=True).first.fill("buyer@example.com")
    await page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    await submit(page)
    await expect(page).to_have_url(origin + "/portal/")


class Tour:
    """Visits portal pages in one language: each must be in that language and axe-clean.

    It remembers which portal pages it saw, so the test can fail on a page no one checked.
    """

    def __init__(self, page: Page, origin: str, language: str, settings: Settings) -> None:
        self.page, self.origin, self.language = page, origin, language
        app = create_app(settings, background=False)
        self.routes = app.url_map.bind("acme.payfacile.localhost")
        self.seen: set[str] = set()

    async def goto(self, path: str) -> None:
        await self.page.goto(self.origin + path)
        await self.check()

    async def check(self) -> None:
        await expect(self.page.locator("html")).to_have_attribute("lang", self.language)
        await check_accessibility(self.page)
        try:
            endpoint, _ = self.routes.match(urlsplit(self.page.url).path, method="GET")
        except MethodNotAllowed:  # the page a POST answered at a POST-only address
            return
        self.seen.add(str(endpoint))

    async def submit(self, form: str) -> None:
        await self.page.locator(f"main {form} button[type=submit]").first.click()
        await self.page.wait_for_load_state()
        await self.check()

    def unvisited(self) -> set[str]:
        pages = {
            rule.endpoint
            for rule in self.routes.map.iter_rules()
            if rule.rule.startswith("/portal/")
            and "GET" in (rule.methods or ())
            and rule.endpoint not in NOT_PAGES
        }
        return pages - self.seen


# A PDF download, opened in test_buyer_reads_orders_and_invoices.
NOT_PAGES = {"portal_orders.invoice"}
WORDS = {
    "en": {
        "mismatch": "do not match an account",
        "too_short": "at least 10 characters",
        "bad_card": "This card number is not valid.",
        "bad_phone": "This phone number is not valid.",
    },
    "fr": {
        "mismatch": "ne correspondent à aucun compte",
        "too_short": "au moins 10 caractères",
        "bad_card": "Ce numéro de carte n’est pas valide.",
        "bad_phone": "Ce numéro de téléphone n’est pas valide.",
    },
}


@pytest.mark.parametrize("language", ["en", "fr"])
async def test_every_portal_page_is_accessible_in_english_and_in_french(
    context: BrowserContext, live_server: int, settings: Settings, outbox: Settings, language: str
) -> None:
    await make_busy_acme()
    page, origin = await page_in(context, live_server, language)
    tour = Tour(page, origin, language, settings)
    words = WORDS[language]

    await tour.goto("/portal/login")
    await page.locator("#email").fill("buyer@example.com")
    await page.locator("#password").fill("not the password")
    await tour.submit("form:has(#password)")
    await expect(page.locator("#email-error")).to_contain_text(words["mismatch"])
    await page.locator("#link_email").fill("buyer@example.com")
    await tour.submit("form:has(#link_email)")
    await tour.goto(await emailed_link("buyer@example.com"))
    await tour.goto("/portal/sign-in/not-a-real-token")

    await tour.goto("/portal/forgot-password")
    await page.locator("#email").fill("buyer@example.com")
    await tour.submit("form:has(#email)")
    await tour.goto(await emailed_link("buyer@example.com"))
    await page.locator("#password").fill("short")
    await page.locator("#confirm").fill("short")
    await tour.submit("form:has(#password)")
    await expect(page.locator("#password-error")).to_contain_text(words["too_short"])

    invited = payfacile(settings, "customers", "invite", "--store", "acme", "lea@example.com")
    match = LINK.search(invited.stdout)
    assert match is not None, invited.stderr
    await tour.goto(match.group(1))

    await tour.goto("/portal/login")
    await page.locator("#email").fill("buyer@example.com")
    await page.locator("#password").fill(BUYER_PASSWORD)
    await tour.submit("form:has(#password)")
    await expect(page).to_have_url(origin + "/portal/")
    await tour.goto("/portal/orders")
    await tour.goto("/portal/orders/1001")
    await tour.goto("/portal/orders/999999")
    await tour.goto("/portal/invoices")
    await tour.goto("/portal/payment-methods")
    await tour.goto("/portal/payment-methods/new?kind=sepa")
    await tour.goto("/portal/payment-methods/new")
    await page.locator("#number").fill("4242 4242 4242 4241")
    await page.locator("#expiry").fill("12/40")
    await page.locator("#cvc").fill("123")
    await tour.submit("form:has(#number)")
    await expect(page.locator("#number-error")).to_contain_text(words["bad_card"])
    await tour.goto("/portal/subscriptions")
    await page.locator('main a[href$="/cancel"]').click()
    await tour.check()
    await tour.goto("/portal/profile")
    await page.locator("#phone").fill("12")
    await tour.submit("form:has(#phone)")
    await expect(page.locator("#phone-error")).to_contain_text(words["bad_phone"])
    await tour.goto("/portal/account")
    await page.locator("#new_email").fill("buyer.new@example.com")
    await page.locator("#email_password").fill(BUYER_PASSWORD)
    await tour.submit("form:has(#new_email)")
    await tour.goto(await emailed_link("buyer.new@example.com"))

    assert tour.unvisited() == set(), "a portal page nobody checked: add it to this tour"


async def sign_in_as_the_buyer(page: Page, origin: str) -> None:
    await page.goto(origin + "/portal/login")
    await page.locator("#email").fill("buyer@example.com")
    await page.locator("#password").fill(BUYER_PASSWORD)
    await submit(page)
    await expect(page).to_have_url(origin + "/portal/")


async def test_buyer_reads_orders_and_downloads_an_invoice(
    page: Page, live_server: int, database: Settings, tmp_path: Path
) -> None:
    store = await make_acme()
    buyer = await make_buyer(store)
    card = await make_expired_card(store, buyer)
    await make_order_history(store, buyer, card, await make_catalogue(store))
    origin = f"http://acme.payfacile.localhost:{live_server}"
    await sign_in_as_the_buyer(page, origin)

    await page.get_by_role("link", name="Orders", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Orders")
    rows = page.locator("table.orders tbody tr")
    await expect(rows).to_have_count(7)
    await expect(rows.first).to_contain_text("1007")  # newest first
    await expect(rows.first.locator(".badge")).to_have_text("Pending")
    await expect(rows.last.locator(".badge")).to_have_text("Fulfilled")

    await page.get_by_role("link", name="1001", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Order 1001")
    await expect(page.get_by_role("cell", name="Hand grinder")).to_be_visible()
    await expect(page.get_by_text("Visa •••• 4242")).to_be_visible()
    total = await page.locator("tfoot tr").last.locator("td.numeric").inner_text()

    async with page.expect_download() as downloading:
        await page.get_by_role("link", name=re.compile(r"Invoice INV-\d{6}")).click()
    download = await downloading.value
    assert re.fullmatch(r"INV-\d{6}\.pdf", download.suggested_filename)
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    text = pdf_text(saved.read_bytes(), tmp_path)
    assert download.suggested_filename.removesuffix(".pdf") in text
    assert "Hand grinder" in text
    assert "Ethiopia Yirgacheffe beans, 1 kg" in text
    assert total.strip() in text


async def test_portal_pages_fit_a_phone_screen(
    browser: Browser, live_server: int, database: Settings
) -> None:
    await make_busy_acme()
    origin = f"http://acme.payfacile.localhost:{live_server}"
    page = await (await mobile_context(browser)).new_page()
    await sign_in_as_the_buyer(page, origin)
    await page.goto(origin + "/portal/orders/1001")
    await expect(page.get_by_role("cell", name="€183.60").last).to_be_visible()  # the total
    for path in (
        "/portal/",
        "/portal/orders",
        "/portal/orders/1001",
        "/portal/orders/1006",
        "/portal/invoices",
        "/portal/payment-methods",
        "/portal/subscriptions",
        "/portal/profile",
        "/portal/account",
    ):
        await page.goto(origin + path)
        widths = await page.evaluate(
            "({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
        )
        assert widths["inner"] == 390, f"the page widened the phone's viewport on {path}"
        assert widths["scroll"] <= widths["inner"], f"horizontal scroll on {path}: {widths}"
        await check_accessibility(page)


SELF_SERVICE = {
    "en": {
        "card_saved": "Your new card is saved.",
        "add_method": "Add a payment method",
        "cancel": "Cancel subscription",
        "canceled": "Your subscription is canceled.",
        "resume": "Resume subscription",
        "resumed": "Your subscription is resumed",
        "contact": "To cancel this subscription, contact",
        "request": "Request cancellation",
        "requested": "Your request is sent.",
        "saved": "Your details are saved.",
        "default": "Default",
        "expired": "Expired",
        "only_store": "Only Atelier Lumière can cancel this subscription",
    },
    "fr": {
        "card_saved": "Votre nouvelle carte est enregistrée.",
        "add_method": "Ajouter un moyen de paiement",
        "cancel": "Résilier l’abonnement",
        "canceled": "Votre abonnement est résilié.",
        "resume": "Réactiver l’abonnement",
        "resumed": "Votre abonnement est réactivé",
        "contact": "Pour résilier cet abonnement, contactez",
        "request": "Demander la résiliation",
        "requested": "Votre demande est envoyée.",
        "saved": "Vos coordonnées sont enregistrées.",
        "default": "Par défaut",
        "expired": "Expirée",
        "only_store": "Seule la boutique Atelier Lumière peut résilier cet abonnement",
    },
}


@pytest.mark.parametrize("language", ["en", "fr"])
async def test_buyer_replaces_a_card_cancels_resumes_asks_and_edits_the_profile(
    context: BrowserContext, live_server: int, settings: Settings, outbox: Settings, language: str
) -> None:
    store = await make_acme()
    buyer = await make_buyer(store)
    card = await make_expired_card(store, buyer)
    await make_subscriptions(store, buyer, card, await make_catalogue(store))
    page, origin = await page_in(context, live_server, language)
    words = SELF_SERVICE[language]
    await sign_in_as_the_buyer(page, origin)

    await page.goto(origin + "/portal/payment-methods")
    expired = page.locator(".method").filter(has_text="4242")
    await expect(expired.locator(".badge")).to_contain_text([words["default"], words["expired"]])
    await check_accessibility(page)
    await page.get_by_role("link", name=words["add_method"]).click()
    await page.locator("#number").fill("5555 5555 5555 4444")
    await page.locator("#expiry").fill("09/39")
    await page.locator("#cvc").fill("321")
    await page.locator("main form:has(#number) button[type=submit]").click()
    await expect(page.get_by_role("status")).to_contain_text(words["card_saved"])
    new_card = page.locator(".method").first
    await expect(new_card).to_contain_text("Mastercard •••• 4444")
    await expect(new_card.locator(".badge")).to_have_text(words["default"])
    await check_accessibility(page)

    await page.goto(origin + "/portal/subscriptions")
    allowed = page.locator(".subscription").filter(has_text="Coffee of the month")
    locked = page.locator(".subscription").filter(has_text="Annual espresso machine")
    await expect(allowed).to_contain_text("Mastercard •••• 4444")  # the new card pays now
    await check_accessibility(page)
    await allowed.get_by_role("link", name=words["cancel"]).click()
    await check_accessibility(page)
    await page.locator("#reason").fill("Trying another roaster")
    await page.locator("main form button[type=submit]").click()
    await expect(page.get_by_role("status")).to_contain_text(words["canceled"])
    await check_accessibility(page)
    await allowed.get_by_role("button", name=words["resume"]).click()
    await expect(page.get_by_role("status")).to_contain_text(words["resumed"])
    await expect(allowed.get_by_role("link", name=words["cancel"])).to_be_visible()

    await expect(locked.get_by_role("link", name=words["cancel"])).to_have_count(0)
    await expect(locked).to_contain_text(words["contact"])
    request_form = locked.locator('form[action$="/request-cancellation"]')
    subscription_path = str(await request_form.get_attribute("action")).rsplit("/", 1)[0]
    token = await request_form.locator('input[name="csrf_token"]').get_attribute("value")
    forced = await page.evaluate(
        """async ([path, token]) => {
            const body = new URLSearchParams({csrf_token: token, reason: "let me out"});
            const response = await fetch(path, {method: "POST", body, redirect: "manual"});
            return [response.status, await response.text()];
        }""",
        [subscription_path + "/cancel", str(token)],
    )
    assert forced[0] == 403
    assert words["only_store"] in forced[1]  # refused for the product's rule, not the form
    await locked.get_by_role("button", name=words["request"]).click()
    await expect(page.get_by_role("status")).to_contain_text(words["requested"])
    await check_accessibility(page)
    about = OutboxEmail.filter(subject__contains="Annual espresso machine")
    assert await about.exclude(to_address=BUYER).count() == 1  # the request, to the store
    assert await about.filter(to_address=BUYER).count() == 1  # the buyer's dated receipt

    await page.goto(origin + "/portal/profile")
    await check_accessibility(page)
    await page.locator("#phone").fill("+44 20 7946 0958")
    await page.locator("#city").fill("London")
    await page.locator("#country").select_option("GB")
    await page.locator("main form button[type=submit]").click()
    await expect(page.get_by_role("status")).to_contain_text(words["saved"])
    await expect(page.locator("#phone")).to_have_value("+44 20 7946 0958")
    await check_accessibility(page)
