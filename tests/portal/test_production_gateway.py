"""Production never quietly takes card numbers through the test gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from quart.typing import TestClientProtocol as Client

from payfacile.app import create_app
from payfacile.platform.config import Settings
from payfacile.portal.models import PaymentMethod
from tests.conftest import make_settings
from tests.portal.test_auth import ACME, CSRF, PASSWORD, acme_with_buyer

PAGE = "/portal/payment-methods"
CARD = {"number": "4242 4242 4242 4242", "expiry": "12/40", "cvc": "123"}


@asynccontextmanager
async def production_client(
    settings: Settings, tmp_path: Path, **overrides: str
) -> AsyncIterator[Client]:
    production = make_settings(
        tmp_path,
        settings.database_url,
        env="production",
        redis_prefix=settings.redis_prefix,
        **overrides,
    )
    app = create_app(production, background=False)
    async with app.test_app():
        yield app.test_client()


async def https_post(client: Client, path: str, form: dict[str, str], *, page: str) -> int:
    html = await (await client.get(page, headers=ACME, scheme="https")).get_data(as_text=True)
    match = CSRF.search(html)
    assert match is not None, html[:300]
    response = await client.post(
        path, form={**form, "csrf_token": match.group(1)}, headers=ACME, scheme="https"
    )
    return response.status_code


async def signed_in(client: Client) -> None:
    form = {"email": "camille@example.com", "password": PASSWORD}
    assert await https_post(client, "/portal/login", form, page="/portal/login") == 303


async def test_production_without_a_named_gateway_takes_no_card(
    settings: Settings, tmp_path: Path
) -> None:
    async with production_client(settings, tmp_path) as client:
        await acme_with_buyer()
        await signed_in(client)
        page = await client.get(PAGE, headers=ACME, scheme="https")
        html = await page.get_data(as_text=True)
        assert "no payment gateway is set up" in html
        assert 'name="number"' not in html  # no form that would send us a card number
        status = await https_post(client, f"{PAGE}/card", CARD, page=PAGE)
        assert status == 503
        sepa = {"holder": "Camille", "iban": "FR76 3000 6000 0112 3456 7890 189"}
        assert await https_post(client, f"{PAGE}/sepa", sepa, page=PAGE) == 503
        assert not await PaymentMethod.all().exists()


async def test_production_naming_the_test_gateway_says_test_mode_on_every_page(
    settings: Settings, tmp_path: Path
) -> None:
    async with production_client(settings, tmp_path, payment_gateway="test") as client:
        await acme_with_buyer()
        signed_out = await client.get("/portal/login", headers=ACME, scheme="https")
        assert "Test mode" in await signed_out.get_data(as_text=True)
        await signed_in(client)
        for path in ("/portal/", "/portal/orders", PAGE):
            page = await client.get(path, headers=ACME, scheme="https")
            assert page.status_code == 200, path
            assert "Test mode" in await page.get_data(as_text=True), path
        assert await https_post(client, f"{PAGE}/card", CARD, page=PAGE) == 303
        assert await PaymentMethod.all().count() == 1


async def test_development_uses_the_test_gateway_without_a_banner(client: Client) -> None:
    await acme_with_buyer()
    page = await client.get("/portal/login", headers=ACME)
    assert "Test mode" not in await page.get_data(as_text=True)
