"""Invoice PDFs: one click, frozen at issue, stored once, cached by ETag, only for their buyer."""

from __future__ import annotations

import asyncio
import http.server
import io
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image
from quart.typing import TestClientProtocol as Client
from werkzeug.datastructures import Headers

from payfacile.app import background_work
from payfacile.platform.config import Settings
from payfacile.platform.jobs import dispatch_due
from payfacile.portal.invoices import issue_invoice
from payfacile.portal.models import Customer, Invoice, OrderStatus
from payfacile.portal.orders import Line, place_order
from payfacile.portal.pdf import Branding, html_to_pdf
from payfacile.tenants import stores
from payfacile.tenants.models import Store
from payfacile.tenants.scope import scoped
from tests.conftest import RunningApp, require_tool
from tests.factories import make_customer, make_store
from tests.platform.test_jobs import background
from tests.portal.test_auth import ACME, OTHER, acme_with_buyer, sign_in

ISSUED = datetime(2026, 3, 14, 9, tzinfo=UTC)


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    tool = require_tool("pdftotext", "poppler-utils")
    path = tmp_path / "invoice.pdf"
    path.write_bytes(pdf)
    result = subprocess.run([tool, "-layout", str(path), "-"], capture_output=True, check=True)
    return result.stdout.decode()


def pdf_images(pdf: bytes, tmp_path: Path) -> list[str]:
    """One line per image in the PDF, from `pdfimages -list`."""
    path = tmp_path / "images.pdf"
    path.write_bytes(pdf)
    tool = require_tool("pdfimages", "poppler-utils")
    result = subprocess.run([tool, "-list", str(path)], capture_output=True, check=True)
    return result.stdout.decode().splitlines()[2:]  # after the header and its rule


async def invoiced(
    store: Store, buyer: Customer, *, lines: int = 3, number: str = "1001"
) -> Invoice:
    order = await place_order(
        store,
        buyer,
        number=number,
        placed_at=ISSUED,
        status=OrderStatus.PAID,
        lines=[Line(f"Beans lot {n}", n, 1250, tax_rate_bp=2000) for n in range(1, lines + 1)],
    )
    return await issue_invoice(store, order, issued_at=ISSUED)


async def download(client: Client, number: str, **headers: str) -> tuple[int, bytes, Headers]:
    response = await client.get(f"/portal/invoices/{number}.pdf", headers={**ACME, **headers})
    return response.status_code, await response.get_data(), response.headers


async def test_one_click_downloads_the_invoice_as_a_pdf(client: Client, tmp_path: Path) -> None:
    store, buyer = await acme_with_buyer()
    invoice = await invoiced(store, buyer, lines=20)
    await sign_in(client)
    status, pdf, headers = await download(client, invoice.number)
    assert status == 200
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Content-Disposition"] == 'attachment; filename="INV-000001.pdf"'
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf, tmp_path)
    assert "INV-000001" in text
    assert "Acme Coffee" in text
    assert "Camille" in text
    for n in (1, 7, 20):
        assert f"Beans lot {n}" in text
    assert "€3,150.00" in text  # 210 × €12.50 + 20 % VAT


async def test_the_pdf_is_stored_at_first_download_and_then_served_as_is(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    invoice = await invoiced(store, buyer)
    assert invoice.pdf is None
    await sign_in(client)
    _, first, headers = await download(client, invoice.number)
    stored = await scoped(store).get(Invoice, id=invoice.id)
    assert stored.pdf == first
    assert headers["ETag"] == f'"{stored.etag}"'
    assert "private" in headers["Cache-Control"]
    _, second, again = await download(client, invoice.number)
    assert second == first
    assert again["ETag"] == headers["ETag"]

    status, body, cached = await download(
        client, invoice.number, **{"If-None-Match": headers["ETag"]}
    )
    assert (status, body) == (304, b"")
    assert cached["ETag"] == headers["ETag"]
    status, _, _ = await download(client, invoice.number, **{"If-None-Match": '"other"'})
    assert status == 200


async def test_an_invoice_stays_as_issued(client: Client, tmp_path: Path) -> None:
    store, buyer = await acme_with_buyer()
    invoice = await invoiced(store, buyer)
    await scoped(store).update(buyer, name="Someone Else", address_line1="1 New Street")
    await Store.filter(id=store.id).update(name="Renamed Coffee")
    await sign_in(client)
    text = pdf_text((await download(client, invoice.number))[1], tmp_path)
    assert "Camille" in text
    assert "Someone Else" not in text
    assert "Acme Coffee" in text
    assert "Renamed Coffee" not in text


async def test_a_french_store_issues_french_invoices_with_its_branding(
    client: Client, tmp_path: Path, services: RunningApp
) -> None:
    french = {
        "name": "Atelier Lumière",
        "locale": "fr_FR",
        "currency": "EUR",
        "address_line1": "12 rue des Artisans",
        "postal_code": "69002",
        "city": "Lyon",
        "country": "FR",
        "vat_number": "FR40123456789",
        "brand_color": "#0f766e",
    }
    store, buyer = await acme_with_buyer(store=french, country="BE")
    await stores.set_logo(store, LOGO, hosts=services.hosts)
    invoice = await invoiced(store, buyer, lines=2)
    await sign_in(client)
    _, pdf, _ = await download(client, invoice.number)
    text = pdf_text(pdf, tmp_path)
    for words in ("Facture", "Numéro de TVA", ": FR40123456789", "69002 Lyon", "Belgique", "45,00"):
        assert words in text, words
    for words in ("Montant HT", "Sous-total HT", "TVA 20 % sur 37,50", "Total TTC"):
        assert words in text, words
    assert len(pdf_images(pdf, tmp_path)) == 1  # the logo


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 32), "#0f766e").save(out, format="PNG")
    return out.getvalue()


