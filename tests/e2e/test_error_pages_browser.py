"""Error pages in a real browser: a signed-in buyer's 404 keeps the portal's header (page
links, the account menu with Sign out, the language button) in English and French, on a
phone and a desktop; a host with no store says where to go. Axe-clean throughout."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from payfacile.platform.config import Settings
from tests.e2e.conftest import check_accessibility, new_context
from tests.e2e.test_portal_browser import make_acme, make_buyer
from tests.e2e.test_portal_second_pass import WORDS, header_fits, signed_in_buyer

MORE = {
    "en": {"title": "Page not found", "home": "Go to the home page", "sign_out": "Sign out"},
    "fr": {"title": "Page introuvable", "home": "Aller à l’accueil", "sign_out": "Se déconnecter"},
}


async def status_of(page: Page, url: str) -> int:
    response = await page.goto(url)
    assert response is not None
    return response.status


async def keeps_the_portal_header(page: Page, device: str, language: str) -> None:
    words = MORE[language]
    await expect(page.get_by_role("heading", level=1)).to_have_text(words["title"])
    await header_fits(page, device, WORDS[language])
    await page.locator("details.menu summary").click()
    await expect(page.get_by_role("button", name=words["sign_out"])).to_be_visible()
    await check_accessibility(page)


@pytest.mark.parametrize("device", ["phone", "desktop"])
@pytest.mark.parametrize("language", ["en", "fr"])
async def test_a_signed_in_buyers_404_keeps_the_portal_header(
    browser: Browser, live_server: int, database: Settings, language: str, device: str
) -> None:
    await make_buyer(await make_acme())
    page, origin = await signed_in_buyer(browser, live_server, language, device)

    for path in ("/portal/orders/999999", "/portal/nope"):
        assert await status_of(page, origin + path) == 404
        await keeps_the_portal_header(page, device, language)

    # Its way back is the portal's home; Sign out works from the error page.
    await page.goto(origin + "/portal/nope")
    await page.get_by_role("link", name=MORE[language]["home"]).click()
    await expect(page).to_have_url(origin + "/portal/")
    await page.goto(origin + "/portal/nope")
    await page.locator("details.menu summary").click()
    await page.get_by_role("button", name=MORE[language]["sign_out"]).click()
    await expect(page).to_have_url(origin + "/portal/login")

    # Signed out, the same address is a plain 404.
    assert await status_of(page, origin + "/portal/nope") == 404
    await expect(page.locator("header nav a")).to_have_count(0)
    await expect(page.locator("details.menu")).to_have_count(0)
    await check_accessibility(page)


@pytest.mark.parametrize("language", ["en", "fr"])
async def test_the_no_store_page_leads_somewhere(
    browser: Browser, live_server: int, database: Settings, language: str
) -> None:
    context = await new_context(browser)
    origin = f"http://nowhere.payfacile.localhost:{live_server}"
    await context.add_cookies([{"name": "pf_lang", "value": language, "url": origin}])
    page = await context.new_page()
    assert await status_of(page, origin + "/portal/") == 404
    heading = {"en": "No store here", "fr": "Aucune boutique ici"}[language]
    await expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    await check_accessibility(page)
    home = {"en": "PayFacile's home page", "fr": "L’accueil de PayFacile"}[language]
    await page.get_by_role("link", name=home).click()
    await expect(page).to_have_url(f"http://payfacile.localhost:{live_server}/")
