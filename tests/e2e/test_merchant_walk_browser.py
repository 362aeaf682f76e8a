"""The merchant's side lived in a real browser against a real `payfacile serve`: the demo
store's owner accepts the onboarding invitation and runs the store with staff, a customer
added by hand and the demo buyer, each in their own browser; then every dashboard page on a
phone and a desktop, in English and in French.

With `PAYFACILE_TEST_SCREENSHOTS=<dir>`, every dashboard page visited is saved there.
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Browser, BrowserContext, FilePayload, Page, expect

from payfacile.demo import DEMO_BUYER, DEMO_PASSWORD, owner_email
from payfacile.platform.config import Settings
from payfacile.platform.models import OutboxEmail
from payfacile.platform.passwords import hash_password
from payfacile.portal.models import Customer, Invoice, Order, Subscription
from payfacile.tenants.models import Membership, MembershipRole, MerchantUser, Product, Store
from payfacile.tenants.scope import scoped
from tests.conftest import opened
from tests.e2e.conftest import mobile_context, new_context
from tests.e2e.test_dashboard_browser import look, make_dashboard
from tests.e2e.test_first_run_browser import seed_demo_for
from tests.e2e.test_portal_browser import emailed_link, submit
from tests.platform.test_jobs import (
    background,
    free_port,
    smtp_server,
    wait_until_all_sent,
    with_smtp,
)
from tests.portal.test_dashboard_products import request_of
from tests.portal.test_invoices import pdf_text

CENTRAL_LINK = re.compile(r"http://payfacile\.localhost:\d+(/account/[\w/-]+)")
DEMO_LINK = re.compile(r"http://demo\.payfacile\.localhost:\d+(/portal/[\w/-]+)")
OWNER_PASSWORD = "the owner's long passphrase"
STAFF = "staff@walk.example"
STAFF_PASSWORD = "the staff member's passphrase"
NEW_CUSTOMER = "noe.petit@example.com"
NEW_CUSTOMER_PASSWORD = "Noé's own long passphrase"
NEW_COLOR = "#7c2d12"  # dark enough for white text on it
NEW_COLOR_RGB = "rgb(124, 45, 18)"
OLD_COLOR = "#0f766e"  # the demo's
COFFEE = "Café du mois"  # the demo's subscription buyers may cancel (the demo speaks French)


def small_png() -> bytes:
    """A valid 64 × 64 PNG logo, a square in the new brand colour."""
    out = io.BytesIO()
    Image.new("RGB", (64, 64), NEW_COLOR).save(out, format="PNG")
    return out.getvalue()


class Walk:
    """The central host and the demo store's host on the live server; `look` in English on
    a desktop with names of their own (walk-…)."""

    def __init__(self, browser: Browser, port: int, settings: Settings) -> None:
        self.browser, self.settings = browser, settings
        self.central = f"http://payfacile.localhost:{port}"
        self.store = f"http://demo.payfacile.localhost:{port}"
        self.dashboard = f"{self.central}/dashboard/demo"

    async def person(self) -> Page:
        """A browser context of one's own, its one page. The demo store speaks French; the
        walk reads its portal in English, as a buyer who switched to it (their emails
        follow)."""
        context: BrowserContext = await new_context(self.browser)
        await context.add_cookies([{"name": "pf_lang", "value": "en", "url": self.store}])
        return await context.new_page()

    async def look(self, page: Page, name: str) -> None:
        await look(page, f"walk-{name}", "en", phone=False)

    async def follow(self, page: Page, link: str, name: str) -> None:
        """Click the (first) link named `link`, then `look` at the page it opens as `name`."""
        found = page.get_by_role("link", name=link, exact=True).first
        href = str(await found.get_attribute("href"))
        await found.click()
        await expect(page).to_have_url(re.compile(re.escape(href) + "$"))
        await self.look(page, name)


async def choose_password(page: Page, password: str) -> None:
    await page.get_by_label("New password", exact=True).fill(password)
    await page.get_by_label("Repeat the password", exact=True).fill(password)
    await submit(page)


async def sign_in_on_the_portal(page: Page, email: str, password: str) -> None:
    await page.locator("#email").fill(email)
    await page.locator("#password").fill(password)
    await submit(page)


async def owner_accepts_the_invitation(walk: Walk) -> Page:
    """a. The demo owner's emailed link: a password, the dashboard, the store."""
    owner = await walk.person()
    await owner.goto(walk.central + await emailed_link(owner_email("demo"), CENTRAL_LINK))
    await expect(owner.get_by_role("heading", level=1)).to_be_visible()
    await choose_password(owner, OWNER_PASSWORD)
    await expect(owner).to_have_url(re.compile(r"/dashboard/?$"))
    await walk.look(owner, "your-stores")
    await owner.get_by_role("link", name="Atelier Lumière").first.click()
    await expect(owner).to_have_url(walk.dashboard + "/")
    await expect(owner.get_by_role("heading", level=1)).to_have_text("Atelier Lumière")
    await walk.look(owner, "home")
    return owner