LOGO = png()


async def test_markup_in_a_name_is_text_in_the_pdf(client: Client, tmp_path: Path) -> None:
    store, buyer = await acme_with_buyer()
    await scoped(store).update(buyer, name="<b>Camille</b> & <i>co</i>")
    invoice = await invoiced(store, buyer)
    await sign_in(client)
    text = pdf_text((await download(client, invoice.number))[1], tmp_path)
    assert "<b>Camille</b> & <i>co</i>" in text


async def test_the_buyers_company_number_is_printed_under_their_vat_number(
    client: Client, tmp_path: Path
) -> None:
    store, buyer = await acme_with_buyer(
        company="Martin & Fils", vat_number="FR40303265045", company_number="73282932000074"
    )
    invoice = await invoiced(store, buyer)
    older = await invoiced(store, buyer, number="1002")
    snapshot = dict(older.snapshot, buyer=dict(older.snapshot["buyer"]))
    del snapshot["buyer"]["company_number"]  # frozen before buyers had one
    await scoped(store).query(Invoice).filter(id=older.id).update(snapshot=snapshot)
    await sign_in(client)
    text = pdf_text((await download(client, invoice.number))[1], tmp_path)
    assert "VAT number: FR40303265045" in text
    assert "Company number: 73282932000074" in text
    assert text.index("FR40303265045") < text.index("73282932000074")
    status, pdf, _ = await download(client, older.number)
    assert status == 200
    assert "Company number" not in pdf_text(pdf, tmp_path)


@pytest.fixture
def listener() -> Iterator[tuple[int, list[str]]]:
    """A web server on the loopback that records every request it gets."""
    hits: list[str] = []

    class Record(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Record)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], hits
    server.shutdown()
    server.server_close()


def test_the_renderer_fetches_nothing_from_the_network_or_the_disk(
    listener: tuple[int, list[str]], tmp_path: Path
) -> None:
    port, hits = listener
    html = (
        f'<img src="http://127.0.0.1:{port}/img.png">'
        f"<style>@import url(http://127.0.0.1:{port}/x.css);</style>"
        '<img src="/etc/hostname"><img src="file:///etc/hostname"><p>Still rendered</p>'
    )
    pdf = html_to_pdf(html, Branding(color="#000000"))
    assert hits == []
    assert "Still rendered" in pdf_text(pdf, tmp_path)


