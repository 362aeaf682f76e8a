"""Orders recorded by hand (the CLI) and their emails: a confirmation and an invoice that
lead the buyer to the order in the portal, the invoice's PDF attached."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from quart.typing import TestClientProtocol as Client

from payfacile.platform.config import Settings
from payfacile.platform.errors import Conflict
from payfacile.platform.mail import Mailer
from payfacile.platform.models import OutboxEmail
from payfacile.portal.models import Invoice, Order, OrderLine, OrderStatus
from payfacile.portal.orders import Line, place_order
from tests.conftest import opened, work_after_answers
from tests.factories import make_customer, make_store
from tests.platform.test_jobs import (
    background,
    free_port,
    smtp_server,
    wait_until_all_sent,
    with_smtp,
)
from tests.portal.test_auth import ACME, CSRF, PASSWORD, acme_with_buyer, latest_email, post
from tests.portal.test_invoices import pdf_text
from tests.test_cli import payfacile

LINES = ("--line", "Coffee beans;2;12.50;5.5", "--line", "Grinder;1;89;20")
ORDER_LINK = "http://acme.payfacile.localhost:8000/portal/orders/1001"


def record_order(settings: Settings, *extra: str) -> str:
    """`payfacile orders create` for Camille at acme, two lines; must succeed."""
    result = payfacile(
        settings, "orders", "create", "--store", "acme", "--email", "camille@example.com",
        *LINES, *extra,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_an_order_from_the_cli_emails_a_link_that_leads_to_it(
    client: Client, settings: Settings
) -> None:
    await acme_with_buyer()
    said = record_order(settings, "--paid")
    assert "Order 1001 recorded for camille@example.com" in said
    order = await Order.get(number="1001")
    assert order.status == OrderStatus.PAID
    # 2 × 12.50 at 5.5 % and 89.00 at 20 %: VAT 1.38 + 17.80 on a net 114.00.
    assert (order.subtotal, order.tax_total, order.total) == (11400, 1918, 13318)

    email = await latest_email("camille@example.com")
    assert email.subject == "Your Acme Coffee order 1001"
    assert email.from_address.startswith("Acme Coffee <")
    for body in (email.text_body, email.html_body):
        assert ORDER_LINK in body  # the store's own host, never a request's
        assert "Coffee beans" in body
        assert "€133.18" in body
        assert "€19.18" in body

    path = ORDER_LINK.removeprefix("http://acme.payfacile.localhost:8000")
    signed_out = await client.get(path, headers=ACME)
    assert signed_out.status_code == 303
    assert signed_out.headers["Location"] == f"/portal/login?next={path}"
    signed_in = await post(
        client,
        signed_out.headers["Location"],
        {"email": "camille@example.com", "password": PASSWORD},
        page=signed_out.headers["Location"],
    )
    assert signed_in.headers["Location"] == path
    page = await (await client.get(path, headers=ACME)).get_data(as_text=True)
    assert "1001" in page
    assert "Grinder" in page
    assert "€133.18" in page


async def test_a_buyer_with_no_password_gets_the_sign_in_link_and_lands_on_the_order(
    client: Client, settings: Settings
) -> None:
    store, camille = await acme_with_buyer(password=None)
    await place_order(
        store,
        camille,
        lines=[Line("Coffee beans", 1, 1250, tax_rate_bp=550)],
        placed_at=datetime.now(UTC),
        notify=settings,
    )
    link = re.search(r"http://acme\.payfacile\.localhost:8000(/portal/orders/\d+)", (
        await latest_email("camille@example.com")
    ).text_body)  # fmt: skip
    assert link is not None
    login = (await client.get(link.group(1), headers=ACME)).headers["Location"]
    page = await (await client.get(login, headers=ACME)).get_data(as_text=True)
    assert "No password yet?" in page
    asked = f"/portal/login/link?next={link.group(1)}"
    assert f'action="{asked}"' in page
    sent = await post(client, asked, {"link_email": "camille@example.com"}, page=login)
    assert "Check your inbox" in await sent.get_data(as_text=True)

    sign_in = re.search(
        r"http://acme\.payfacile\.localhost:8000(/portal/sign-in/[\w-]+)",
        (await latest_email("camille@example.com")).text_body,
    )
    assert sign_in is not None
    followed = await post(client, sign_in.group(1), {}, page=sign_in.group(1))
    assert followed.headers["Location"] == link.group(1)
    order_page = await (await client.get(link.group(1), headers=ACME)).get_data(as_text=True)
    assert "Coffee beans" in order_page


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/admin/"])
async def test_a_sign_in_link_never_sends_a_buyer_away(client: Client, target: str) -> None:
    await acme_with_buyer(password=None)
    page = await client.get("/portal/login", headers=ACME)
    token = CSRF.search(await page.get_data(as_text=True))
    assert token is not None
    await client.post(
        "/portal/login/link",
        query_string={"next": target},
        form={"link_email": "camille@example.com", "csrf_token": token.group(1)},
        headers=ACME,
    )
    await work_after_answers(client.app)
    sign_in = re.search(
        r"(/portal/sign-in/[\w-]+)", (await latest_email("camille@example.com")).text_body
    )
    assert sign_in is not None
    followed = await post(client, sign_in.group(1), {}, page=sign_in.group(1))
    assert followed.headers["Location"] == "/portal/"


async def test_the_invoice_email_carries_the_pdf(database: Settings, tmp_path: Path) -> None:
    await acme_with_buyer()
    record_order(database)
    issued = payfacile(database, "invoices", "issue", "--store", "acme", "1001")
    assert issued.returncode == 0, issued.stderr
    assert "Invoice INV-000001 issued for order 1001" in issued.stdout
    row = opened(await OutboxEmail.filter(subject__contains="invoice").get())
    assert row.subject == "Your Acme Coffee invoice INV-000001"
    assert ORDER_LINK in row.text_body
    assert "INV-000001" in row.text_body

    port = free_port()
    with smtp_server(port) as inbox:
        async with background(with_smtp(database, port)):
            await wait_until_all_sent(2)
    sent = next(m for m in inbox.messages if "INV-000001" in str(m["Subject"]))
    attached = [part for part in sent.iter_attachments()]
    assert [part.get_filename() for part in attached] == ["INV-000001.pdf"]
    assert attached[0].get_content_type() == "application/pdf"
    pdf = attached[0].get_content()
    assert "INV-000001" in pdf_text(pdf, tmp_path)
    invoice = await Invoice.get(number="INV-000001")
    assert invoice.pdf is not None
    assert bytes(invoice.pdf) == pdf
    body = sent.get_body(preferencelist=("plain",))
    assert body is not None
    assert ORDER_LINK in body.get_content()


async def test_the_emails_are_in_the_buyers_language(database: Settings) -> None:
    await acme_with_buyer(language="fr")
    record_order(database)
    confirmation = opened(await OutboxEmail.get())
    assert confirmation.subject == "Votre commande Acme Coffee 1001"
    assert "Merci pour votre commande 1001 du" in confirmation.text_body
    assert "133,18\u00a0€" in confirmation.text_body
    assert "TVA 5,5\u00a0%" in confirmation.text_body
    assert 'lang="fr"' in confirmation.html_body
    assert "Voir ma commande" in confirmation.html_body
    issued = payfacile(database, "invoices", "issue", "--store", "acme", "1001")
    assert issued.returncode == 0, issued.stderr
    invoice_email = await OutboxEmail.filter(subject__contains="facture").get()
    assert invoice_email.subject == "Votre facture Acme Coffee INV-000001"
    assert "Le PDF est joint" in invoice_email.text_body


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("orders", "create", "--store", "nope", "--email", "camille@example.com", *LINES),
         "no store"),
        (("orders", "create", "--store", "acme", "--email", "ghost@example.com", *LINES),
         "Acme Coffee has no customer with the email ghost@example.com"),
        (("orders", "create", "--store", "acme", "--email", "camille@example.com",
          "--line", "Coffee beans;2;12.50"), "description;quantity;unit price;VAT rate"),
        (("orders", "create", "--store", "acme", "--email", "camille@example.com",
          "--line", "Coffee beans;two;12.50;20"), "the quantity must be a whole number"),
        (("orders", "create", "--store", "acme", "--email", "camille@example.com",
          "--line", "Coffee beans;-2;12.50;20"), "Line 1: the quantity must be a whole number"),
        (("orders", "create", "--store", "acme", "--email", "camille@example.com",
          *LINES, "--line", "Mug;1;-5;20"), "Line 3: the unit price cannot be negative"),
        (("orders", "create", "--store", "acme", "--email", "camille@example.com",
          "--line", "Coffee beans;1;12.505;20"), "the unit price and VAT rate numbers"),
        (("orders", "create", "--store", "acme", "--email", "camille@example.com",
          "--line", "Coffee beans;1;12.50;120"), "Line 1: the VAT rate must be from 0 to 100"),
        (("orders", "create", "--store", "acme", "--email", "camille@example.com",
          "--line", " ;1;12.50;20"), "Line 1 needs a description"),
        (("invoices", "issue", "--store", "acme", "4242"), "Acme Coffee has no order 4242"),
        (("invoices", "issue", "--store", "nope", "1001"), "no store"),
    ],
)  # fmt: skip
async def test_bad_cli_input_is_a_clear_message_and_writes_nothing(
    database: Settings, args: tuple[str, ...], message: str
) -> None:
    await acme_with_buyer()
    before = await _counts()
    result = payfacile(database, *args)
    assert result.returncode == 1
    assert message.lower() in result.stderr.lower(), result.stderr
    assert "Traceback" not in result.stderr
    assert await _counts() == before


async def test_an_order_invoiced_already_is_refused(database: Settings) -> None:
    await acme_with_buyer()
    record_order(database)
    assert payfacile(database, "invoices", "issue", "--store", "acme", "1001").returncode == 0
    before = await _counts()
    again = payfacile(database, "invoices", "issue", "--store", "acme", "1001")
    assert again.returncode == 1
    assert "Order 1001 already has an invoice: INV-000001." in again.stderr
    assert await _counts() == before


async def test_orders_take_the_stores_next_number(database: Settings) -> None:
    store, camille = await acme_with_buyer()
    other = await make_store("other")
    await place_order(
        other,
        await make_customer(other, "camille@example.com"),
        lines=[Line("Mug", 1, 900)],
        placed_at=datetime.now(UTC),
    )
    record_order(database)
    record_order(database)
    numbers = await Order.filter(store_id=store.id).order_by("id").values_list("number", flat=True)
    assert numbers == ["1001", "1002"]
    assert await OrderLine.filter(store_id=store.id).count() == 4
    assert camille.id  # both are hers


async def _counts() -> tuple[int, int, int, int]:
    return (
        await Order.all().count(),
        await OrderLine.all().count(),
        await Invoice.all().count(),
        await OutboxEmail.all().count(),
    )


async def test_orders_placed_at_once_each_take_their_own_number(database: Settings) -> None:
    store, camille = await acme_with_buyer()
    at_once = 8
    placed = await asyncio.gather(
        *(
            place_order(
                store,
                camille,
                lines=[Line(f"Beans {n}", 1, 1250)],
                placed_at=datetime.now(UTC),
                notify=database,
            )
            for n in range(at_once)
        )
    )
    assert sorted(order.number for order in placed) == [str(1001 + n) for n in range(at_once)]
    subjects = await OutboxEmail.all().values_list("subject", flat=True)
    assert sorted(subjects) == sorted(f"Your Acme Coffee order {o.number}" for o in placed)
    assert await OrderLine.all().count() == at_once


async def test_an_invoice_email_is_never_sent_without_its_pdf(database: Settings) -> None:
    """A sender that cannot resolve the attachment's kind fails the send (the job retries it),
    rather than sending the email without its file."""
    await acme_with_buyer()
    record_order(database)
    assert payfacile(database, "invoices", "issue", "--store", "acme", "1001").returncode == 0
    row = await OutboxEmail.filter(subject__contains="INV-000001").get()
    with pytest.raises(ValueError, match="invoice_pdf"):
        await Mailer(database).send(row)


async def test_an_order_number_the_store_has_is_refused(database: Settings) -> None:
    store, camille = await acme_with_buyer()
    lines = [Line("Mug", 1, 900)]
    await place_order(store, camille, number="A-1", lines=lines, placed_at=datetime.now(UTC))
    before = await _counts()
    with pytest.raises(Conflict, match="already has an order A-1"):
        await place_order(
            store, camille, number="A-1", lines=lines, placed_at=datetime.now(UTC), notify=database
        )
    assert await _counts() == before