async def staff_joins_and_cannot_change_settings(walk: Walk, owner: Page) -> None:
    """b. Team → invite; the staff member's link, password, store; no Settings for them."""
    await walk.follow(owner, "Team", "team")
    await owner.locator("#email").fill(STAFF)
    await owner.get_by_role("button", name="Send the invitation").click()
    await expect(owner.get_by_role("row").filter(has_text=STAFF)).to_be_visible()
    await walk.look(owner, "team-invited")

    staff = await walk.person()
    await staff.goto(walk.central + await emailed_link(STAFF, CENTRAL_LINK))
    await choose_password(staff, STAFF_PASSWORD)
    await expect(staff).to_have_url(re.compile(r"/dashboard/?$"))
    await staff.get_by_role("link", name="Atelier Lumière").first.click()
    await expect(staff).to_have_url(walk.dashboard + "/")
    await walk.look(staff, "staff-home")
    nav = staff.get_by_role("navigation", name="Store: Atelier Lumière")
    await expect(nav.get_by_role("link", name="Team")).to_be_visible()
    await expect(nav.get_by_role("link", name="Settings")).to_have_count(0)
    refused = await staff.goto(walk.dashboard + "/settings")
    assert refused is not None
    assert refused.status == 403
    await expect(staff.get_by_role("main")).to_contain_text("owner")
    await walk.look(staff, "staff-settings-refused")

    await staff.goto(walk.dashboard + "/products")
    await staff.get_by_role("link", name=COFFEE).click()
    await expect(staff.locator("#portal_cancellation_allowed")).to_have_count(0)
    await expect(staff.get_by_text("Only the store's owner can change this.")).to_be_visible()
    await walk.look(staff, "staff-product")
    await staff.context.close()


async def customer_added_and_invited(walk: Walk, owner: Page) -> None:
    """c. Customers → Add a customer → Invite to portal; the customer's password; Active."""
    await walk.follow(owner, "Customers", "customers")
    await walk.follow(owner, "Add a customer", "customer-new")
    await owner.locator("#email").fill(NEW_CUSTOMER)
    await owner.locator("#name").fill("Noé Petit")
    await owner.get_by_label("Language of their emails and portal").select_option("en")
    await owner.get_by_role("button", name="Add the customer").click()
    await expect(owner.get_by_role("heading", level=1)).to_have_text("Noé Petit")
    details = owner.locator("dl.details")
    await expect(details).to_contain_text("English")  # the form's own select, by its label
    await walk.look(owner, "customer-added")
    await owner.get_by_role("button", name="Invite to portal").click()
    await expect(owner.get_by_role("status")).to_contain_text("on its way")
    await walk.look(owner, "customer-invited")

    customer = await walk.person()
    link = await emailed_link(NEW_CUSTOMER, DEMO_LINK)
    assert link.startswith("/portal/invitation/")
    await customer.goto(walk.store + link)
    await choose_password(customer, NEW_CUSTOMER_PASSWORD)
    await expect(customer).to_have_url(walk.store + "/portal/")
    await expect(customer.get_by_role("heading", level=1)).to_have_text("Hello Noé Petit")
    await customer.context.close()

    await owner.goto(walk.dashboard + "/customers?q=noe.petit")
    row = owner.get_by_role("row").filter(has_text=NEW_CUSTOMER)
    await expect(row).to_contain_text("Active since")
    await walk.look(owner, "customers-active")


