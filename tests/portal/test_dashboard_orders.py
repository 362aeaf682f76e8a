"""The store dashboard's orders and invoices, as merchants use them: recording an order by
hand for a customer, its page, "Issue the invoice", the lists with search and keyset pages,
invoice PDFs, and what stays closed to everyone else."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from quart import Quart, Response
from quart.typing import TestClientProtocol as Client

from payfacile.platform.i18n import LANGUAGE_COOKIE
from payfacile.platform.mail import Attachment, attachments_of
from payfacile.platform.models import OutboxEmail
from payfacile.portal.models import Customer, Invoice, Order, OrderLine, OrderStatus
from payfacile.portal.orders import Cursor
from payfacile.portal.pdf import INVOICE_ATTACHMENT, invoice_attachment
from payfacile.tenants.models import MembershipRole, Store, StoreStatus
from payfacile.tenants.scope import scoped
from tests.conftest import ON_POSTGRES, opened
from tests.factories import make_customer, make_invoice, make_order, make_payment, make_store
from tests.merchants import CENTRAL, CSRF, merchant, post, queries_of
from tests.portal.test_invoices import pdf_text

NEW = "/dashboard/acme/orders/new"
ORDER_ROW = re.compile(r'<th scope="row"><a href="/dashboard/acme/orders/(\d+)">([^<]+)</a>')
INVOICE_ROW = re.compile(r'<th scope="row">(INV-\d+)</th>')
OLDER = re.compile(r'href="(/dashboard/acme/(?:orders|invoices)\?before=[^"]+)"')
NEWER = re.compile(r'href="(/dashboard/acme/(?:orders|invoices)\?after=[^"]+)"')


def order_form(email: str = "camille@example.com", **fields: str) -> dict[str, str]:
    """The form with Camille's email and two lines: 2 × 12.50 at 5.5 % and 89.00 at 20 %."""
    return {
        "customer_email": email,
        "status": "paid",
        "line-1-description": "Coffee beans",
        "line-1-quantity": "2",
        "line-1-unit_price": "12.50",
        "line-1-vat_rate": "5.5",
        "line-2-description": "Grinder",
        "line-2-quantity": "1",
        "line-2-unit_price": "89",
        "line-2-vat_rate": "20",
        **fields,
    }


async def acme_with_camille(client: Client, role: MembershipRole) -> tuple[Store, Customer]:
    acme = await make_store("acme", name="Acme Coffee")
    camille = await make_customer(acme, "camille@example.com", name="Camille Dupont")
    await merchant(client, acme, role, "merchant@example.com")
    return acme, camille


async def html_of(client: Client, path: str, status: int = 200) -> str:
    response = await client.get(path, headers=CENTRAL)
    assert response.status_code == status, (path, response.status_code)
    return await response.get_data(as_text=True)


def unescaped(link: str) -> str:
    return link.replace("&amp;", "&")


@pytest.mark.parametrize("role", [MembershipRole.OWNER, MembershipRole.STAFF])
async def test_an_order_recorded_from_the_form_emails_its_buyer_a_link_to_it(
    client: Client, role: MembershipRole
) -> None:
    acme, camille = await acme_with_camille(client, role)
    profile = await html_of(client, f"/dashboard/acme/customers/{camille.id}")
    assert f'href="{NEW}?customer={camille.id}"' in profile  # "Record an order"
    form = await html_of(client, f"{NEW}?customer={camille.id}")
    assert 'value="camille@example.com"' in form  # the customer chosen on their profile

    recorded = await post(client, NEW, order_form(), page=NEW)
    assert recorded.status_code == 303
    order = await scoped(acme).query(Order).get(number="1001")
    assert recorded.headers["Location"] == f"/dashboard/acme/orders/{order.id}?done=recorded"
    assert order.status == OrderStatus.PAID
    assert (order.subtotal, order.tax_total, order.total) == (11400, 1918, 13318)

    page = await html_of(client, recorded.headers["Location"])
    assert "Order 1001 recorded; the confirmation is on its way to camille@example.com." in page
    for shown in ("Coffee beans", "Grinder", "€12.50", "5.5%", "€114.00", "€1.38", "€17.80"):
        assert shown in page, shown
    assert "€133.18" in page
    assert f'href="/dashboard/acme/customers/{camille.id}"' in page
    assert "Issue the invoice" in page

    confirmation = opened(await OutboxEmail.get(to_address="camille@example.com"))
    assert confirmation.subject == "Your Acme Coffee order 1001"
    assert "http://acme.payfacile.localhost:8000/portal/orders/1001" in confirmation.text_body
    assert "€133.18" in confirmation.text_body


