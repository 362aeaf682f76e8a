"""Refunds and credit notes: the owner refunds a paid order once; the buyer sees the refund,
gets the credit note (its own number, frozen, as a PDF) and finds it among their invoices."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from quart.typing import TestClientProtocol as Client

from payfacile.platform.mail import Attachment, attachments_of
from payfacile.platform.models import OutboxEmail
from payfacile.portal.models import (
    Customer,
    Invoice,
    InvoiceKind,
    Order,
    OrderStatus,
    Payment,
    PaymentStatus,
)
from payfacile.portal.pdf import INVOICE_ATTACHMENT, invoice_attachment
from payfacile.tenants.models import MembershipRole, Store
from payfacile.tenants.scope import scoped
from tests.factories import (
    make_customer,
    make_invoice,
    make_payment,
    make_placed_order,
    make_product,
    make_store,
)
from tests.merchants import CENTRAL, CSRF, merchant, post
from tests.portal.test_auth import ACME, acme_with_buyer, sign_in
from tests.portal.test_invoices import pdf_text

DASHBOARD = "/dashboard/acme/orders"


async def paid_and_invoiced(store: Store, buyer: Customer, number: str = "1006") -> Order:
    """An order of €22.80 (€19.00 + 20 % VAT), paid with Visa •••• 4242 and invoiced."""
    beans = await make_product(store, "Beans", price=1900)
    order = await make_placed_order(
        store,
        buyer,
        number,
        [(beans, 1)],
        tax_rate_bp=2000,
        status=OrderStatus.PAID,
        placed_at=datetime.now(UTC) - timedelta(days=3),
    )
    await make_payment(store, order, method_summary="Visa •••• 4242", reference="ch_1")
    await make_invoice(store, order)
    return order


async def refund(client: Client, order: Order) -> tuple[int, str]:
    page = f"{DASHBOARD}/{order.id}"
    response = await post(client, f"{page}/refund", {}, page=page)
    return response.status_code, response.headers.get("Location", "")


async def test_a_refund_gives_the_money_back_with_a_credit_note(
    client: Client, tmp_path: Path
) -> None:
    store, buyer = await acme_with_buyer()
    order = await paid_and_invoiced(store, buyer)
    await merchant(client, store, MembershipRole.OWNER, "owner@example.com")
    page = await (await client.get(f"{DASHBOARD}/{order.id}", headers=CENTRAL)).get_data(
        as_text=True
    )
    assert "Refund €22.80" in page
    assert "A credit note cancelling invoice INV-000001 is issued" in page

    assert await refund(client, order) == (303, f"{DASHBOARD}/{order.id}?done=refunded")
    done = await client.get(f"{DASHBOARD}/{order.id}?done=refunded", headers=CENTRAL)
    done_page = await done.get_data(as_text=True)
    assert "Order 1006 refunded; credit note INV-000002 is on its way" in done_page
    assert "Refund €22.80" not in done_page

    scope = scoped(store)
    assert (await scope.get(Order, id=order.id)).status == OrderStatus.REFUNDED
    given = await scope.get(Payment, order_id=order.id, status=PaymentStatus.REFUNDED)
    assert (given.amount, given.method_summary) == (2280, "Visa •••• 4242")
    assert given.reference.startswith("re_test_")
    invoice = await scope.get(Invoice, order_id=order.id, kind=InvoiceKind.INVOICE)
    note = await scope.get(Invoice, order_id=order.id, kind=InvoiceKind.CREDIT_NOTE)
    assert (note.number, note.credits_id, note.total) == ("INV-000002", invoice.id, 2280)
    assert note.snapshot["credits"] == "INV-000001"
    assert note.snapshot["lines"] == invoice.snapshot["lines"]

    email = await OutboxEmail.filter(to_address=buyer.email).order_by("-id").first()
    assert email is not None
    assert email.subject == "Your Acme Coffee order 1006 is refunded"
    assert attachments_of(email) == [Attachment(INVOICE_ATTACHMENT, str(note.id))]
    attached = await invoice_attachment(store.id, str(note.id))
    assert attached.filename == "INV-000002.pdf"
    text = pdf_text(attached.data, tmp_path)
    assert "Credit note" in text
    assert "INV-000001" in text  # the invoice it cancels
    assert "-€22.80" in text

    # Frozen: the store renamed afterwards does not change the credit note.
    await store.__class__.filter(id=store.id).update(name="Acme Roasters")
    assert (await scope.get(Invoice, id=note.id)).snapshot["seller"]["name"] == "Acme Coffee"


async def test_the_buyer_sees_the_refund_and_finds_the_credit_note(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    order = await paid_and_invoiced(store, buyer)
    owner = client.app.test_client()
    await merchant(owner, store, MembershipRole.OWNER, "owner@example.com")
    await refund(owner, order)
    await sign_in(client)
    today = datetime.now(UTC)
    page = await (await client.get("/portal/orders/1006", headers=ACME)).get_data(as_text=True)
    assert f"Refunded €22.80 on {today.day} {today:%b %Y} to Visa •••• 4242." in page
    assert "Credit note INV-000002" in page
    assert "-€22.80" in page
    listing = await (await client.get("/portal/invoices", headers=ACME)).get_data(as_text=True)
    rows = re.findall(r'<th scope="row">(INV-\d+)', listing)
    assert rows == ["INV-000002", "INV-000001"]  # newest first
    assert 'href="/portal/invoices/INV-000002.pdf"' in listing
    download = await client.get("/portal/invoices/INV-000002.pdf", headers=ACME)
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "application/pdf"
    orders = await (await client.get("/portal/orders", headers=ACME)).get_data(as_text=True)
    assert "INV-000002" not in orders  # the order list names the invoice only


async def test_an_order_is_refunded_once_even_at_once(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    order = await paid_and_invoiced(store, buyer)
    await merchant(client, store, MembershipRole.OWNER, "owner@example.com")
    html = await (await client.get(f"{DASHBOARD}/{order.id}", headers=CENTRAL)).get_data(
        as_text=True
    )
    token = CSRF.search(html)
    assert token is not None
    answers = await asyncio.gather(
        *(
            client.post(
                f"{DASHBOARD}/{order.id}/refund",
                form={"csrf_token": token.group(1)},
                headers=CENTRAL,
            )
            for _ in range(3)
        )
    )
    assert sorted(answer.status_code for answer in answers) == [303, 409, 409]
    scope = scoped(store)
    refunds = scope.query(Payment).filter(order_id=order.id, status=PaymentStatus.REFUNDED)
    assert await refunds.count() == 1
    notes = scope.query(Invoice).filter(order_id=order.id, kind=InvoiceKind.CREDIT_NOTE)
    assert await notes.count() == 1
    assert (await refund(client, order))[0] == 409


async def test_only_the_owner_refunds_a_paid_order_of_their_store(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    order = await paid_and_invoiced(store, buyer)
    unpaid = await make_placed_order(
        store, buyer, "1007", [(await make_product(store), 1)], status=OrderStatus.PENDING
    )
    staff = client.app.test_client()
    await merchant(staff, store, MembershipRole.STAFF, "staff@example.com")
    page = await (await staff.get(f"{DASHBOARD}/{order.id}", headers=CENTRAL)).get_data(
        as_text=True
    )
    assert "Only the store's owner can refund an order." in page
    assert (await refund(staff, order))[0] == 403

    await merchant(client, store, MembershipRole.OWNER, "owner@example.com")
    assert (await refund(client, unpaid))[0] == 409
    other = await make_store("other")
    theirs = await paid_and_invoiced(other, await make_customer(other, "x@example.com"), "1")
    response = await post(
        client, f"{DASHBOARD}/{theirs.id}/refund", {}, page=f"{DASHBOARD}/{order.id}"
    )
    assert response.status_code == 404
    assert await Payment.filter(status=PaymentStatus.REFUNDED).count() == 0
    assert (await scoped(store).get(Order, id=order.id)).status == OrderStatus.PAID


async def test_the_invoices_page_pages_newest_first_without_overlap(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    beans = await make_product(store, "Beans", price=500)
    start = datetime.now(UTC) - timedelta(days=30)
    for n in range(25):
        order = await make_placed_order(store, buyer, str(2000 + n), [(beans, 1)])
        await make_invoice(store, order, issued_at=start + timedelta(days=n))
    someone = await make_customer(store, "someone@example.com")
    theirs = await make_placed_order(store, someone, "3000", [(beans, 1)])
    await make_invoice(store, theirs)
    await sign_in(client)
    first = await (await client.get("/portal/invoices", headers=ACME)).get_data(as_text=True)
    numbers = re.findall(r'<th scope="row">(INV-\d+)', first)
    assert numbers == [f"INV-{n:06d}" for n in range(25, 5, -1)]
    older = re.search(r'href="(/portal/invoices\?before=[^"]+)"', first)
    assert older is not None
    second = await (await client.get(older.group(1), headers=ACME)).get_data(as_text=True)
    assert re.findall(r'<th scope="row">(INV-\d+)', second) == [
        f"INV-{n:06d}" for n in range(5, 0, -1)
    ]
    assert "INV-000026" not in first + second  # someone else's
    damaged = await client.get("/portal/invoices?before=nope", headers=ACME)
    assert damaged.status_code == 422


async def test_a_credit_note_is_in_its_buyers_language(client: Client, tmp_path: Path) -> None:
    store, buyer = await acme_with_buyer(language="fr")
    order = await paid_and_invoiced(store, buyer)
    await merchant(client, store, MembershipRole.OWNER, "owner@example.com")
    assert (await refund(client, order))[0] == 303
    note = await scoped(store).get(Invoice, order_id=order.id, kind=InvoiceKind.CREDIT_NOTE)
    assert note.snapshot["language"] == "fr"
    email = await OutboxEmail.filter(to_address=buyer.email).order_by("-id").first()
    assert email is not None
    assert email.subject == "Votre commande Acme Coffee 1006 est remboursée"
    text = pdf_text((await invoice_attachment(store.id, str(note.id))).data, tmp_path)
    for words in ("Avoir", "ANNULE LA FACTURE", "INV-000001", "-22,80"):
        assert words in text, words
