"""In Chromium, against a real server: the store's page styles itself from the stylesheet's
content-hashed address, compressed, cached for a year, allowed by the page's CSP."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from playwright.async_api import Browser, ConsoleMessage, Response, expect

from payfacile.platform.config import Settings
from tests.e2e.conftest import DESKTOP
from tests.e2e.test_pages_browser import create_acme, open_ok, store_url


async def test_the_store_page_loads_its_css_from_the_hashed_address(
    settings: Settings, browser: Browser, live_server: int
) -> None:
    create_acme(settings)
    context = await browser.new_context(viewport=DESKTOP)  # with the page's CSP enforced
    page = await context.new_page()
    stylesheets: list[Response] = []
    refused: list[str] = []

    def on_response(response: Response) -> None:
        if response.request.resource_type == "stylesheet":
            stylesheets.append(response)

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    page.on("response", on_response)
    page.on("console", on_console)
    await open_ok(page, store_url(live_server, "acme", "/portal/login"))
    await expect(page.locator("main")).to_be_visible()

    assert len(stylesheets) == 1
    css = stylesheets[0]
    assert re.fullmatch(r"/static/app\.[0-9a-f]{12}\.css", urlsplit(css.url).path)
    assert css.status == 200
    headers = await css.all_headers()
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers.get("content-encoding") in {"br", "gzip"}
    assert refused == []
    # The stylesheet applied: the skip link waits out of sight until focused.
    box = await page.locator(".skip-link").bounding_box()
    assert box is not None
    assert box["x"] < -1000
    await context.close()
