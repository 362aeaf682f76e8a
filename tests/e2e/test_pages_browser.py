"""The pages that exist today, used as a person uses them: in Chromium, against a real server."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from playwright.async_api import Browser, Page, expect

from payfacile.platform.config import Settings
from tests.e2e.conftest import check_accessibility, mobile_context
from tests.test_cli import create_store, payfacile


def store_url(port: int, slug: str, path: str = "/portal/") -> str:
    return f"http://{slug}.payfacile.localhost:{port}{path}"


def central_url(port: int, path: str) -> str:
    return f"http://payfacile.localhost:{port}{path}"


def create_acme(settings: Settings) -> None:
    create_store(settings, "acme", name="Acme Coffee")


async def open_ok(page: Page, url: str) -> None:
    response = await page.goto(url)
    assert response is not None
    assert response.status == 200, f"{page.url}: {response.status}"


async def submit_main_form(page: Page) -> None:
    """The header has its own form (the language switch): press the page's own button."""
    await page.locator("main button[type=submit]").click()


async def test_store_portal_opens_in_english_and_switches_to_french(
    settings: Settings, page: Page, live_server: int
) -> None:
    create_acme(settings)
    await open_ok(page, store_url(live_server, "acme"))  # signed out: may land on the login page

    assert urlsplit(page.url).hostname == "acme.payfacile.localhost"
    assert urlsplit(page.url).path.startswith("/portal/")
    await expect(page).to_have_title(re.compile("Acme Coffee"))
    await expect(page.get_by_role("banner")).to_contain_text("Acme Coffee")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await check_accessibility(page)

    shown = page.url
    await page.get_by_role("button", name="Français", exact=True).click()  # one control

    await expect(page.locator("html")).to_have_attribute("lang", "fr")
    assert page.url == shown  # back where the visitor was
    await expect(page.get_by_role("button", name="English", exact=True)).to_be_visible()
    await expect(page.get_by_role("contentinfo")).to_contain_text("Propulsé par PayFacile")
    await expect(page.get_by_role("banner")).to_contain_text("Acme Coffee")
    await check_accessibility(page)

    await open_ok(page, store_url(live_server, "acme"))  # the choice is kept
    await expect(page.locator("html")).to_have_attribute("lang", "fr")


async def test_unknown_store_host_says_no_store_here(page: Page, live_server: int) -> None:
    response = await page.goto(store_url(live_server, "nowhere"))

    assert response is not None
    assert response.status == 404
    await expect(page.get_by_role("heading", level=1)).to_have_text("No store here")
    await expect(page.locator("link[rel=stylesheet]")).to_have_count(1)  # the styled page
    await check_accessibility(page)


async def test_admin_chooses_a_password_and_creates_a_store(
    settings: Settings, page: Page, live_server: int
) -> None:
    await open_ok(page, central_url(live_server, "/admin/login"))
    await check_accessibility(page)

    created = payfacile(settings, "admins", "create", "--email", "admin@example.com")
    assert created.returncode == 0, created.stderr
    link = urlsplit(re.findall(r"https?://\S+", created.stdout)[-1])
    await open_ok(page, central_url(live_server, f"{link.path}?{link.query}".rstrip("?")))
    await expect(page.get_by_text("admin@example.com")).to_be_visible()
    await check_accessibility(page)

    await page.get_by_label("New password", exact=True).fill("a long admin password")
    await page.get_by_label("Repeat the password", exact=True).fill("a long admin password")
    await submit_main_form(page)
    await expect(page).to_have_url(central_url(live_server, "/admin/"))
    await expect(page.get_by_role("heading", name="Stores", level=1)).to_be_visible()
    await check_accessibility(page)

    await page.get_by_role("link", name="New store").first.click()
    await expect(page.get_by_role("heading", name="New store", level=1)).to_be_visible()
    await check_accessibility(page)
    await page.get_by_label("Store name", exact=True).fill("Acme Coffee")
    await page.get_by_label("Address", exact=True).fill("acme")
    await page.get_by_label("Owner's email", exact=True).fill("owner@acme.example.com")
    await submit_main_form(page)

    await expect(page).to_have_url(re.compile(r"/admin/(\?.*)?$"))
    row = page.get_by_role("row").filter(has_text="Acme Coffee")
    await expect(row).to_contain_text("acme.payfacile.localhost")
    await expect(row).to_contain_text("owner@acme.example.com")
    await check_accessibility(page)


async def test_store_portal_fits_a_phone_screen(
    settings: Settings, browser: Browser, live_server: int
) -> None:
    create_acme(settings)
    context = await mobile_context(browser)
    page = await context.new_page()
    await open_ok(page, store_url(live_server, "acme"))
    await expect(page.get_by_role("banner")).to_contain_text("Acme Coffee")

    widths = await page.evaluate(
        "({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
    )
    assert widths["inner"] == 390
    assert widths["scroll"] <= widths["inner"], f"horizontal scroll on a phone: {widths}"
