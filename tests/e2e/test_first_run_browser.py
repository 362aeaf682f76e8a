"""A first run as a new user lives it, in Chromium against a real `payfacile serve`: the IP
address they may type, the central host, the mailbox and the demo owner's invitation."""

from __future__ import annotations

import subprocess
import sys

from playwright.async_api import Browser, BrowserContext, Page, expect

from payfacile.platform import db
from payfacile.platform.config import Settings
from payfacile.platform.mail import Mailer
from payfacile.platform.models import OutboxEmail
from payfacile.schema import MODEL_MODULES
from tests.conftest import run_sync, settings_env
from tests.e2e.conftest import check_accessibility, mobile_context, new_context


def seed_demo_for(settings: Settings, port: int) -> None:
    """What `make run PORT=…` does before serving: the demo, with links on that port."""
    done = subprocess.run(
        [sys.executable, "-m", "payfacile", "demo"],
        env=settings_env(settings, PAYFACILE_PUBLIC_PORT=str(port)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


async def _deliver_outbox(settings: Settings) -> None:
    """Send the outbox into the Maildir as the embedded worker does (with Redis, `serve`
    leaves that to `payfacile worker`)."""
    await db.init_db(settings, MODEL_MODULES)
    try:
        for row in await OutboxEmail.all().order_by("id"):
            await Mailer(settings).send(row)
    finally:
        await db.close_db()


async def walk_the_first_run(page: Page, port: int) -> None:
    response = await page.goto(f"http://127.0.0.1:{port}/")
    assert response is not None
    assert response.status == 400
    await expect(page.get_by_role("main")).to_contain_text("not served on IP addresses")
    await check_accessibility(page)

    await page.get_by_role("link", name="PayFacile's home page").click()
    assert page.url == f"http://payfacile.localhost:{port}/"
    await check_accessibility(page)

    await page.get_by_role("link", name="Emails sent (development)").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Emails sent")
    await check_accessibility(page)

    await page.get_by_role("link", name="Your PayFacile store Atelier Lumière is ready").click()
    await expect(page.get_by_role("article")).to_contain_text("owner@demo.example.com")
    await check_accessibility(page)

    await page.get_by_role("link", name="/account/set-password/").click()
    await expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert page.url.startswith(f"http://payfacile.localhost:{port}/account/set-password/")
    await expect(page.get_by_label("New password", exact=False).first).to_be_visible()


async def test_a_first_run_on_a_desktop(settings: Settings, page: Page, live_server: int) -> None:
    seed_demo_for(settings, live_server)
    run_sync(_deliver_outbox(settings))
    await walk_the_first_run(page, live_server)


async def test_a_first_run_on_a_phone(
    settings: Settings, browser: Browser, live_server: int
) -> None:
    seed_demo_for(settings, live_server)
    run_sync(_deliver_outbox(settings))
    phone: BrowserContext = await mobile_context(browser)
    await walk_the_first_run(await phone.new_page(), live_server)


async def test_the_mailbox_in_french(
    settings: Settings, browser: Browser, live_server: int
) -> None:
    seed_demo_for(settings, live_server)
    run_sync(_deliver_outbox(settings))
    context = await new_context(browser)
    await context.add_cookies(
        [{"name": "pf_lang", "value": "fr", "url": f"http://payfacile.localhost:{live_server}"}]
    )
    page = await context.new_page()
    await page.goto(f"http://payfacile.localhost:{live_server}/dev/mailbox/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("E-mails envoyés")
    await check_accessibility(page)