async def buyer_asks_and_owner_cancels(walk: Walk, owner: Page) -> Page:
    """d. The switch off; the buyer's request; the owner cancels as asked; the buyer told."""
    await walk.follow(owner, "Products", "products")
    await walk.follow(owner, COFFEE, "product")
    await owner.locator("#portal_cancellation_allowed").uncheck()
    await owner.get_by_role("button", name="Save").click()
    row = owner.get_by_role("row").filter(has_text=COFFEE)
    await expect(row).to_contain_text("No: customers ask you")
    await walk.look(owner, "products-saved")

    buyer = await walk.person()
    await buyer.goto(walk.store + "/portal/login")
    await sign_in_on_the_portal(buyer, DEMO_BUYER, DEMO_PASSWORD)
    await expect(buyer).to_have_url(walk.store + "/portal/")
    await buyer.goto(walk.store + "/portal/subscriptions")
    coffee = buyer.locator(".subscription").filter(has_text=COFFEE)
    await expect(coffee.get_by_role("link", name=re.compile("Cancel subscription"))).to_have_count(
        0
    )
    await coffee.get_by_label("Why are you canceling? (optional)").fill("Moving abroad")
    await coffee.get_by_role("button", name=re.compile("Request cancellation")).click()
    await expect(buyer.get_by_role("status")).to_contain_text("Your request is sent.")

    await owner.get_by_role("link", name="Cancellation requests").click()
    request_row = owner.get_by_role("row").filter(has_text=COFFEE)
    await expect(request_row).to_contain_text("Moving abroad")
    await expect(request_row).to_contain_text("Camille Martin")
    await walk.look(owner, "cancellation-requests")
    await request_row.get_by_role("link", name=re.compile("Answer")).click()
    await expect(owner.get_by_role("main")).to_contain_text("Moving abroad")
    await walk.look(owner, "cancellation-request")
    await owner.get_by_role("button", name="Cancel the subscription").click()
    await expect(owner.get_by_role("status")).to_be_visible()
    await expect(owner.get_by_role("main")).to_contain_text("Canceled at the end of the period")
    await walk.look(owner, "cancellation-request-answered")

    await buyer.goto(walk.store + "/portal/subscriptions")
    await expect(coffee.locator(".badge")).to_contain_text("Ends on")
    answered = OutboxEmail.filter(
        to_address=DEMO_BUYER, subject=f"Your subscription to {COFFEE} is canceled"
    )
    assert await answered.count() == 1
    return buyer


