"""A buyer's order history: newest first, keyset pages, statuses, order pages, only their own."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from quart.typing import TestClientProtocol as Client

from payfacile.portal.invoices import issue_invoice
from payfacile.portal.models import Customer, OrderStatus, Payment, PaymentStatus
from payfacile.portal.orders import Line, place_order
from payfacile.tenants.models import Store
from payfacile.tenants.scope import scoped
from tests.factories import make_customer, make_order, make_store
from tests.portal.test_auth import ACME, OTHER, acme_with_buyer, sign_in

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
ROW = re.compile(r'<th scope="row"><a href="/portal/orders/([^"]+)">')
OLDER = re.compile(r'href="(/portal/orders\?before=[^"]+)"')
NEWER = re.compile(r'href="(/portal/orders\?after=[^"]+)"')


async def history(store: Store, buyer: Customer, count: int) -> list[str]:
    """`count` orders, numbers in placing order; every third shares its time with the next."""
    numbers = []
    for n in range(count):
        placed = T0 + timedelta(hours=n - n % 3 // 2)  # ties exercise the id tie-break
        await make_order(store, buyer, f"A{n:03d}", placed_at=placed)
        numbers.append(f"A{n:03d}")
    return numbers


async def page_of(client: Client, path: str = "/portal/orders") -> tuple[list[str], str]:
    response = await client.get(path, headers=ACME)
    assert response.status_code == 200, path
    html = await response.get_data(as_text=True)
    return ROW.findall(html), html


def link(pattern: re.Pattern[str], html: str) -> str | None:
    found = pattern.search(html)
    return found.group(1).replace("&amp;", "&") if found else None


async def test_orders_come_newest_first_twenty_a_page_both_ways(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    newest_first = list(reversed(await history(store, buyer, 45)))
    await sign_in(client)

    first, html = await page_of(client)
    assert first == newest_first[:20]
    assert link(NEWER, html) is None
    second, html = await page_of(client, str(link(OLDER, html)))
    assert second == newest_first[20:40]
    third, html = await page_of(client, str(link(OLDER, html)))
    assert third == newest_first[40:]
    assert link(OLDER, html) is None

    back, html = await page_of(client, str(link(NEWER, html)))
    assert back == second
    again, html = await page_of(client, str(link(NEWER, html)))
    assert again == first
    assert link(NEWER, html) is None


async def test_each_status_shows_as_a_badge(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    for n, status in enumerate(OrderStatus):
        await make_order(store, buyer, f"S{n}", status=status)
    await sign_in(client)
    _, html = await page_of(client)
    badges = re.findall(r'<span class="badge badge--(\w+)">([^<]+)</span>', html)
    assert dict(badges) == {
        "pending": "Pending",
        "paid": "Paid",
        "fulfilled": "Fulfilled",
        "refunded": "Refunded",
        "partially_refunded": "Partly refunded",
        "canceled": "Canceled",
        "failed": "Payment failed",
    }


async def test_a_french_buyer_reads_statuses_and_amounts_in_french(client: Client) -> None:
    store, buyer = await acme_with_buyer(store={"locale": "fr"})
    await make_order(store, buyer, "F1", status=OrderStatus.REFUNDED, total=123456)
    await sign_in(client)
    _, html = await page_of(client)
    assert "Remboursée" in html
    assert "1\u202f234,56\xa0€" in html


async def test_only_the_buyers_own_orders_are_listed(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    await make_order(store, buyer, "MINE")
    await make_order(store, await make_customer(store, "someone@example.com"), "THEIRS")
    other = await make_store("other")
    await make_order(other, await make_customer(other, "camille@example.com"), "ELSEWHERE")
    await sign_in(client)
    rows, _ = await page_of(client)
    assert rows == ["MINE"]


@pytest.mark.parametrize(
    "cursor", ["before=nonsense", "after=12.x", "before=99999999999999999999.1"]
)
async def test_a_damaged_page_link_is_a_clear_422(client: Client, cursor: str) -> None:
    await acme_with_buyer()
    await sign_in(client)
    response = await client.get(f"/portal/orders?{cursor}", headers=ACME)
    assert response.status_code == 422
    assert "This page link is damaged" in await response.get_data(as_text=True)


async def test_signed_out_the_orders_lead_to_sign_in(client: Client) -> None:
    await acme_with_buyer()
    response = await client.get("/portal/orders?before=1.2", headers=ACME)
    assert response.status_code == 303
    assert response.headers["Location"] == "/portal/login?next=/portal/orders%3Fbefore%3D1.2"


async def test_the_orders_page_costs_the_same_few_queries_however_many_orders(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    store, buyer = await acme_with_buyer()
    await sign_in(client)

    async def queries_for_one_page() -> int:
        await page_of(client)  # caches warm: host, session
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
            await page_of(client)
        return len([r for r in caplog.records if r.name == "tortoise.db_client"])

    await make_order(store, buyer, "ONE")
    few = await queries_for_one_page()
    for n in range(30):
        order = await make_order(store, buyer, f"M{n}", placed_at=T0 + timedelta(days=n))
        await issue_invoice(store, order, issued_at=order.placed_at)
    many = await queries_for_one_page()
    assert many == few, (few, many)
    assert many <= 4, many  # session, customer, orders, invoices


async def test_an_order_page_shows_lines_totals_payments_and_invoices(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    order = await place_order(
        store,
        buyer,
        number="1001",
        placed_at=T0,
        status=OrderStatus.PAID,
        lines=[Line("Hand grinder", 1, 8900, tax_rate_bp=2000), Line("Beans", 2, 3200, 2000)],
    )
    await scoped(store).create(
        Payment,
        order_id=order.id,
        status=PaymentStatus.SUCCEEDED,
        amount=order.total,
        currency="EUR",
        method_summary="Visa •••• 4242",
        created_at=T0,
    )
    invoice = await issue_invoice(store, order, issued_at=T0)
    await sign_in(client)
    response = await client.get("/portal/orders/1001", headers=ACME)
    html = await response.get_data(as_text=True)
    for text in ("Hand grinder", "Beans", "€89.00", "€30.60", "€183.60", "Visa •••• 4242"):
        assert text in html
    assert f'href="/portal/invoices/{invoice.number}.pdf" download' in html


async def test_another_buyers_or_stores_order_is_a_404(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    await make_order(store, buyer, "1001", total=2599)
    await make_order(store, await make_customer(store, "someone@example.com"), "1002")
    other = await make_store("other")
    await make_order(other, await make_customer(other, "camille@example.com"), "1003")
    await sign_in(client)
    mine = await client.get("/portal/orders/1001", headers=ACME)
    assert "€25.99" in await mine.get_data(as_text=True)
    for number in ("1002", "1003", "9999"):
        assert (await client.get(f"/portal/orders/{number}", headers=ACME)).status_code == 404
    elsewhere = await client.get("/portal/orders/1001", headers=OTHER)
    assert elsewhere.status_code == 303  # not signed in at the other store


async def test_markup_in_names_is_shown_as_text(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    await place_order(
        store,
        buyer,
        number="X1",
        placed_at=T0,
        lines=[Line("<script>alert(1)</script> beans", 1, 100)],
    )
    await sign_in(client)
    html = await (await client.get("/portal/orders/X1", headers=ACME)).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; beans" in html
