"""A buyer goes through every way into the portal in a real browser, axe-clean on each page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, expect

from payfacile.platform import db
from payfacile.platform.config import Settings
from payfacile.platform.models import OutboxEmail
from tests.e2e.conftest import check_accessibility
from tests.test_cli import payfacile

LINK = re.compile(r"http://acme\.payfacile\.localhost:8000(/portal/[\w/-]+)")
NEW_PASSWORD = "a buyer's long passphrase"


@pytest.fixture
async def outbox(settings: Settings) -> AsyncIterator[Settings]:
    """This test's database, to read the emails the server wrote (the links buyers get)."""
    await db.init_db(settings)
    yield settings
    await db.close_db()


async def emailed_link(to: str) -> str:
    email = await OutboxEmail.filter(to_address=to).order_by("-id").first()
    assert email is not None, f"no email to {to}"
    match = LINK.search(email.text_body)
    assert match is not None, email.text_body
    return match.group(1)


def demo_store(settings: Settings) -> None:
    result = payfacile(settings, "demo", "--slug", "acme")
    assert result.returncode == 0, result.stderr


async def sign_out(page: Page) -> None:
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(re.compile(r"/portal/login$"))


async def submit(page: Page, form_action: str | None = None) -> None:
    """Click the main content's submit button (the header has the language form's own)."""
    scope = f'main form[action="{form_action}"]' if form_action else "main form"
    await page.locator(f"{scope} button[type=submit]").first.click()


async def test_invited_buyer_sets_a_password_switches_to_french_and_changes_email(
    page: Page, live_server: int, settings: Settings, outbox: Settings
) -> None:
    demo_store(settings)
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

    await page.get_by_label("Language", exact=True).select_option("fr")
    await page.get_by_role("button", name="Change", exact=True).click()
    await expect(page.locator("html")).to_have_attribute("lang", "fr")
    await expect(page.get_by_role("heading", name="Abonnements")).to_be_visible()
    await check_accessibility(page)

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

    await page.get_by_role("button", name="Se déconnecter").click()
    await expect(page).to_have_url(re.compile(r"/portal/login$"))
    await expect(page.locator("html")).to_have_attribute("lang", "fr")  # the choice is kept
    await check_accessibility(page)


async def test_buyer_signs_in_by_password_by_link_and_resets_the_password(
    page: Page, live_server: int, settings: Settings, outbox: Settings
) -> None:
    demo_store(settings)
    origin = f"http://acme.payfacile.localhost:{live_server}"

    await page.goto(origin + "/portal/orders/1001")  # a deep link while signed out
    await expect(page).to_have_url(re.compile(r"/portal/login\?next=/portal/orders/1001$"))
    await check_accessibility(page)
    await page.get_by_label("Email", exact=True).first.fill("buyer@example.com")
    await page.get_by_label("Password", exact=True).fill("payfacile-demo")
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
