"""The web basics every page builds on, as a visitor (or an attacker) notices them."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from quart import Quart, Response
from quart.typing import TestClientProtocol as Client

from payfacile.app import create_app
from payfacile.platform.config import Settings
from tests.conftest import TEST_REDIS_URL, make_settings
from tests.factories import make_store
from tests.portal.test_auth import acme_with_buyer, post, sign_in

STORE_HOST = "acme.payfacile.localhost"
CENTRAL_HOST = "payfacile.localhost"
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"
STYLE_NONCE = re.compile(r'<style nonce="([^"]+)">')
PAYMENTS = "/portal/payment-methods"
CSRF_INPUT = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Quart]:
    """An app built from `settings`, started like a server (database connected)."""
    application = create_app(settings)
    async with application.test_app():
        yield application


def cookies_set(response: Response) -> dict[str, dict[str, str]]:
    """The response's Set-Cookie headers: name → {"value": …, attribute (lower-case): …}."""
    found: dict[str, dict[str, str]] = {}
    for header in response.headers.getlist("Set-Cookie"):
        first, *attributes = (part.strip() for part in header.split(";"))
        name, _, value = first.partition("=")
        cookie = {"value": value}
        for attribute in attributes:
            key, _, attribute_value = attribute.partition("=")
            cookie[key.lower()] = attribute_value
        found[name] = cookie
    return found


async def open_page(client: Client, host: str = STORE_HOST, path: str = "/portal/login") -> str:
    """GET a page like a browser would (the CSRF cookie lands in the client's jar)."""
    response = await client.get(path, headers={"Host": host})
    assert response.status_code == 200
    return await response.get_data(as_text=True)


async def form_token(client: Client, host: str = STORE_HOST, path: str = "/portal/login") -> str:
    match = CSRF_INPUT.search(await open_page(client, host, path))
    assert match is not None, "the page has no CSRF field"
    return match.group(1)


async def choose_language(
    client: Client,
    language: str,
    *,
    token: str | None,
    next_url: str = "/portal/",
    headers: dict[str, str] | None = None,
    **options: Any,
) -> Response:
    form = {"language": language, "next": next_url}
    if token is not None:
        form["csrf_token"] = token
    return await client.post(
        "/language", form=form, headers={"Host": STORE_HOST, **(headers or {})}, **options
    )


async def error_of(response: Response) -> dict[str, str]:
    body = json.loads(await response.get_data(as_text=True))
    error: dict[str, str] = body["error"]
    return error


# Security headers


@pytest.mark.parametrize(("host", "path"), [(STORE_HOST, "/portal/login"), (CENTRAL_HOST, "/")])
async def test_html_pages_carry_the_security_headers(client: Client, host: str, path: str) -> None:
    await make_store("acme")
    response = await client.get(path, headers={"Host": host})
    assert response.status_code == 200
    page = await response.get_data(as_text=True)
    nonce = STYLE_NONCE.search(page)
    assert nonce is not None
    csp = response.headers["Content-Security-Policy"]
    directives = {part.split()[0]: part for part in (p.strip() for p in csp.split(";"))}
    assert f"'nonce-{nonce.group(1)}'" in directives["style-src"]
    assert "unsafe-inline" not in csp
    assert directives["script-src"] == "script-src 'self'"
    assert directives["frame-ancestors"] == "frame-ancestors 'none'"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in response.headers


async def test_the_style_nonce_changes_on_every_request(client: Client) -> None:
    await make_store("acme")
    nonces = set()
    for _ in range(3):
        match = STYLE_NONCE.search(await open_page(client))
        assert match is not None
        nonces.add(match.group(1))
    assert len(nonces) == 3


async def test_error_pages_carry_the_same_headers(client: Client) -> None:
    await make_store("acme")
    response = await client.get("/no-such-page", headers={"Host": STORE_HOST})
    assert response.status_code == 404
    nonce = STYLE_NONCE.search(await response.get_data(as_text=True))
    assert nonce is not None
    assert f"'nonce-{nonce.group(1)}'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_production_adds_hsts_and_host_only_secure_cookies(
    settings: Settings, tmp_path: Path
) -> None:
    production = make_settings(
        tmp_path, settings.database_url, env="production", redis_prefix=settings.redis_prefix
    )
    async with serving(production) as app:
        await make_store("acme")
        client = app.test_client()
        response = await client.get("/portal/login", headers={"Host": STORE_HOST}, scheme="https")
        assert response.status_code == 200
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        cookies = cookies_set(response)
        assert "pf_csrf" not in cookies
        csrf = cookies["__Host-pf_csrf"]
        assert "secure" in csrf
        assert "httponly" in csrf
        assert csrf["path"] == "/"
        assert "domain" not in csrf

        match = CSRF_INPUT.search(await response.get_data(as_text=True))
        assert match is not None
        chosen = await choose_language(client, "fr", token=match.group(1), scheme="https")
        assert chosen.status_code == 303
        assert "secure" in cookies_set(chosen)["pf_lang"]


