"""Bad input is never a 500: every route of the URL map, walked with hostile values, signed
out and signed in (buyer, merchant, admin), answers 4xx or better."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from quart import Quart
from quart.typing import TestClientProtocol as Client

from payfacile.platform.models import SessionKind
from payfacile.platform.services import EXTENSION, Services
from payfacile.portal.profile import EDITABLE
from payfacile.tenants.models import (
    DomainStatus,
    Membership,
    MembershipRole,
    MerchantUser,
    PlatformAdmin,
)
from payfacile.tenants.scope import scoped
from tests.factories import make_domain, make_order, make_product, make_store, make_subscription
from tests.portal.test_auth import ACME, acme_with_buyer, post, sign_in

STORE_HOST = "acme.payfacile.localhost"
MOVED_HOST = "moved.payfacile.localhost"  # redirects its portal to an active primary domain
CENTRAL_HOST = "payfacile.localhost"
ARGUMENT = re.compile(r"<(?:[^:<>]+:)?[^<>]+>")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CSRF_COOKIE = "fuzz-csrf-cookie-value"

# Path values: ordinary, past a 32-bit and a 64-bit column, NUL, an encoded line break.
PATH_VALUES = (
    "1",
    "2147483648",
    "9223372036854775808",
    "99999999999999999999999",
    "-2147483649",
    "%00",
    "a%00b",
    "%0d%0aSet-Cookie:%20x=1",
)
QUERIES = (
    "?before=1.99999999999999999999",
    "?after=1.2147483648",
    "?before=99999999999999999999999.1",
    "?next=%00&done=%00",
    "?next=%0d%0a/evil",
)
FORM_FIELDS = sorted(
    {
        *EDITABLE,
        "action",
        "confirm",
        "current",
        "cvc",
        "email",
        "email_password",
        "expiry",
        "gateway_token",
        "holder",
        "iban",
        "language",
        "link_email",
        "new_email",
        "next",
        "number",
        "owner_email",
        "password",
        "reason",
        "slug",
    }
)


HOSTILE_FORM = {name: "a\x00b" for name in FORM_FIELDS}
Request = tuple[str, str, str, dict[str, str] | None]


@dataclass
class Visitor:
    """Who sends the requests, where: a cookie header (CSRF, and a session when signed in)
    and `home`, a page only they may open."""

    name: str
    hosts: tuple[str, ...]
    session: str = ""
    home: str = ""

    def headers(self, host: str) -> dict[str, str]:
        cookies = [f"pf_csrf={CSRF_COOKIE}"] + (
            [f"pf_session={self.session}"] if self.session else []
        )
        return {"Host": host, "Cookie": "; ".join(cookies)}


async def served(
    app: Quart, method: str, path: str, headers: dict[str, str], **extra: object
) -> int:
    """The status a server would send: an exception escaping the app is Uvicorn's 500."""
    client = app.test_client(use_cookies=False)
    try:
        response = await client.open(path, method=method, headers=headers, **extra)  # type: ignore[arg-type]
    except Exception:
        return 500
    return response.status_code


async def form_token(app: Quart) -> str:
    """The form token of `CSRF_COOKIE` (the same on every host and for everyone)."""
    client = app.test_client(use_cookies=False)
    headers = Visitor("signed out", ()).headers(STORE_HOST)
    body = await (await client.get("/portal/login", headers=headers)).get_data(as_text=True)
    match = CSRF.search(body)
    assert match is not None, body[:300]
    return match.group(1)


def paths(rule: str) -> list[str]:
    """The rule with each argument set to every hostile value in turn."""
    if not ARGUMENT.search(rule):
        return [rule]
    return [ARGUMENT.sub(value, rule) for value in PATH_VALUES]


async def visitors(app: Quart) -> list[Visitor]:
    """Signed out on every host; a buyer on the store; a merchant and an admin centrally."""
    acme, camille = await acme_with_buyer()
    product = await make_product(acme)
    await make_subscription(acme, camille, product)
    await make_order(acme, camille, "1001")
    moved = await make_store("moved")
    await make_domain(moved, "shop.example.com", DomainStatus.ACTIVE, is_primary=True)
    owner = await MerchantUser.create(email="owner@example.com")
    await scoped(acme).create(Membership, user_id=owner.id, role=MembershipRole.OWNER)
    admin = await PlatformAdmin.create(email="admin@example.com")
    found: Services = app.extensions[EXTENSION]

    async def session(kind: SessionKind, subject: int, store: int | None) -> str:
        return await found.sessions.start(kind=kind, subject_id=subject, store_id=store)

    return [
        Visitor("signed out", (STORE_HOST, MOVED_HOST, CENTRAL_HOST)),
        Visitor(
            "buyer",
            (STORE_HOST,),
            await session(SessionKind.BUYER, camille.id, acme.id),
            home="/portal/orders",
        ),
        Visitor(
            "merchant",
            (CENTRAL_HOST,),
            await session(SessionKind.MERCHANT, owner.id, None),
            home="/dashboard/",
        ),
        Visitor(
            "admin",
            (CENTRAL_HOST,),
            await session(SessionKind.ADMIN, admin.id, None),
            home="/admin/",
        ),
    ]


