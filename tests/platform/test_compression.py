"""Answers compressed for clients that take it: pages and JSON, never PDFs, images or tiny
bodies; `Vary: Accept-Encoding` for caches."""

from __future__ import annotations

import gzip
import re

import brotli
import pytest
from quart.typing import TestClientProtocol as Client

from payfacile.platform.compression import MINIMUM_SIZE
from tests.factories import make_store
from tests.portal.test_auth import ACME, acme_with_buyer, sign_in
from tests.portal.test_invoices import invoiced

# What differs between two renders of the same page: the style nonce and the CSRF token.
PER_RENDER = re.compile(r'(nonce|name="csrf_token" value)="[^"]+"')


def same_page(html: str) -> str:
    return PER_RENDER.sub(r'\1="…"', html)


async def test_a_page_comes_gzipped_to_a_client_that_asks_and_plain_otherwise(
    client: Client,
) -> None:
    await make_store("acme")
    plain = await client.get("/portal/login", headers=ACME)
    assert "Content-Encoding" not in plain.headers
    assert "Accept-Encoding" in plain.headers["Vary"]
    html = await plain.get_data(as_text=True)
    assert html.lstrip().startswith("<!doctype html>")

    zipped = await client.get("/portal/login", headers={**ACME, "Accept-Encoding": "gzip"})
    assert zipped.status_code == 200
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    body = await zipped.get_data()
    assert int(zipped.headers["Content-Length"]) == len(body) < len(html.encode()) / 2
    assert same_page(gzip.decompress(body).decode()) == same_page(html)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("gzip, deflate, br, zstd", "br"),  # what browsers send: brotli first
        ("br;q=0.5, gzip", "gzip"),
        ("gzip;q=0, br;q=0", None),
        ("identity", None),
        ("*", "br"),
    ],
)
async def test_the_encoding_follows_the_clients_preferences(
    client: Client, accept: str, expected: str | None
) -> None:
    await make_store("acme")
    response = await client.get("/portal/login", headers={**ACME, "Accept-Encoding": accept})
    assert response.headers.get("Content-Encoding") == expected
    body = await response.get_data()
    html = brotli.decompress(body) if expected == "br" else body
    assert b"</html>" in (gzip.decompress(html) if expected == "gzip" else html)


async def test_a_pdf_is_sent_as_it_is(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    invoice = await invoiced(store, buyer)
    await sign_in(client)
    response = await client.get(
        f"/portal/invoices/{invoice.number}.pdf", headers={**ACME, "Accept-Encoding": "gzip, br"}
    )
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert "Content-Encoding" not in response.headers
    assert (await response.get_data()).startswith(b"%PDF-")


async def test_a_tiny_answer_is_not_compressed(client: Client) -> None:
    response = await client.get(
        "/healthz", headers={"Host": "payfacile.localhost", "Accept-Encoding": "gzip"}
    )
    assert response.mimetype == "application/json"
    assert len(await response.get_data()) < MINIMUM_SIZE
    assert "Content-Encoding" not in response.headers


async def test_an_error_page_is_compressed_too(client: Client) -> None:
    await make_store("acme")
    response = await client.get("/portal/nope", headers={**ACME, "Accept-Encoding": "br"})
    assert response.status_code == 404
    assert response.headers["Content-Encoding"] == "br"
    assert b"</html>" in brotli.decompress(await response.get_data())