# CSRF


async def test_a_post_without_a_token_is_refused_and_changes_nothing(client: Client) -> None:
    await make_store("acme")
    await open_page(client)
    response = await choose_language(client, "fr", token=None)
    assert response.status_code == 403
    assert "This form expired" in await response.get_data(as_text=True)
    assert "pf_lang" not in cookies_set(response)
    assert '<html lang="en">' in await open_page(client)


async def test_a_post_with_the_page_token_changes_the_language(client: Client) -> None:
    await make_store("acme")
    token = await form_token(client)
    response = await choose_language(client, "fr", token=token, next_url="/portal/?tab=orders")
    assert response.status_code == 303
    assert response.headers["Location"] == "/portal/?tab=orders"
    cookie = cookies_set(response)["pf_lang"]
    assert cookie["value"] == "fr"
    assert "httponly" in cookie
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"
    assert "domain" not in cookie
    assert "secure" not in cookie
    assert '<html lang="fr">' in await open_page(client)


LANGUAGE_NEXT = re.compile(r'<form class="language"[^>]*>.*?name="next" value="([^"]*)"', re.S)


@pytest.mark.parametrize(
    ("form_path", "form", "back_to"),
    [
        ("/portal/login/link", {"link_email": "not an address"}, "/portal/login"),
        ("/portal/payment-methods/card", {"number": "4242", "expiry": "01/20"}, PAYMENTS),
        ("/portal/payment-methods/sepa", {"iban": "DE00", "holder": "C"}, PAYMENTS),
    ],
)
async def test_switching_language_on_a_page_that_answered_a_form_returns_to_its_page(
    client: Client, form_path: str, form: dict[str, str], back_to: str
) -> None:
    await acme_with_buyer()
    if back_to == PAYMENTS:
        await sign_in(client)
    answered = await post(client, form_path, form, page=back_to)
    assert answered.status_code == 422
    page = await answered.get_data(as_text=True)
    found = LANGUAGE_NEXT.search(page)
    assert found is not None, "the page has no language form"
    token = await form_token(client, path=back_to)
    response = await choose_language(client, "fr", token=token, next_url=found.group(1))
    assert response.status_code == 303
    assert response.headers["Location"] == back_to
    landed = await client.get(response.headers["Location"], headers={"Host": STORE_HOST})
    assert landed.status_code == 200
    assert '<html lang="fr">' in await landed.get_data(as_text=True)


async def test_the_token_header_works_in_place_of_the_field(client: Client) -> None:
    await make_store("acme")
    token = await form_token(client)
    response = await choose_language(client, "fr", token=None, headers={"X-CSRF-Token": token})
    assert response.status_code == 303
    assert cookies_set(response)["pf_lang"]["value"] == "fr"


async def test_another_clients_token_is_refused(app: Quart) -> None:
    await make_store("acme")
    victim, attacker = app.test_client(), app.test_client()
    attacker_token = await form_token(attacker)
    await open_page(victim)
    response = await choose_language(victim, "fr", token=attacker_token)
    assert response.status_code == 403
    assert "pf_lang" not in cookies_set(response)
    without_cookie = await choose_language(app.test_client(), "fr", token=attacker_token)
    assert without_cookie.status_code == 403


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("http://evil.example", 403),
        (f"http://{STORE_HOST}.evil.example", 403),
        ("http://payfacile.localhost", 403),
        ("null", 403),  # a sandboxed frame or a data: URL names no site
        (f"http://{STORE_HOST}", 303),
    ],
)
async def test_origin_must_be_this_host_even_with_a_valid_token(
    client: Client, origin: str, status: int
) -> None:
    await make_store("acme")
    token = await form_token(client)
    response = await choose_language(client, "fr", token=token, headers={"Origin": origin})
    assert response.status_code == status
    if status == 403:
        assert "another site" in await response.get_data(as_text=True)
        assert "pf_lang" not in cookies_set(response)