async def branding_in_the_portal_and_the_next_invoice(walk: Walk, owner: Page, buyer: Page) -> str:
    """e. A new colour and logo: live in the portal, frozen into the next invoice only.
    Returns the number of the order recorded for the demo buyer."""
    logo = small_png()
    await walk.follow(owner, "Settings", "settings")
    await owner.locator("#brand_color").fill(NEW_COLOR)
    await owner.locator("#logo").set_input_files(
        files=FilePayload(name="logo.png", mimeType="image/png", buffer=logo)
    )
    await owner.get_by_role("button", name="Save the settings").click()
    await expect(owner.get_by_role("status")).to_be_visible()
    await walk.look(owner, "settings-saved")

    etag = hashlib.sha256(logo).hexdigest()[:32]
    await buyer.reload()
    await expect(buyer.locator("header .brand__logo")).to_have_attribute(
        "src", f"/brand/logo?v={etag}"
    )  # the new logo's etag; the demo's badge is 192 px a side
    border = await buyer.locator(".topbar").evaluate("e => getComputedStyle(e).borderTopColor")
    assert border == NEW_COLOR_RGB
    shown = buyer.locator("header .brand__logo")
    await expect(shown).to_have_js_property("complete", True)
    assert await shown.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [64, 64]

    await walk.follow(owner, "Orders", "orders")
    await walk.follow(owner, "Record an order", "order-new")
    await owner.locator("#customer_email").fill(DEMO_BUYER)
    await owner.locator("#line-1-description").fill("Walk blend, 500 g")
    await owner.locator("#line-1-quantity").fill("2")
    await owner.locator("#line-1-unit_price").fill("12.50")
    await owner.locator("#line-1-vat_rate").fill("5.5")
    await owner.locator("#status").select_option("paid")
    await owner.get_by_label("Issue the invoice now").check()
    await owner.get_by_role("button", name="Record the order").click()
    heading = owner.get_by_role("heading", level=1)
    await expect(heading).to_have_text(re.compile(r"Order \d+"))
    await expect(owner.get_by_role("link", name=re.compile("Download PDF"))).to_be_visible()
    await walk.look(owner, "order-recorded")
    number = (await heading.inner_text()).removeprefix("Order ").strip()

    store = await Store.get(slug="demo")
    scope = scoped(store)
    order = await scope.get(Order, number=number)
    new = await scope.get(Invoice, order_id=order.id)
    assert new.snapshot["branding"]["color"] == NEW_COLOR
    assert new.brand_logo is not None
    assert bytes(new.brand_logo) == logo
    first = await scope.get(Invoice, order_id=(await scope.get(Order, number="1001")).id)
    assert first.snapshot["branding"]["color"] == OLD_COLOR
    assert first.brand_logo is not None
    assert bytes(first.brand_logo) != logo  # the demo's own badge, as issued
    return number


async def emails_lead_to_the_order(walk: Walk, owner: Page, number: str, tmp_path: Path) -> None:
    """f. The confirmation's link, followed signed out; the invoice email's PDF."""
    confirmation = opened(
        await OutboxEmail.get(to_address=DEMO_BUYER, subject=f"Your Atelier Lumière order {number}")
    )
    link = re.search(
        rf"http://demo\.payfacile\.localhost:\d+(/portal/orders/{number})\b",
        confirmation.text_body,
    )
    assert link is not None, confirmation.text_body
    assert link.group(0) in confirmation.html_body
    signed_out = await walk.person()
    await signed_out.goto(walk.store + link.group(1))
    await expect(signed_out).to_have_url(re.compile(r"/portal/login\?next="))
    await sign_in_on_the_portal(signed_out, DEMO_BUYER, DEMO_PASSWORD)
    await expect(signed_out).to_have_url(walk.store + link.group(1))
    await expect(signed_out.get_by_role("heading", level=1)).to_have_text(f"Order {number}")
    await expect(signed_out.get_by_role("cell", name="Walk blend, 500 g")).to_be_visible()

    store = await Store.get(slug="demo")
    order = await scoped(store).get(Order, number=number)
    invoice = await scoped(store).get(Invoice, order_id=order.id)
    invoice_email = opened(
        await OutboxEmail.get(to_address=DEMO_BUYER, subject__contains=invoice.number)
    )
    assert link.group(0) in invoice_email.text_body
    port = free_port()
    with smtp_server(port) as inbox:
        async with background(with_smtp(walk.settings, port)):
            await wait_until_all_sent(await OutboxEmail.all().count())
    sent = next(m for m in inbox.messages if invoice.number in str(m["Subject"]))
    [attached] = list(sent.iter_attachments())
    assert attached.get_filename() == f"{invoice.number}.pdf"
    assert attached.get_content_type() == "application/pdf"
    pdf = attached.get_content()
    assert invoice.number in pdf_text(pdf, tmp_path)

    async with owner.expect_download() as downloading:
        await owner.get_by_role("link", name=re.compile("Download PDF")).click()
    download = await downloading.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert saved.read_bytes() == pdf  # the dashboard's PDF is the one emailed
    assert invoice.number in pdf_text(saved.read_bytes(), tmp_path)