async def test_another_buyers_or_stores_invoice_is_a_404(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    someone = await make_customer(store, "someone@example.com")
    theirs = await invoiced(store, someone, number="2001")
    other = await make_store("other")
    elsewhere = await invoiced(other, await make_customer(other, "x@example.com"), number="3001")
    await sign_in(client)
    assert theirs.number == "INV-000001"
    assert elsewhere.number == "INV-000001"
    mine = await invoiced(store, buyer, number="1001")
    assert mine.number == "INV-000002"
    assert (await download(client, "INV-000002"))[0] == 200
    assert (await download(client, "INV-000001"))[0] == 404  # someone's, in this store
    assert (await download(client, "INV-000001", **{"If-None-Match": "*"}))[0] == 404
    assert (await download(client, "INV-999999"))[0] == 404
    other_store = await client.get("/portal/invoices/INV-000001.pdf", headers=OTHER)
    assert other_store.status_code == 303  # no session there: sign in first


async def test_signed_out_an_invoice_leads_to_sign_in(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    await invoiced(store, buyer)
    status, _, headers = await download(client, "INV-000001")
    assert status == 303
    assert headers["Location"] == "/portal/login?next=/portal/invoices/INV-000001.pdf"


def big_logo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (128, 64), "#b91c1c").save(out, format="PNG")
    return out.getvalue()


def pixels_of(pdf: bytes, tmp_path: Path, color: str) -> int:
    """How many pixels of the first page, rendered at 50 dpi, have this colour."""
    tool = require_tool("pdftoppm", "poppler-utils")
    source = tmp_path / "colours.pdf"
    source.write_bytes(pdf)
    subprocess.run([tool, "-r", "50", "-png", "-singlefile", str(source), str(tmp_path / "p")])
    wanted = tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
    with Image.open(tmp_path / "p.png") as page:
        return sum(
            count
            for count, pixel in page.convert("RGB").getcolors(1 << 20) or []
            if all(abs(a - b) <= 2 for a, b in zip(pixel, wanted, strict=True))
        )


async def test_an_invoice_keeps_the_branding_it_was_issued_with(
    client: Client, tmp_path: Path, services: RunningApp
) -> None:
    store, buyer = await acme_with_buyer(store={"brand_color": "#0f766e"})
    await stores.set_logo(store, LOGO, hosts=services.hosts)  # 64 × 32
    invoice = await invoiced(store, buyer)
    await stores.set_logo(store, big_logo(), hosts=services.hosts)  # 128 × 64, red
    await Store.filter(id=store.id).update(brand_color="#b91c1c")
    await sign_in(client)
    _, pdf, _ = await download(client, invoice.number)
    (image,) = pdf_images(pdf, tmp_path)
    assert image.split()[3:5] == ["64", "32"], image  # the logo at issue
    assert pixels_of(pdf, tmp_path, "#0f766e") > 100  # the colour at issue
    assert pixels_of(pdf, tmp_path, "#b91c1c") == 0


async def test_the_pdf_is_rendered_by_background_work_at_issue(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    store, buyer = await acme_with_buyer()
    invoice = await invoiced(store, buyer)
    assert invoice.pdf is None
    async with background(settings.model_copy(update={"scheduler_interval": 0.05})):
        stored = await until_rendered(store, invoice)
    assert stored.pdf is not None
    assert stored.pdf.startswith(b"%PDF-")
    assert stored.done_at is not None
    await sign_in(client)
    status, pdf, headers = await download(client, invoice.number)
    assert (status, pdf) == (200, stored.pdf)  # served as rendered at issue
    assert headers["ETag"] == f'"{stored.etag}"'
    assert "Beans lot 3" in pdf_text(pdf, tmp_path)


async def until_rendered(store: Store, invoice: Invoice, *, within: float = 30.0) -> Invoice:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = await scoped(store).get(Invoice, id=invoice.id)
        if found.done_at is not None:
            return found
        await asyncio.sleep(0.05)
    found = await scoped(store).get(Invoice, id=invoice.id)
    pytest.fail(f"no PDF within {within} s: {found.attempts} attempts, {found.last_error!r}")


async def test_a_download_before_the_job_renders_and_the_job_then_has_nothing_to_do(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    store, buyer = await acme_with_buyer()
    invoice = await invoiced(store, buyer)
    await sign_in(client)
    status, pdf, _ = await download(client, invoice.number)
    assert status == 200
    stored = await scoped(store).get(Invoice, id=invoice.id)
    assert (stored.pdf, stored.done_at is not None) == (pdf, True)
    kicked: list[str] = []

    async def kick(kind: str, row_id: int, token: str) -> None:
        kicked.append(kind)

    await dispatch_due(kick, background_work(settings, scheduler=False, worker=False).jobs)
    assert "invoice_pdf" not in kicked


async def test_an_invoice_is_in_its_buyers_language_as_issued(
    client: Client, tmp_path: Path
) -> None:
    """A buyer who chose French gets French invoices from an English store; the language is
    frozen at issue: a PDF rendered later, or again, stays in it. A buyer who chose none
    gets the store's."""
    store, buyer = await acme_with_buyer(language="fr")
    invoice = await invoiced(store, buyer)
    assert invoice.snapshot["language"] == "fr"
    await scoped(store).update(buyer, language="en")
    await sign_in(client)
    first = pdf_text((await download(client, invoice.number))[1], tmp_path)
    for words in ("Facture", "DATE D’ÉMISSION", "14 mars 2026", "Total TTC", "90,00"):
        assert words in first, words
    await scoped(store).query(Invoice).filter(id=invoice.id).update(pdf=None, etag="")
    again = pdf_text((await download(client, invoice.number))[1], tmp_path)
    assert "Facture" in again
    assert "Invoice" not in again

    later = await invoiced(store, buyer, number="1002")  # the buyer's English now
    text = pdf_text((await download(client, later.number))[1], tmp_path)
    assert "DATE OF ISSUE" in text
    assert "14 Mar 2026" in text
    await scoped(store).update(buyer, language="")
    await Store.filter(id=store.id).update(locale="fr")
    store = await Store.get(id=store.id)
    third = await invoiced(store, buyer, number="1003")  # none chosen: the store's
    assert third.snapshot["language"] == "fr"
