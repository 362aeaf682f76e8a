"""Static files: linked under their content's hash and cached for a year; the plain address
still answers, revalidated; compressed once for clients that take it."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import brotli
import pytest
from quart.typing import TestClientProtocol as Client

from payfacile.platform.assets import IMMUTABLE, Assets
from tests.factories import make_store

STORE = {"Host": "acme.payfacile.localhost"}
STYLESHEET = re.compile(r'<link rel="stylesheet" href="(/static/app\.([0-9a-f]+)\.css)">')
CSS = (Path(__file__).parents[2] / "payfacile" / "static" / "app.css").read_bytes()
TEMPLATES = Path(__file__).parents[2] / "payfacile" / "templates"


async def linked_stylesheet(client: Client) -> str:
    page = await (await client.get("/portal/login", headers=STORE)).get_data(as_text=True)
    found = STYLESHEET.search(page)
    assert found is not None, "the page links no hashed stylesheet"
    assert found.group(2) == hashlib.sha256(CSS).hexdigest()[:12]
    return found.group(1)


async def test_a_page_links_the_stylesheet_by_its_hash_cached_for_a_year(client: Client) -> None:
    await make_store("acme")
    response = await client.get(await linked_stylesheet(client), headers=STORE)
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    assert await response.get_data() == CSS
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Content-Encoding" not in response.headers
    assert "Accept-Encoding" in response.headers["Vary"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("encoding", "decode"), [("br", brotli.decompress), ("gzip", gzip.decompress)]
)
async def test_the_stylesheet_comes_compressed_to_clients_that_take_it(
    client: Client, encoding: str, decode: object
) -> None:
    await make_store("acme")
    url = await linked_stylesheet(client)
    response = await client.get(url, headers={**STORE, "Accept-Encoding": f"{encoding}, x"})
    assert response.headers["Content-Encoding"] == encoding
    body = await response.get_data()
    assert len(body) < len(CSS) / 3
    assert decode(body) == CSS  # type: ignore[operator]
    assert response.headers["Cache-Control"] == IMMUTABLE


async def test_the_plain_address_still_answers_and_revalidates(client: Client) -> None:
    await make_store("acme")
    response = await client.get("/static/app.css", headers=STORE)
    assert response.status_code == 200
    assert await response.get_data() == CSS
    assert response.headers["Cache-Control"] == "no-cache"
    etag = response.headers["ETag"]
    again = await client.get("/static/app.css", headers={**STORE, "If-None-Match": etag})
    assert again.status_code == 304
    assert await again.get_data() == b""
    hashed = await client.get(await linked_stylesheet(client), headers=STORE)
    assert hashed.headers["ETag"] == etag


async def test_an_old_hash_leads_to_the_current_file_and_nonsense_is_a_404(
    client: Client,
) -> None:
    await make_store("acme")
    current = await linked_stylesheet(client)
    old = await client.get("/static/app.0123456789ab.css", headers=STORE)
    assert old.status_code == 302
    assert old.headers["Location"] == current
    assert old.headers["Cache-Control"] == "no-cache"
    for missing in ("/static/nope.css", "/static/nope.0123456789ab.css", "/static/app.css.map"):
        assert (await client.get(missing, headers=STORE)).status_code == 404


def test_a_changed_file_gets_a_new_address(tmp_path: Path) -> None:
    (tmp_path / "site.css").write_text("body { color: black }")
    (tmp_path / "fonts").mkdir()
    (tmp_path / "fonts" / "LICENSE").write_text("OFL")
    (tmp_path / ".hidden").write_text("not served")
    before = Assets(tmp_path)
    first = before.url("site.css")
    assert re.fullmatch(r"/static/site\.[0-9a-f]{12}\.css", first)
    assert re.fullmatch(r"/static/fonts/LICENSE\.[0-9a-f]{12}", before.url("fonts/LICENSE"))
    assert Assets(tmp_path).url("site.css") == first  # the same bytes, the same address
    (tmp_path / "site.css").write_text("body { color: navy }")
    assert before.url("site.css") == first  # read once: this process keeps what it read
    assert Assets(tmp_path).url("site.css") != first
    with pytest.raises(LookupError):
        before.url(".hidden")


def test_every_template_links_static_files_by_their_hash() -> None:
    plain = re.compile(r"""url_for\(\s*['"]static['"]|(?:href|src)=["']/static/""")
    offenders = [
        str(path.relative_to(TEMPLATES))
        for path in TEMPLATES.rglob("*.html")
        if plain.search(path.read_text())
    ]
    assert offenders == [], "use static_url('name') in these templates"