@pytest.mark.parametrize(
    "forged",
    [
        {"Origin": "http://[evil"},
        {"Origin": "http://evil.example:notaport"},
        {"X-CSRF-Token": "é" * 43},
        {"X-CSRF-Token": ""},
    ],
)
async def test_malformed_csrf_inputs_are_refused_not_crashes(
    client: Client, forged: dict[str, str]
) -> None:
    await make_store("acme")
    token = await form_token(client)
    response = await choose_language(client, "fr", token=token, headers=forged)
    assert response.status_code == 403
    assert "pf_lang" not in cookies_set(response)


async def test_a_non_ascii_form_token_is_refused_not_a_crash(client: Client) -> None:
    await make_store("acme")
    await open_page(client)
    response = await choose_language(client, "fr", token="jeton-forgé")
    assert response.status_code == 403


async def test_every_page_carries_another_token_and_each_is_accepted(client: Client) -> None:
    """The token is masked anew on every render (BREACH): no two pages repeat it."""
    await make_store("acme")
    first, second = await form_token(client), await form_token(client)
    page = await open_page(client)
    on_one_page = [*CSRF_INPUT.findall(page), await form_token(client)]
    assert len({first, second, *on_one_page}) == 2 + len(on_one_page)
    for token in (first, second, *on_one_page):
        response = await choose_language(client, "fr", token=token)
        assert response.status_code == 303


def _flip(token: str, at: int) -> str:
    return token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]


async def test_a_garbled_or_forged_token_is_refused(client: Client) -> None:
    await make_store("acme")
    token = await form_token(client)
    raw = base64.urlsafe_b64decode(token + "==")
    pad, masked = raw[:32], raw[32:]
    forged = [
        _flip(token, 5),  # in the pad
        _flip(token, 60),  # in the masked HMAC
        token[:-1],
        token + "AAAA",
        token[:43],  # the pad alone, as if it were the bare HMAC
        base64.urlsafe_b64encode(masked).decode(),  # the masked half alone
        base64.urlsafe_b64encode(bytes(64)).decode(),
        token.replace("-", "+").replace("_", "/") + "!",
        "A" * 200,
    ]
    for sent in forged:
        response = await choose_language(client, "fr", token=sent)
        assert response.status_code == 403, sent
        assert "pf_lang" not in cookies_set(response)
    # The bare HMAC, as pages carried it before masking, still opens a form left open.
    bare = bytes(a ^ b for a, b in zip(pad, masked, strict=True))
    legacy = base64.urlsafe_b64encode(bare).decode().rstrip("=")
    assert (await choose_language(client, "fr", token=legacy)).status_code == 303


@pytest.mark.parametrize(
    "next_url",
    [
        "//evil.example/x",
        "https://evil.example",
        "http:evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/\t/evil.example",
        "/\n/evil.example",
        "",
    ],
)
async def test_next_never_leads_away_from_this_host(client: Client, next_url: str) -> None:
    await make_store("acme")
    token = await form_token(client)
    response = await choose_language(client, "fr", token=token, next_url=next_url)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


async def test_a_line_break_in_next_goes_home_not_a_500(client: Client) -> None:
    await make_store("acme")
    token = await form_token(client)
    response = await choose_language(client, "fr", token=token, next_url="/\r\nSet-Cookie: x=1")
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert "x" not in cookies_set(response)


# Bad input


@pytest.mark.parametrize(
    ("language", "status", "message"),
    [
        ("de", 422, "Choose English or French."),
        ("", 422, "Choose English or French."),
        ("FR", 422, "Choose English or French."),
        ("fr\x00", 400, "This request holds a NUL character"),  # refused before the view
    ],
)
async def test_an_unknown_language_is_refused_and_changes_nothing(
    client: Client, language: str, status: int, message: str
) -> None:
    await make_store("acme")
    token = await form_token(client)
    response = await choose_language(client, language, token=token)
    assert response.status_code == status
    assert message in await response.get_data(as_text=True)
    assert "pf_lang" not in cookies_set(response)
    assert '<html lang="en">' in await open_page(client)


# Rate limit