async def test_the_merchant_walk(
    browser: Browser, live_server: int, database: Settings, tmp_path: Path
) -> None:
    seed_demo_for(database, live_server)
    walk = Walk(browser, live_server, database)
    owner = await owner_accepts_the_invitation(walk)
    await staff_joins_and_cannot_change_settings(walk, owner)
    await customer_added_and_invited(walk, owner)
    buyer = await buyer_asks_and_owner_cancels(walk, owner)
    number = await branding_in_the_portal_and_the_next_invoice(walk, owner, buyer)
    await emails_lead_to_the_order(walk, owner, number, tmp_path)


OWNER = "owner@atelier.example"
WORDS = {
    "en": {"add": "Add the customer", "record": "Record the order", "save": "Save the settings"},
    "fr": {"add": "Ajouter le client", "record": "Enregistrer la commande",
           "save": "Enregistrer les paramètres"},
}  # fmt: skip


async def make_full_dashboard() -> dict[str, int]:
    """`make_dashboard()`'s Acme, its owner, and a pending cancellation request; the ids of
    one customer, order, product and request to visit."""
    await make_dashboard()
    store = await Store.get(slug="acme")
    scope = scoped(store)
    owner = await MerchantUser.create(
        email=OWNER, password_hash=await hash_password(OWNER_PASSWORD)
    )
    await scope.create(Membership, user_id=owner.id, role=MembershipRole.OWNER)
    buyer = await scope.get(Customer, email="buyer@example.com")
    locked = await scope.get(Product, name="Annual espresso machine service plan")
    subscription = await scope.get(Subscription, product_id=locked.id)
    found = await request_of(store, buyer, subscription, reason="Moving abroad", days_ago=2)
    order = await scope.get(Order, number="1001")
    return {"customer": buyer.id, "order": order.id, "product": locked.id, "request": found.id}


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
@pytest.mark.parametrize("language", ["en", "fr"])
async def test_every_dashboard_page_on_a_phone_and_a_desktop_in_both_languages(
    browser: Browser, live_server: int, database: Settings, language: str, phone: bool
) -> None:
    ids = await make_full_dashboard()
    central = f"http://payfacile.localhost:{live_server}"
    base = f"{central}/dashboard/acme"
    context = await (mobile_context(browser) if phone else new_context(browser))
    await context.add_cookies([{"name": "pf_lang", "value": language, "url": central}])
    page = await context.new_page()
    words = WORDS[language]

    await page.goto(base + "/")
    await page.locator("#email").fill(OWNER)
    await page.locator("#password").fill(OWNER_PASSWORD)
    await page.locator("main form button[type=submit]").click()
    await expect(page).to_have_url(base + "/")

    async def visit(name: str, path: str) -> None:
        response = await page.goto(base + path)
        assert response is not None
        assert response.status == 200, f"{path}: {response.status}"
        await look(page, name, language, phone=phone)

    async def refused(name: str, button: str) -> None:
        await page.locator("main form").get_by_role("button", name=button).click()
        await expect(page.locator(".field__error").first).to_be_visible()
        await look(page, name, language, phone=phone)

    await visit("home", "/")
    await visit("customers", "/customers")
    await visit("customer-new", "/customers/new")
    await refused("customer-new-error", words["add"])
    await visit("customer-profile", f"/customers/{ids['customer']}")
    await visit("customer-edit", f"/customers/{ids['customer']}/edit")
    await visit("orders", "/orders")
    await visit("order-detail", f"/orders/{ids['order']}")
    await visit("order-new", "/orders/new")
    await refused("order-new-error", words["record"])
    await visit("invoices", "/invoices")
    await visit("products", "/products")
    await visit("product-detail", f"/products/{ids['product']}")
    await visit("product-new", "/products/new")
    await visit("cancellation-requests", "/cancellation-requests")
    await visit("cancellation-request", f"/cancellation-requests/{ids['request']}")
    await visit("team", "/team")
    await visit("settings", "/settings")
    await page.locator("#brand_color").fill("red")
    await refused("settings-error", words["save"])
    await context.close()