async def test_issue_the_invoice_emails_its_pdf_and_the_dashboard_downloads_it(
    client: Client, tmp_path: Path
) -> None:
    acme, _ = await acme_with_camille(client, MembershipRole.STAFF)
    await post(client, NEW, order_form(), page=NEW)
    order = await scoped(acme).query(Order).get(number="1001")
    page = f"/dashboard/acme/orders/{order.id}"

    issued = await post(client, f"{page}/invoice", {}, page=page)
    assert issued.status_code == 303
    assert issued.headers["Location"] == f"{page}?done=invoiced"
    invoice = await scoped(acme).query(Invoice).get(order_id=order.id)
    shown = await html_of(client, issued.headers["Location"])
    assert "Invoice INV-000001 issued; it is on its way to camille@example.com" in shown
    assert f'href="/dashboard/acme/invoices/{invoice.id}.pdf"' in shown
    assert "Download PDF" in shown
    assert 'action="/dashboard/acme/orders/' not in shown  # no second "Issue the invoice"

    email = opened(await OutboxEmail.get(subject__contains="invoice"))
    assert email.to_address == "camille@example.com"
    assert email.subject == "Your Acme Coffee invoice INV-000001"
    assert "http://acme.payfacile.localhost:8000/portal/orders/1001" in email.text_body
    assert attachments_of(email) == [Attachment(INVOICE_ATTACHMENT, str(invoice.id))]
    attached = await invoice_attachment(acme.id, str(invoice.id))
    assert attached.filename == "INV-000001.pdf"
    assert "INV-000001" in pdf_text(attached.data, tmp_path)

    download = await client.get(f"/dashboard/acme/invoices/{invoice.id}.pdf", headers=CENTRAL)
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"] == 'attachment; filename="INV-000001.pdf"'
    pdf = await download.get_data()
    assert pdf == attached.data  # the one stored PDF
    text = pdf_text(pdf, tmp_path)
    assert "INV-000001" in text
    assert "Coffee beans" in text

    again = await post(client, f"{page}/invoice", {}, page=page)
    assert again.status_code == 409
    assert "Order 1001 already has an invoice: INV-000001." in await again.get_data(as_text=True)
    assert await scoped(acme).query(Invoice).count() == 1
    assert await OutboxEmail.filter(subject__contains="invoice").count() == 1


async def test_the_form_can_issue_the_invoice_at_once(client: Client) -> None:
    await acme_with_camille(client, MembershipRole.OWNER)
    recorded = await post(client, NEW, order_form(issue_invoice="yes"), page=NEW)
    assert recorded.status_code == 303
    assert recorded.headers["Location"].endswith("?done=recorded-invoiced")
    page = await html_of(client, recorded.headers["Location"])
    assert "Order 1001 recorded and invoice INV-000001 issued" in page
    subjects = await OutboxEmail.all().order_by("id").values_list("subject", flat=True)
    assert subjects == ["Your Acme Coffee order 1001", "Your Acme Coffee invoice INV-000001"]


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"line-1-quantity": "0"}, "line-1-quantity", "Line 1: the quantity must be a whole"),
        ({"line-2-unit_price": "abc"}, "line-2-unit_price", "Line 2: write the unit price"),
        ({"line-1-vat_rate": "150"}, "line-1-vat_rate", "Line 1: the VAT rate must be from 0"),
        ({"line-1-unit_price": "1e999999"}, "line-1-unit_price", "Line 1: write the unit price"),
        ({"line-2-description": ""}, "line-2-description", "Line 2 needs a description."),
        ({"customer_email": "nobody@example.com"}, "customer_email", "has no customer with"),
        ({"status": "refunded"}, "status", "Choose the order"),
    ],
)
async def test_a_bad_field_is_a_422_that_names_it_keeps_what_was_typed_and_writes_nothing(
    client: Client, fields: dict[str, str], field: str, says: str
) -> None:
    await acme_with_camille(client, MembershipRole.OWNER)
    refused = await post(client, NEW, order_form(**fields), page=NEW)
    assert refused.status_code == 422
    page = await refused.get_data(as_text=True)
    assert says in page
    assert f'id="{field}" name="{field}"' in page
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', page) or field == "status"
    assert f'id="{field}-error"' in page
    assert 'value="Coffee beans"' in page  # what was typed is still there
    assert "Nothing was recorded" in page
    assert await Order.all().count() == 0
    assert await OrderLine.all().count() == 0
    assert await OutboxEmail.all().count() == 0