async def test_more_than_30_language_changes_a_minute_are_refused(client: Client) -> None:
    await make_store("acme")
    token = await form_token(client)
    for attempt in range(30):  # every hit counts, whether it is valid or not
        language = "fr" if attempt % 2 else "de"
        response = await choose_language(client, language, token=token)
        assert response.status_code == (303 if language == "fr" else 422)

    refused = await choose_language(
        client, "en", token=token, headers={"Accept": "application/json"}
    )
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert 0 < wait <= 60
    error = await error_of(refused)
    assert error["code"] == "rate_limited"
    in_words = f"{wait} seconde" if wait < 60 else "1 minute"  # the last change kept was French
    assert f"Réessayez dans {in_words}" in error["message"]
    assert "pf_lang" not in cookies_set(refused)

    elsewhere = await choose_language(
        client, "en", token=token, scope_base={"client": ("198.51.100.7", 40000)}
    )
    assert elsewhere.status_code == 303


# Errors


async def test_an_unknown_path_is_a_404_page(client: Client) -> None:
    await make_store("acme")
    response = await client.get("/portal/nothing-here", headers={"Host": STORE_HOST})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "There is nothing at this address." in await response.get_data(as_text=True)


async def test_an_unknown_path_asked_as_json_is_a_json_error(client: Client) -> None:
    await make_store("acme")
    response = await client.get(
        "/portal/nothing-here", headers={"Host": STORE_HOST, "Accept": "application/json"}
    )
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert await error_of(response) == {
        "code": "not_found",
        "message": "There is nothing at this address.",
    }


async def test_a_wrong_method_is_a_405_once_csrf_passes(client: Client) -> None:
    await make_store("acme")
    token = await form_token(client)
    # CSRF runs before routing: an unsafe method without a token is refused first.
    unproven = await client.put("/portal/login", headers={"Host": STORE_HOST})
    assert unproven.status_code == 403
    response = await client.put(
        "/portal/login",
        headers={"Host": STORE_HOST, "X-CSRF-Token": token, "Accept": "application/json"},
    )
    assert response.status_code == 405
    assert await error_of(response) == {
        "code": "method_not_allowed",
        "message": "This page does not accept that kind of request.",
    }
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "HEAD"}
    safe = await client.get("/language", headers={"Host": STORE_HOST})
    assert safe.status_code == 405
    assert "POST" in safe.headers["Allow"]


NASTY_HOSTS = [
    "",
    " ",
    ":",
    ":80",
    "[",
    "[::1",
    "acme.payfacile.localhost:",
    "acme.payfacile.localhost:abc",
    "xn--.payfacile.localhost",
    "xn--zz-.payfacile.localhost",
    "☃.payfacile.localhost",
    "ÿ",
    "a\x00b.payfacile.localhost",
    ("a" * 63 + ".") * 5 + "payfacile.localhost",
    "%41cme.payfacile.localhost",
    "acme.payfacile.localhost/../",
]
NASTY_PATHS = [
    "/" + "a" * 20_000,
    "/portal/login" + "é" * 2_000,
    "/%00",
    "/portal/%00",
    "/portal/%ff%fe",
    "/portal/☃",
    "/static/%00",
    "/.well-known/acme-challenge/%00",
    "/brand/logo",
    "//evil.example",
    "/portal/?next=%00&x=%ff",
]


async def status_as_served(app: Quart, path: str, headers: dict[str, str]) -> int:
    """The status a server sends: an exception escaping the app is Uvicorn's plain 500.

    No cookie jar: the test client's jar parses the Host as a URL and fails on some of these
    before the app sees them.
    """
    client = app.test_client(use_cookies=False)
    try:
        response = await client.get(path, headers=headers)
    except Exception:  # escaped every error handler
        return 500
    return response.status_code


async def test_nasty_hosts_are_a_4xx_never_a_500(app: Quart) -> None:
    await make_store("acme")
    answers = {
        (host, accept): await status_as_served(
            app, "/portal/login", {"Host": host, "Accept": accept}
        )
        for host in NASTY_HOSTS
        for accept in ("text/html", "application/json")
    }
    assert {key: status for key, status in answers.items() if not 400 <= status < 500} == {}


