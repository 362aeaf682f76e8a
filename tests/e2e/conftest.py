"""Browser tests: a real `payfacile serve` and Debian's Chromium driven by Playwright.

Everything under tests/e2e runs on the PostgreSQL+Redis pass only (see the collection hook
below), so the SQLite pass stays fast. Chromium comes from Debian (`/usr/bin/chromium`) and
axe-core from `tests/e2e/node_modules` (`make test` installs it from package-lock.json); Playwright
never downloads a browser here. A missing one fails under CI and skips elsewhere, saying why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from payfacile.platform.config import Settings
from tests.conftest import IN_CI
from tests.platform.test_instances import server

HERE = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 390, "height": 800}
BLOCKING_IMPACTS = ("serious", "critical")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test in this directory `postgres_redis` before the root conftest skips those."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.postgres_redis)


def require_file(path: Path, why: str) -> None:
    """Like `require_tool`, for a file: missing fails under CI, skips (saying why) elsewhere."""
    if path.is_file():
        return
    message = f"{path} is missing: {why}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    require_file(CHROMIUM, "install the Debian package chromium")
    require_file(AXE, "run `npm ci --prefix tests/e2e` (make test does)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        await launched.close()


@pytest.fixture
def live_server(settings: Settings, tmp_path: Path) -> Iterator[int]:
    """A real `payfacile serve` on this test's settings; yields its port."""
    with server(settings, tmp_path) as (port, _process):
        yield port


async def new_context(browser: Browser, **options: Any) -> BrowserContext:
    """A fresh context (no cookies); CSP is bypassed so that axe can be injected."""
    options.setdefault("viewport", DESKTOP)
    return await browser.new_context(bypass_csp=True, **options)


async def mobile_context(browser: Browser) -> BrowserContext:
    """A phone-sized context: 390 × 800 CSS pixels, touch, honouring the viewport meta tag.

    Like every context, it closes with the browser at the end of the test.
    """
    return await new_context(browser, viewport=MOBILE, is_mobile=True, has_touch=True)


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    created = await new_context(browser)
    yield created
    await created.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


async def check_accessibility(page: Page) -> list[dict[str, Any]]:
    """Run axe on the page as it is now; fail on any serious or critical violation.

    Returns every violation axe found (minor and moderate ones too) for tests that want more.
    """
    await page.add_script_tag(path=AXE)
    results = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    violations: list[dict[str, Any]] = results["violations"]
    blocking = [found for found in violations if found.get("impact") in BLOCKING_IMPACTS]
    if blocking:
        pytest.fail(f"axe on {page.url}:\n" + "\n".join(map(_describe, blocking)), pytrace=False)
    return violations


def _describe(violation: dict[str, Any]) -> str:
    lines = [f"- {violation['id']} ({violation['impact']}): {violation['help']}"]
    for node in violation["nodes"]:
        target = " ".join(map(str, node["target"]))
        lines.append(f"    {target}: {node['html'][:200]}")
    return "\n".join(lines)