async def test_every_bad_field_is_marked_at_once_and_no_lines_is_refused(client: Client) -> None:
    await acme_with_camille(client, MembershipRole.OWNER)
    several = order_form(
        **{"line-1-quantity": "0", "line-1-unit_price": "abc", "line-2-vat_rate": "150"}
    )
    page = await (await post(client, NEW, several, page=NEW)).get_data(as_text=True)
    for field in ("line-1-quantity", "line-1-unit_price", "line-2-vat_rate"):
        assert f'id="{field}-error"' in page, field
    empty = {"customer_email": "camille@example.com", "status": "pending"}
    refused = await post(client, NEW, empty, page=NEW)
    assert refused.status_code == 422
    assert "An order needs at least one line" in await refused.get_data(as_text=True)
    assert await Order.all().count() == 0


async def test_an_order_page_shows_payments_and_the_profile_links_to_orders_and_pdfs(
    client: Client,
) -> None:
    acme, camille = await acme_with_camille(client, MembershipRole.STAFF)
    paid = await make_order(acme, camille, "1001", total=4200)
    await make_payment(acme, paid, method_summary="Visa •••• 4242")
    page = await html_of(client, f"/dashboard/acme/orders/{paid.id}")
    for shown in ("Visa •••• 4242", "Succeeded", "€42.00", "No invoice yet", "Issue the invoice"):
        assert shown in page, shown
    invoice = await make_invoice(acme, await make_order(acme, camille, "1002"))
    profile = await html_of(client, f"/dashboard/acme/customers/{camille.id}")
    assert f'href="/dashboard/acme/orders/{paid.id}"' in profile
    assert f'href="/dashboard/acme/invoices/{invoice.id}.pdf"' in profile


async def orders_of(store: Store, customer: Customer, count: int) -> list[Order]:
    """`count` orders, 1001 the oldest, an hour apart; two share a moment (ties by id)."""
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    made = []
    for n in range(count):
        at = start + timedelta(hours=n - (1 if n == count - 1 else 0))
        made.append(await make_order(store, customer, str(1001 + n), placed_at=at))
    return made


async def numbers_on(client: Client, path: str) -> tuple[list[str], str]:
    html = await html_of(client, path)
    return [number for _, number in ORDER_ROW.findall(html)], html


async def test_the_order_list_pages_by_keyset_newest_first_with_no_overlap(
    client: Client,
) -> None:
    acme, camille = await acme_with_camille(client, MembershipRole.STAFF)
    await orders_of(acme, camille, 60)
    newest = [str(n) for n in range(1060, 1000, -1)]
    first, html = await numbers_on(client, "/dashboard/acme/orders")
    assert first == newest[:25]
    assert not NEWER.search(html)
    second, html = await numbers_on(client, unescaped(OLDER.search(html).group(1)))  # type: ignore[union-attr]
    assert second == newest[25:50]
    third, html = await numbers_on(client, unescaped(OLDER.search(html).group(1)))  # type: ignore[union-attr]
    assert third == newest[50:]
    assert not OLDER.search(html)
    back, html = await numbers_on(client, unescaped(NEWER.search(html).group(1)))  # type: ignore[union-attr]
    assert back == second
    start, _ = await numbers_on(client, unescaped(NEWER.search(html).group(1)))  # type: ignore[union-attr]
    assert start == first