@pytest.mark.parametrize(
    "host", [".", "..", "acme..payfacile.localhost", "a" * 64 + ".payfacile.localhost"]
)
async def test_hosts_idna_refuses_are_a_400_not_a_500(app: Quart, host: str) -> None:
    """Werkzeug binds its URL adapter to the Host before any of our code runs, and raised
    outside every error handler on these (Uvicorn answered 500)."""
    await make_store("acme")
    assert await status_as_served(app, "/portal/login", {"Host": host}) == 400
    response = await app.test_client(use_cookies=False).get(
        "/portal/login", headers={"Host": host, "Accept": "application/json"}
    )
    assert (await error_of(response))["code"] == "bad_host"


async def test_nasty_paths_never_cause_a_500(app: Quart) -> None:
    await make_store("acme")
    answers = {
        (host, path[:40]): await status_as_served(app, path, {"Host": host})
        for path in NASTY_PATHS
        for host in (STORE_HOST, CENTRAL_HOST, "nope.payfacile.localhost")
    }
    assert {key: status for key, status in answers.items() if status >= 500} == {}


@pytest.mark.parametrize(
    "path",
    [
        "/static/../pyproject.toml",
        "/static/%2e%2e/%2e%2e/pyproject.toml",
        "/static/..%2f..%2fpyproject.toml",
        "/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
    ],
)
async def test_static_files_do_not_escape_their_folder(client: Client, path: str) -> None:
    await make_store("acme")
    response = await client.get(path, headers={"Host": STORE_HOST})
    assert response.status_code == 404
    assert "[tool.ruff]" not in await response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"--x\r\ngarbage"),
        ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data\r\n\r\n"),
        ("application/x-www-form-urlencoded", b"%%%\xff\xfe=&&=="),
        ("application/json", b"{not json"),
        ("text/plain", b"\x00" * 100),
    ],
)
async def test_nasty_bodies_never_cause_a_500(
    client: Client, content_type: str, body: bytes
) -> None:
    await make_store("acme")
    token = await form_token(client)
    response = await client.post(
        "/language",
        data=body,
        headers={"Host": STORE_HOST, "Content-Type": content_type, "X-CSRF-Token": token},
    )
    assert 400 <= response.status_code < 500


async def test_a_body_over_the_limit_is_a_413(client: Client) -> None:
    await make_store("acme")
    token = await form_token(client)
    response = await client.post(
        "/language",
        data=b"language=fr&x=" + b"a" * (3 * 1024 * 1024),
        headers={
            "Host": STORE_HOST,
            "Content-Type": "application/x-www-form-urlencoded",
            "X-CSRF-Token": token,
        },
    )
    assert response.status_code == 413
    assert "pf_lang" not in cookies_set(response)


# Health


@pytest.mark.parametrize(
    "host",
    [CENTRAL_HOST, STORE_HOST, "127.0.0.1:8000", "[::1]", "10.0.0.7", "unknown.example", "b_d!"],
)
async def test_healthz_answers_on_any_host(client: Client, host: str) -> None:
    await make_store("acme")
    response = await client.get("/healthz", headers={"Host": host})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert json.loads(await response.get_data(as_text=True)) == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok" if TEST_REDIS_URL else "off"},
    }


async def test_a_redis_outage_fails_health_but_not_pages(
    settings: Settings, tmp_path: Path
) -> None:
    dead_redis = make_settings(
        tmp_path, settings.database_url, redis_url=DEAD_REDIS_URL, redis_prefix="pft:dead:"
    )
    async with serving(dead_redis) as app:
        await make_store("acme", name="Acme Coffee")
        client = app.test_client()

        health = await client.get("/healthz", headers={"Host": "10.0.0.7"})
        assert health.status_code == 503
        report = json.loads(await health.get_data(as_text=True))
        assert report["status"] == "failing"
        assert report["checks"]["database"] == "ok"
        assert report["checks"]["redis"].startswith("failing")

        page = await open_page(client)
        assert "Acme Coffee" in page
        # The rate limiter cannot count without Redis; it lets people through.
        match = CSRF_INPUT.search(page)
        assert match is not None
        chosen = await choose_language(client, "fr", token=match.group(1))
        assert chosen.status_code == 303
        assert '<html lang="fr">' in await open_page(client)


# Static files


@pytest.mark.parametrize("host", [STORE_HOST, CENTRAL_HOST])
async def test_the_stylesheet_is_served_as_css(client: Client, host: str) -> None:
    await make_store("acme")
    response = await client.get("/static/app.css", headers={"Host": host})
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    assert "--brand" in await response.get_data(as_text=True)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
