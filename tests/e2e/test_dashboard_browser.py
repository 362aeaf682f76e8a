"""A merchant finds a customer and invites them to the portal in a real browser: the store
dashboard's pages, axe-clean on a desktop and on a phone, in English and in French.

With `PAYFACILE_TEST_SCREENSHOTS=<dir>`, every page visited is saved there as a PNG, named
by page, language and width, for a person to look at.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from payfacile.platform.config import Settings
from payfacile.platform.passwords import hash_password
from payfacile.tenants.models import Membership, MembershipRole, MerchantUser
from payfacile.tenants.scope import scoped
from tests.e2e.conftest import DESKTOP, check_accessibility, mobile_context, new_context
from tests.e2e.test_portal_browser import emailed_link, make_busy_acme
from tests.factories import make_customer

MERCHANT = "staff@atelier.example"
MERCHANT_PASSWORD = "a merchant's long passphrase"
WORDS = {
    "en": {"customers": "Customers", "invite": "Invite to portal", "sent": "on its way"},
    "fr": {"customers": "Clients", "invite": "Inviter sur l’espace client", "sent": "en route"},
}


async def make_dashboard() -> None:
    """Acme as the portal's tests have it, 30 more customers (two pages), and a staff member."""
    store = await make_busy_acme()
    for n in range(30):
        await make_customer(store, f"client{n:02d}@example.com", name=f"Client {n:02d}")
    user = await MerchantUser.create(
        email=MERCHANT, password_hash=await hash_password(MERCHANT_PASSWORD)
    )
    await scoped(store).create(Membership, user_id=user.id, role=MembershipRole.STAFF)


async def look(page: Page, name: str, language: str, *, phone: bool) -> None:
    """Each page: axe-clean, no sideways scrolling, and saved for a person to look at."""
    await expect(page.locator("html")).to_have_attribute("lang", language)
    await check_accessibility(page)
    widths = await page.evaluate(
        "({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
    )
    width = 390 if phone else DESKTOP["width"]
    assert widths["inner"] == width, f"the page widened the viewport on {page.url}: {widths}"
    assert widths["scroll"] <= widths["inner"], f"horizontal scroll on {page.url}: {widths}"
    shots = os.environ.get("PAYFACILE_TEST_SCREENSHOTS")
    if shots:
        path = Path(shots) / f"dashboard-{name}-{language}-{width}.png"
        await page.screenshot(path=str(path), full_page=True)


async def signed_in(
    browser: Browser, url: str, email: str, password: str, *, language: str, phone: bool
) -> Page:
    """A page of a new context (a phone's or a desktop's, in `language`) that asked for the
    dashboard page `url` signed out, signed in as `email` and came back to it."""
    context = await (mobile_context(browser) if phone else new_context(browser))
    origin = url.split("/dashboard/", 1)[0]
    await context.add_cookies([{"name": "pf_lang", "value": language, "url": origin}])
    page = await context.new_page()
    await page.goto(url)
    await page.locator("#email").fill(email)
    await page.locator("#password").fill(password)
    await page.locator("main form button[type=submit]").click()
    await expect(page).to_have_url(url)
    return page


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
@pytest.mark.parametrize("language", ["en", "fr"])
async def test_a_merchant_finds_a_customer_and_invites_them(
    browser: Browser,
    live_server: int,
    database: Settings,
    language: str,
    phone: bool,
) -> None:
    await make_dashboard()
    origin = f"http://payfacile.localhost:{live_server}"
    page = await signed_in(
        browser, origin + "/dashboard/acme/customers", MERCHANT, MERCHANT_PASSWORD,
        language=language, phone=phone,
    )  # fmt: skip
    words = WORDS[language]
    await look(page, "customers", language, phone=phone)

    await page.locator('main a[rel="next"]').click()
    await expect(page.get_by_role("link", name="lea@example.com")).to_be_visible()
    await look(page, "customers-page-2", language, phone=phone)

    await page.locator("#q").fill("Dubois")
    await page.locator("main form[role=search] button").click()
    await expect(page.get_by_role("row")).to_have_count(2)  # the header and Léa
    await page.get_by_role("link", name="lea@example.com").click()
    await look(page, "customer", language, phone=phone)

    await page.get_by_role("button", name=words["invite"]).click()
    await expect(page.get_by_role("status")).to_contain_text(words["sent"])
    await look(page, "customer-invited", language, phone=phone)
    assert (await emailed_link("lea@example.com")).startswith("/portal/invitation/")

    await page.goto(origin + "/dashboard/acme/customers?q=buyer@example.com")
    await page.get_by_role("link", name="buyer@example.com").click()
    await expect(page.get_by_role("rowheader", name="1007")).to_be_visible()
    await look(page, "customer-with-orders", language, phone=phone)

    await page.get_by_role("link", name="Atelier Lumière").first.click()
    await expect(page.get_by_role("link", name=words["customers"]).first).to_be_visible()
    await look(page, "store", language, phone=phone)
    await page.context.close()
    assert re.search(r"/dashboard/acme/$", page.url)
