"""VAT per rate on the net total of the rate, rounded half-up; amounts say whether they
include VAT, and the lines add up to the subtotal printed under them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from quart.typing import TestClientProtocol as Client

from payfacile.portal.invoices import issue_invoice
from payfacile.portal.models import Customer, Order, OrderStatus
from payfacile.portal.orders import Line, place_order
from payfacile.portal.vat import vat_on
from payfacile.tenants.models import Store
from tests.portal.test_auth import ACME, acme_with_buyer, sign_in
from tests.portal.test_invoices import download, pdf_text

PLACED = datetime(2026, 3, 14, 9, tzinfo=UTC)
# Two lines of €19.99 at 20 %: VAT line by line, floored, gave €7.98; on the €39.98 of the
# rate it is €8.00. Three teas of €1.00 at 5.5 %: €0.165 of VAT, half a cent, rounds up to €0.17.
LINES = [
    Line("Beans", 1, 1999, tax_rate_bp=2000),
    Line("Filters", 1, 1999, tax_rate_bp=2000),
    Line("Tea", 3, 100, tax_rate_bp=550),
]
LINE_AMOUNT = re.compile(r'<td class="numeric">([^<]*)</td></tr>')


async def odd_cents_order(store: Store, buyer: Customer) -> Order:
    return await place_order(
        store, buyer, number="1001", placed_at=PLACED, status=OrderStatus.PAID, lines=LINES
    )


def test_vat_is_rounded_half_up_to_the_cent() -> None:
    assert vat_on(3998, 2000) == 800  # 799.6
    assert vat_on(300, 550) == 17  # 16.5
    assert vat_on(5, 1000) == 1  # 0.5
    assert vat_on(4, 1000) == 0  # 0.4
    assert vat_on(-5, 1000) == -1  # a credit: half away from zero
    assert vat_on(1999, 0) == 0


async def test_an_order_computes_vat_per_rate_and_its_lines_add_up(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    order = await odd_cents_order(store, buyer)
    assert (order.subtotal, order.tax_total, order.total) == (4298, 817, 5115)
    await sign_in(client)
    html = await (await client.get("/portal/orders/1001", headers=ACME)).get_data(as_text=True)
    for words in ("Unit price excl. VAT", "Amount excl. VAT", "Subtotal excl. VAT"):
        assert words in html, words
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert LINE_AMOUNT.findall(body) == ["€19.99", "€19.99", "€3.00"]  # they add up: €42.98
    footer = html.split("<tfoot>", 1)[1]
    for words in ("€42.98", "VAT 5.5% on €3.00", "€0.17", "VAT 20% on €39.98", "€8.00"):
        assert words in footer, words
    assert re.search(r"Total incl\. VAT.*€51\.15", footer, re.S)


async def test_the_invoice_computes_vat_per_rate_and_says_what_includes_it(
    client: Client, tmp_path: Path
) -> None:
    store, buyer = await acme_with_buyer()
    invoice = await issue_invoice(store, await odd_cents_order(store, buyer), issued_at=PLACED)
    assert [tax["amount"] for tax in invoice.snapshot["taxes"]] == [17, 800]
    await sign_in(client)
    text = pdf_text((await download(client, invoice.number))[1], tmp_path)
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}
    assert rows["Beans"][-1] == rows["Filters"][-1] == "€19.99"  # the line amount, excl. VAT
    assert rows["Tea"][-1] == "€3.00"
    assert "Unit price excl. VAT" in text
    assert "Amount excl. VAT" in text
    assert re.search(r"Subtotal excl\. VAT\s+€42\.98", text)
    assert re.search(r"VAT 5\.5% on €3\.00\s+€0\.17", text)
    assert re.search(r"VAT 20% on €39\.98\s+€8\.00", text)
    assert re.search(r"Total incl\. VAT\s+€51\.15", text)