async def test_the_order_list_searches_numbers_and_buyers_and_filters_by_status(
    client: Client,
) -> None:
    acme, camille = await acme_with_camille(client, MembershipRole.OWNER)
    jo = await make_customer(acme, "jo@shop.example", name="Joséphine Martin")
    await make_order(acme, camille, "1001", status=OrderStatus.PAID)
    await make_order(acme, jo, "1002", status=OrderStatus.PENDING)
    await make_order(acme, jo, "2003", status=OrderStatus.PAID)
    other = await make_store("other")
    await make_order(other, await make_customer(other, "jo@other.example"), "1002")

    assert (await numbers_on(client, "/dashboard/acme/orders?q=1002"))[0] == ["1002"]
    assert (await numbers_on(client, "/dashboard/acme/orders?q=SHOP.example"))[0] == [
        "2003",
        "1002",
    ]
    assert (await numbers_on(client, "/dashboard/acme/orders?q=dupont"))[0] == ["1001"]
    assert (await numbers_on(client, "/dashboard/acme/orders?q=%25"))[0] == []  # a literal %
    paid, html = await numbers_on(client, "/dashboard/acme/orders?status=paid")
    assert paid == ["2003", "1001"]
    assert '<option value="paid" selected>' in html
    both, _ = await numbers_on(client, "/dashboard/acme/orders?status=paid&q=jo%40")
    assert both == ["2003"]
    nothing, html = await numbers_on(client, "/dashboard/acme/orders?q=zzz")
    assert nothing == []
    assert "No order matches this search." in html
    assert (await client.get("/dashboard/acme/orders?status=x", headers=CENTRAL)).status_code == 422
    damaged = await client.get("/dashboard/acme/orders?before=abc", headers=CENTRAL)
    assert damaged.status_code == 422
    assert "Start again from the order list" in await damaged.get_data(as_text=True)


async def test_the_order_list_shows_buyer_status_total_and_invoice(client: Client) -> None:
    acme, camille = await acme_with_camille(client, MembershipRole.OWNER)
    invoiced = await make_order(acme, camille, "1001", total=4200)
    await make_invoice(acme, invoiced)
    html = await html_of(client, "/dashboard/acme/orders")
    row = html[html.index(f"/orders/{invoiced.id}") :]
    row = row[: row.index("</tr>")]
    for shown in (
        "Camille Dupont",
        "camille@<wbr>example<wbr>.com",
        "Paid",
        "€42.00",
        "INV-000001",
    ):
        assert shown in row, shown
    assert datetime.now(UTC).strftime("%-d %b %Y") in row