def requests(rules: list[tuple[str, list[str]]], host: str, token: str) -> Iterator[Request]:
    """(method, path, Host, form) of every hostile request to every rule: a Host ending in
    dots, hostile path values and queries, and a NUL in every form field."""
    for rule, _ in rules:
        for dots in (f"{host}..", f"{host}.:8000"):
            yield "GET", paths(rule)[0], dots, None
    for rule, methods in rules:
        for method in methods:
            form = {"csrf_token": token} if method == "POST" else None
            for path in paths(rule) + [paths(rule)[0] + query for query in QUERIES]:
                yield method, path, host, form
            if method == "POST":
                yield method, paths(rule)[0], host, {**HOSTILE_FORM, "csrf_token": token}


async def test_no_route_answers_hostile_input_with_a_5xx(app: Quart) -> None:
    # Signing out last, so that everything before it is walked signed in.
    rules = sorted(
        ((rule.rule, sorted(rule.methods or ())) for rule in app.url_map.iter_rules()),
        key=lambda rule: rule[0].endswith("/logout"),
    )
    assert any("<int:" in rule for rule, _ in rules)
    everyone = await visitors(app)
    token = await form_token(app)
    failures: dict[tuple[str, ...], int] = {}
    for visitor in everyone:
        for host in visitor.hosts:
            if visitor.home:
                assert await served(app, "GET", visitor.home, visitor.headers(host)) == 200
            for method, path, sent_host, form in requests(rules, host, token):
                headers = {**visitor.headers(host), "Host": sent_host}
                status = await served(app, method, path, headers, form=form)
                if status >= 500:
                    nul_form = "NUL in the form" if form and len(form) > 1 else ""
                    failures[(visitor.name, sent_host, method, path, nul_form)] = status
    assert failures == {}


async def test_a_nul_in_the_sign_in_form_is_a_400_that_counts_no_failure(client: Client) -> None:
    """Refused before the sign-in limiter runs: ten of them do not lock the account."""
    await acme_with_buyer()
    for _ in range(10):
        refused = await post(
            client,
            "/portal/login",
            {"email": "camille@example.com\x00", "password": "nope"},
            headers={**ACME, "Accept": "application/json"},
        )
        assert refused.status_code == 400
        error = json.loads(await refused.get_data(as_text=True))["error"]
        assert error["code"] == "malformed_request"
        assert "NUL" in error["message"]
    assert (await sign_in(client)).status_code == 303


async def test_an_id_beyond_its_column_is_a_404_and_a_cursor_beyond_it_a_message(
    client: Client,
) -> None:
    await acme_with_buyer()
    assert (await sign_in(client)).status_code == 303
    for too_big in ("2147483648", "9223372036854775808", "99999999999999999999999"):
        page = await client.get(f"/portal/subscriptions/{too_big}/cancel", headers=ACME)
        assert page.status_code == 404
    orders = await client.get("/portal/orders?before=1.99999999999999999999", headers=ACME)
    assert orders.status_code == 422
    assert "This page link is damaged" in await orders.get_data(as_text=True)


async def test_a_host_with_two_trailing_dots_is_the_store(client: Client) -> None:
    await acme_with_buyer()
    page = await client.get("/portal/login", headers={"Host": f"{STORE_HOST}..:8000"})
    assert page.status_code == 200
    assert "Acme Coffee" in await page.get_data(as_text=True)


async def test_the_primary_domain_redirect_keeps_a_line_break_encoded(app: Quart) -> None:
    moved = await make_store("moved")
    await make_domain(moved, "shop.example.com", DomainStatus.ACTIVE, is_primary=True)
    client = app.test_client(use_cookies=False)
    response = await client.get(
        "/portal/orders/%0d%0aSet-Cookie:%20x=1?before=%0d%0a", headers={"Host": MOVED_HOST}
    )
    assert response.status_code == 301
    assert response.headers["Location"] == (
        "https://shop.example.com/portal/orders/%0D%0ASet-Cookie:%20x=1?before=%0d%0a"
    )
    assert "x=1" not in response.headers.get("Set-Cookie", "")
