"""The seed's promise, in a browser: a store's customer portal on its own domain, over HTTPS
with a certificate the platform obtained from the CA (Pebble) by itself.

Chromium maps the custom domain to the loopback (`--host-resolver-rules`) and accepts the
one certificate Pebble issued for it (`--ignore-certificate-errors-spki-list` names that
certificate's key; any other certificate, the platform's default among them, is still an
error). That the chain verifies against Pebble's root is checked separately, with Python's
`ssl`, on the same connection the browser makes. With `PAYFACILE_TEST_SCREENSHOTS=<dir>`,
the signed-in portal is saved there."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.async_api import async_playwright, expect

from payfacile.platform.config import Settings
from payfacile.tenants.models import Store
from tests.challtestsrv import ChallTestSrv, free_port
from tests.conftest import ordering_from
from tests.e2e.conftest import (
    AXE,
    CHROMIUM,
    CHROMIUM_ARGS,
    MOBILE,
    check_accessibility,
    require_file,
)
from tests.e2e.test_portal_browser import BUYER, BUYER_PASSWORD, make_buyer, outbox, submit
from tests.pebble import Pebble
from tests.platform.test_instances import wait_for
from tests.tenants.test_domains_cli import domains
from tests.tls.test_certificates import connected, handshake, issuing, serves_verified

__all__ = ["outbox"]  # the fixture, used by name


@pytest.fixture
def settings(settings: Settings, challtestsrv: ChallTestSrv, pebble: Pebble) -> Settings:
    return ordering_from(settings, challtestsrv, pebble)


def spki_hash(port: int, host: str, root: str) -> str:
    """The base64 SHA-256 of the served certificate's public key, as Chromium's flag wants."""
    with handshake(port, host, root) as connection:
        der = connection.getpeercert(binary_form=True)
    assert der is not None
    key = x509.load_der_x509_certificate(der).public_key()
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


async def test_a_buyer_signs_in_on_the_stores_own_domain_over_https(
    settings: Settings,
    challtestsrv: ChallTestSrv,
    pebble: Pebble,
    http_port: int,
    tmp_path: Path,
    outbox: Settings,
) -> None:
    require_file(CHROMIUM, "install the Debian package chromium")
    require_file(AXE, "run `npm ci --prefix tests/e2e` (make test does)")
    host = await asyncio.to_thread(connected, settings, challtestsrv)
    await make_buyer(await Store.get(slug="acme"))
    https_port = free_port()
    with issuing(settings, tmp_path, http_port, https_port):
        root = pebble.root_pem()
        assert (await asyncio.to_thread(domains, settings, "verify", host)).returncode == 0
        await asyncio.to_thread(
            wait_for, lambda: serves_verified(https_port, host, root), within=60.0
        )
        accepted = spki_hash(https_port, host, root)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                headless=True,
                args=[
                    *CHROMIUM_ARGS,
                    f"--host-resolver-rules=MAP {host} 127.0.0.1, MAP *.localhost 127.0.0.1",
                    f"--ignore-certificate-errors-spki-list={accepted}",
                ],
            )
            try:
                context = await browser.new_context(viewport=MOBILE, bypass_csp=True)
                page = await context.new_page()
                secure = f"https://{host}:{https_port}"

                # Plain HTTP on the domain goes to HTTPS (from then on, HSTS has the browser
                # ask for HTTPS itself); the platform subdomain sends buyers to this primary
                # domain.
                await page.goto(f"http://{host}:{http_port}/portal/login")
                await expect(page).to_have_url(f"{secure}/portal/login")
                await page.goto(f"http://acme.payfacile.localhost:{http_port}/portal/")
                await expect(page).to_have_url(re.compile(rf"^{re.escape(secure)}/portal/login"))
                await check_accessibility(page)

                await page.get_by_label("Email", exact=True).first.fill(BUYER)
                await page.get_by_label("Password", exact=True).fill(BUYER_PASSWORD)
                await submit(page)
                await expect(page).to_have_url(f"{secure}/portal/")
                await expect(page.get_by_role("heading", level=1)).to_be_visible()
                session = [c for c in await context.cookies(secure) if "session" in c["name"]]
                assert session, await context.cookies(secure)
                assert all(cookie["secure"] for cookie in session)
                assert all(cookie["domain"] == host for cookie in session)
                shots = os.environ.get("PAYFACILE_TEST_SCREENSHOTS")
                if shots:
                    await page.screenshot(path=f"{shots}/custom-domain-portal.png", full_page=True)
            finally:
                await browser.close()