async def test_the_order_list_costs_the_same_few_queries_however_many_orders(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    acme, camille = await acme_with_camille(client, MembershipRole.OWNER)
    made = await orders_of(acme, camille, 10)
    for order in made[:3]:
        await make_invoice(acme, order)

    async def queries(path: str) -> list[str]:
        return await queries_of(client, path, caplog)

    few = await queries("/dashboard/acme/orders")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = [
        {
            "customer_id": camille.id,
            "number": f"9{n:05d}",
            "status": OrderStatus.PAID,
            "currency": "EUR",
            "total": 100,
            "placed_at": start + timedelta(minutes=n),
        }
        for n in range(500)
    ]
    await scoped(acme).create_many(Order, rows)
    many = await queries("/dashboard/acme/orders")
    assert len(many) == len(few) <= 4, many  # session, membership, the page, its invoices
    later = await queries(f"/dashboard/acme/orders?q=9&status=paid&before={Cursor.of(made[5])}")
    assert len(later) == len(few), later


async def test_the_invoice_list_searches_and_pages_with_a_download_each(client: Client) -> None:
    acme, camille = await acme_with_camille(client, MembershipRole.STAFF)
    jo = await make_customer(acme, "jo@shop.example")
    orders = await orders_of(acme, camille, 27)
    orders.append(await make_order(acme, jo, "3001", placed_at=datetime(2026, 3, 1, tzinfo=UTC)))
    for order in orders:
        await make_invoice(acme, order)
    newest = [f"INV-{n:06d}" for n in range(28, 0, -1)]
    html = await html_of(client, "/dashboard/acme/invoices")
    first = INVOICE_ROW.findall(html)
    assert first == newest[:25]
    last = await scoped(acme).query(Invoice).get(number="INV-000028")
    assert f'href="/dashboard/acme/invoices/{last.id}.pdf"' in html
    html = await html_of(client, unescaped(OLDER.search(html).group(1)))  # type: ignore[union-attr]
    assert INVOICE_ROW.findall(html) == newest[25:]
    html = await html_of(client, unescaped(NEWER.search(html).group(1)))  # type: ignore[union-attr]
    assert INVOICE_ROW.findall(html) == first
    found = await html_of(client, "/dashboard/acme/invoices?q=shop.EXAMPLE")
    assert INVOICE_ROW.findall(found) == ["INV-000028"]
    found = await html_of(client, "/dashboard/acme/invoices?q=inv-000002")
    assert INVOICE_ROW.findall(found) == ["INV-000002"]


async def test_another_stores_orders_and_invoices_are_not_found(client: Client) -> None:
    acme, _ = await acme_with_camille(client, MembershipRole.OWNER)
    bravo = await make_store("bravo", name="Bravo")
    theirs = await make_customer(bravo, "b@bravo.example")
    order = await make_order(bravo, theirs, "1001")
    invoice = await make_invoice(bravo, order)
    for path in (
        f"/dashboard/acme/orders/{order.id}",
        f"/dashboard/acme/invoices/{invoice.id}.pdf",
        f"/dashboard/acme/orders/new?customer={theirs.id}",
        "/dashboard/acme/orders/new?customer=99999999999",  # no id is that large
        "/dashboard/acme/orders/new?customer=abc",
        f"/dashboard/bravo/orders/{order.id}",  # not a member of bravo
        "/dashboard/bravo/orders",
    ):
        response = await client.get(path, headers=CENTRAL)
        assert response.status_code == 404, path
        assert "b@bravo.example" not in await response.get_data(as_text=True)
    fresh = await make_order(bravo, theirs, "1002")
    refused = await post(
        client, f"/dashboard/acme/orders/{fresh.id}/invoice", {}, page="/dashboard/acme/orders"
    )
    assert refused.status_code == 404
    theirs_by_email = await post(client, NEW, order_form("b@bravo.example"), page=NEW)
    assert theirs_by_email.status_code == 422  # not one of acme's customers
    assert await scoped(bravo).query(Invoice).count() == 1
    assert await scoped(acme).query(Order).count() == 0
    assert await OutboxEmail.all().count() == 0
    listing = await html_of(client, "/dashboard/acme/orders")
    assert "This store has no orders yet." in listing


async def test_two_issue_clicks_at_once_make_one_invoice_and_one_email(
    client: Client, app: Quart
) -> None:
    acme, camille = await acme_with_camille(client, MembershipRole.OWNER)
    order = await make_order(acme, camille, "1001")
    page = f"/dashboard/acme/orders/{order.id}"
    token = CSRF.search(await html_of(client, page)).group(1)  # type: ignore[union-attr]

    async def click() -> Response:
        return await client.post(f"{page}/invoice", form={"csrf_token": token}, headers=CENTRAL)

    answers = await asyncio.gather(click(), click())
    assert sorted(answer.status_code for answer in answers) == [303, 409], ON_POSTGRES
    assert await scoped(acme).query(Invoice).count() == 1
    assert await OutboxEmail.filter(subject__contains="invoice").count() == 1


async def test_the_pages_speak_french(client: Client) -> None:
    acme, camille = await acme_with_camille(client, MembershipRole.OWNER)
    order = await make_order(acme, camille, "1001")
    client.set_cookie("payfacile.localhost", LANGUAGE_COOKIE, "fr")  # type: ignore[attr-defined]
    pages = {
        "/dashboard/acme/orders": "Enregistrer une commande",
        f"/dashboard/acme/orders/{order.id}": "Émettre la facture",
        NEW: "Émettre la facture maintenant",
        "/dashboard/acme/invoices": "Rechercher par numéro de facture",
        f"/dashboard/acme/customers/{camille.id}": "Enregistrer une commande",
    }
    for path, words in pages.items():
        page = await html_of(client, path)
        assert '<html lang="fr">' in page, path
        assert words in page, path
    refused = await post(client, NEW, order_form(**{"line-1-quantity": "0"}), page=NEW)
    page = await refused.get_data(as_text=True)
    assert "Ligne 1\u00a0: la quantité" in page
    assert "Rien n’a été enregistré" in page


async def test_a_suspended_store_records_no_order_and_issues_no_invoice(client: Client) -> None:
    acme, _ = await acme_with_camille(client, MembershipRole.OWNER)
    order = await make_order(acme, (await scoped(acme).query(Customer).get()), "1001")
    await acme.filter(id=acme.id).update(status=StoreStatus.SUSPENDED)
    page = f"/dashboard/acme/orders/{order.id}"
    assert (await client.get(page, headers=CENTRAL)).status_code == 200  # still readable
    for path in (NEW, f"{page}/invoice"):
        refused = await post(client, path, order_form(), page=page)
        assert refused.status_code == 409, path
    assert await Order.all().count() == 1
    assert await Invoice.all().count() == 0
    assert await OutboxEmail.all().count() == 0
