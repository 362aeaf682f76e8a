"""A store's dates are on its own clock: pages, emails (link expiry too) and invoices."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from quart.typing import TestClientProtocol as Client

from payfacile.platform import i18n
from payfacile.platform.config import Settings
from payfacile.platform.models import Token, TokenPurpose
from payfacile.portal.invoices import issue_invoice
from payfacile.portal.models import Customer, OrderStatus
from payfacile.portal.orders import Line, place_order
from payfacile.tenants.models import Store
from tests.conftest import RunningApp
from tests.portal.test_auth import ACME, acme_with_buyer, latest_email, post, sign_in
from tests.portal.test_invoices import download, pdf_text

# 00:30 on 1 January 2027 in Paris (and in Tokyo at 15:30 UTC), still 31 December in UTC.
NEW_YEAR_IN_PARIS = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
NEW_YEAR_IN_TOKYO = datetime(2026, 12, 31, 15, 30, tzinfo=UTC)


async def sale_at(
    store: Store, buyer: Customer, moment: datetime, notify: Settings | None = None
) -> None:
    order = await place_order(
        store,
        buyer,
        number="1001",
        placed_at=moment,
        status=OrderStatus.PAID,
        lines=[Line("Beans", 1, 1000, tax_rate_bp=2000)],
    )
    await issue_invoice(store, order, issued_at=moment, notify=notify)


async def dates_shown(client: Client, tmp_path: Path) -> tuple[str, str, str]:
    """The order list, the order page and the invoice PDF, as text."""
    await sign_in(client)
    listing = await (await client.get("/portal/orders", headers=ACME)).get_data(as_text=True)
    page = await (await client.get("/portal/orders/1001", headers=ACME)).get_data(as_text=True)
    invoice = pdf_text((await download(client, "INV-000001"))[1], tmp_path)
    return listing, page, invoice


async def test_a_paris_store_dates_a_sale_at_half_past_midnight_on_new_years_day(
    client: Client, tmp_path: Path
) -> None:
    store, buyer = await acme_with_buyer(store={"country": "FR"})  # no zone: the country's
    await sale_at(store, buyer, NEW_YEAR_IN_PARIS)
    listing, page, invoice = await dates_shown(client, tmp_path)
    assert "1 Jan 2027" in listing
    assert "Placed on 1 Jan 2027" in page
    assert "31 Dec 2026" not in page  # the invoice listed on the order page too
    assert "1 Jan 2027" in invoice  # date of issue
    assert "31 Dec 2026" not in invoice


async def test_a_stores_own_time_zone_wins_over_its_countrys(
    client: Client, tmp_path: Path
) -> None:
    store, buyer = await acme_with_buyer(store={"country": "US", "time_zone": "Asia/Tokyo"})
    await sale_at(store, buyer, NEW_YEAR_IN_TOKYO)  # 10:30 on 31 December in New York
    listing, page, invoice = await dates_shown(client, tmp_path)
    assert "1 Jan 2027" in listing
    assert "Placed on 1 Jan 2027" in page
    assert "1 Jan 2027" in invoice


async def test_a_store_with_no_country_or_zone_keeps_utc(client: Client, tmp_path: Path) -> None:
    store, buyer = await acme_with_buyer()
    await sale_at(store, buyer, NEW_YEAR_IN_PARIS)
    listing, page, invoice = await dates_shown(client, tmp_path)
    assert "31 Dec 2026" in listing
    assert "Placed on 31 Dec 2026" in page
    assert "31 Dec 2026" in invoice


async def test_a_sign_in_link_says_when_it_expires_on_the_stores_clock(client: Client) -> None:
    await acme_with_buyer(store={"country": "FR"})
    await post(client, "/portal/login/link", {"link_email": "camille@example.com"})
    token = await Token.filter(purpose=TokenPurpose.SIGN_IN).order_by("-id").first()
    assert token is not None
    paris = token.expires_at.astimezone(ZoneInfo("Europe/Paris"))
    email = await latest_email("camille@example.com")
    expected = f"{paris.day} {paris:%b %Y, %H:%M} Central European"
    assert expected in email.text_body, email.text_body
    assert expected in email.html_body


@pytest.mark.parametrize(("locale", "day"), [("en", "1 Jan 2027"), ("fr", "1 janv. 2027")])
async def test_pages_emails_and_invoices_write_a_date_in_one_style(
    client: Client, services: RunningApp, tmp_path: Path, locale: str, day: str
) -> None:
    """The order list, the order page, the invoice email (text and HTML) and the invoice PDF
    write the same day alike, in each language; a time is written the same way too."""
    store, buyer = await acme_with_buyer(store={"country": "FR", "locale": locale})
    await sale_at(store, buyer, NEW_YEAR_IN_PARIS, notify=services.settings)
    email = await latest_email("camille@example.com")
    listing, page, invoice = await dates_shown(client, tmp_path)
    shown = {"list": listing, "page": page, "pdf": invoice}
    shown |= {"email": email.text_body, "html": email.html_body}
    for where, text in shown.items():
        assert day in text, where
    assert i18n.date(NEW_YEAR_IN_PARIS, locale, "Europe/Paris") == day
    moment = i18n.datetime_(NEW_YEAR_IN_PARIS, locale, "Europe/Paris")
    assert moment == f"{day}, 00:30"
    assert i18n.link_expiry(NEW_YEAR_IN_PARIS, locale, "Europe/Paris").startswith(moment)
