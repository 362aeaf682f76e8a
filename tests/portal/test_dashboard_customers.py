"""The store dashboard's customers, as merchants use them: the list and its search, keyset
pages, a customer's profile, "Invite to portal", and what stays closed to everyone else."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from quart import Quart, Response
from quart.typing import TestClientProtocol as Client

from payfacile.platform.i18n import LANGUAGE_COOKIE
from payfacile.platform.models import OutboxEmail, Token, TokenPurpose
from payfacile.platform.passwords import hash_password
from payfacile.portal.models import Customer, PaymentMethodKind
from payfacile.tenants.models import Membership, MembershipRole, MerchantUser, Store
from payfacile.tenants.scope import scoped
from tests.conftest import opened
from tests.factories import (
    make_customer,
    make_invoice,
    make_order,
    make_payment_method,
    make_product,
    make_store,
    make_subscription,
)
from tests.merchants import (
    CENTRAL,
    CSRF,
    PASSWORD,
    dashboard_routes,
    merchant,
    post,
    queries_of,
)

ACME = {"Host": "acme.payfacile.localhost"}
ROW = re.compile(r'<th scope="row"><a href="/dashboard/acme/customers/(\d+)">(.+?)</a>')
NEXT = re.compile(r'href="(/dashboard/acme/customers\?after=[^"]+)"')
PREVIOUS = re.compile(r'href="(/dashboard/acme/customers\?before=[^"]+)"')
LINK = re.compile(r"http://acme\.payfacile\.localhost:8000(/portal/[\w/-]+)")
BUYER_PASSWORD = "a long buyer passphrase"


async def page_of(client: Client, path: str) -> tuple[list[str], str]:
    response = await client.get(path, headers=CENTRAL)
    assert response.status_code == 200, path
    html = await response.get_data(as_text=True)
    return [email.replace("<wbr>", "") for _, email in ROW.findall(html)], html


async def acme_with_customers(count: int) -> tuple[Store, list[Customer]]:
    acme = await make_store("acme", name="Acme Coffee")
    made = [await make_customer(acme, f"c{n:03d}@example.com") for n in range(count)]
    return acme, made


@pytest.mark.parametrize("role", [MembershipRole.OWNER, MembershipRole.STAFF])
async def test_owner_and_staff_find_customers_by_name_and_by_email(
    client: Client, role: MembershipRole
) -> None:
    acme = await make_store("acme", name="Acme Coffee")
    await make_customer(acme, "camille@example.com", name="Camille Dupont")
    await make_customer(acme, "jo@shop.example", name="Joséphine Martin")
    other = await make_store("other")
    await make_customer(other, "camille.other@example.com", name="Camille Autre")
    await merchant(client, acme, role, "merchant@example.com")

    home = await (await client.get("/dashboard/acme/", headers=CENTRAL)).get_data(as_text=True)
    assert 'href="/dashboard/acme/customers"' in home
    assert "http://acme.payfacile.localhost:8000/portal/" in home
    everyone, html = await page_of(client, "/dashboard/acme/customers")
    assert everyone == ["camille@example.com", "jo@shop.example"]
    assert "Never invited" in html
    by_name, _ = await page_of(client, "/dashboard/acme/customers?q=camille")
    assert by_name == ["camille@example.com"]  # not the other store's Camille
    by_email, _ = await page_of(client, "/dashboard/acme/customers?q=SHOP.example")
    assert by_email == ["jo@shop.example"]
    nobody, html = await page_of(client, "/dashboard/acme/customers?q=zzz")
    assert nobody == []
    assert "No customer" in html
    wildcard, _ = await page_of(client, "/dashboard/acme/customers?q=%25")
    assert wildcard == []  # a % is a character searched for, not "anything"


async def test_the_list_pages_by_keyset_with_no_overlap_and_back(client: Client) -> None:
    acme, _ = await acme_with_customers(60)
    await merchant(client, acme, MembershipRole.STAFF, "staff@example.com")
    first, html = await page_of(client, "/dashboard/acme/customers")
    assert first == [f"c{n:03d}@example.com" for n in range(25)]
    assert not PREVIOUS.search(html)
    second, html = await page_of(client, NEXT.search(html).group(1).replace("&amp;", "&"))  # type: ignore[union-attr]
    assert second == [f"c{n:03d}@example.com" for n in range(25, 50)]
    third, html = await page_of(client, NEXT.search(html).group(1))  # type: ignore[union-attr]
    assert third == [f"c{n:03d}@example.com" for n in range(50, 60)]
    assert not NEXT.search(html)
    back, html = await page_of(client, PREVIOUS.search(html).group(1))  # type: ignore[union-attr]
    assert back == second
    start, _ = await page_of(client, PREVIOUS.search(html).group(1))  # type: ignore[union-attr]
    assert start == first


async def test_a_search_keeps_its_words_across_pages(client: Client) -> None:
    acme, _ = await acme_with_customers(30)
    for n in range(30):
        await make_customer(acme, f"z{n:03d}@found.example")
    await merchant(client, acme, MembershipRole.OWNER, "owner@example.com")
    first, html = await page_of(client, "/dashboard/acme/customers?q=found")
    assert first == [f"z{n:03d}@found.example" for n in range(25)]
    second, _ = await page_of(client, NEXT.search(html).group(1).replace("&amp;", "&"))  # type: ignore[union-attr]
    assert second == [f"z{n:03d}@found.example" for n in range(25, 30)]


@pytest.mark.parametrize("cursor", ["after=abc", "before=99999999999", "after=-3"])
async def test_a_damaged_page_link_is_a_clear_422(client: Client, cursor: str) -> None:
    acme, _ = await acme_with_customers(1)
    other = await make_store("other")
    stranger = await make_customer(other, "x@example.com")
    await merchant(client, acme, MembershipRole.OWNER, "owner@example.com")
    for query in (cursor, f"after={stranger.id}"):  # another store's customer is no position
        response = await client.get(f"/dashboard/acme/customers?{query}", headers=CENTRAL)
        assert response.status_code == 422, query
        assert "This page link is damaged" in await response.get_data(as_text=True)


async def test_the_list_costs_the_same_few_queries_however_many_customers(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    acme, made = await acme_with_customers(10)
    await merchant(client, acme, MembershipRole.OWNER, "owner@example.com")

    async def queries(path: str) -> list[str]:
        return await queries_of(client, path, caplog)

    few = await queries("/dashboard/acme/customers")
    await scoped(acme).create_many(
        Customer, [{"email": f"m{n:04d}@example.com", "name": f"M {n}"} for n in range(500)]
    )
    many = await queries("/dashboard/acme/customers")
    assert len(many) == len(few) <= 3, many  # session, membership with store, one page
    assert any("LIMIT" in sql.upper() and '"customer"' in sql for sql in many), many
    later = await queries(f"/dashboard/acme/customers?after={made[5].id}&q=example")
    assert len(later) == len(few) + 1, later  # and the position's email


async def test_a_customer_profile_shows_what_they_bought(client: Client) -> None:
    acme = await make_store("acme", name="Acme Coffee")
    camille = await make_customer(acme, "camille@example.com", name="Camille Dupont")
    order = await make_order(acme, camille, "1001", total=4200)
    await make_invoice(acme, order)
    product = await make_product(acme, "Coffee club")
    await make_subscription(acme, camille, product)
    await make_payment_method(acme, camille, brand="Visa", last4="4242", exp_month=8, exp_year=2031)
    await make_payment_method(
        acme, camille, kind=PaymentMethodKind.SEPA, brand="FR76", last4="0189", exp_month=None
    )
    await merchant(client, acme, MembershipRole.STAFF, "staff@example.com")
    response = await client.get(f"/dashboard/acme/customers/{camille.id}", headers=CENTRAL)
    assert response.status_code == 200
    page = await response.get_data(as_text=True)
    for shown in ("Camille Dupont", "1001", "42", "Coffee club", "Visa •••• 4242", "08/2031"):
        assert shown in page, shown
    assert "FR76 •••• 0189" in page
    assert "Expired" not in page
    await make_payment_method(acme, camille, last4="0005", exp_month=1, exp_year=2020)
    page = await (
        await client.get(f"/dashboard/acme/customers/{camille.id}", headers=CENTRAL)
    ).get_data(as_text=True)
    assert "Expired" in page  # the old card
    assert "tok_test" not in page  # never the gateway's token
    assert "Invite to portal" in page


async def test_another_stores_merchant_finds_nothing(client: Client, app: Quart) -> None:
    acme = await make_store("acme", name="Acme Coffee")
    camille = await make_customer(acme, "camille@example.com")
    bravo = await make_store("bravo", name="Bravo")
    await make_customer(bravo, "b@example.com")
    await merchant(client, bravo, MembershipRole.OWNER, "owner@bravo.example")
    assert (await client.get("/dashboard/bravo/customers", headers=CENTRAL)).status_code == 200
    for path in (
        "/dashboard/acme/",
        "/dashboard/acme/customers",
        f"/dashboard/acme/customers/{camille.id}",
        f"/dashboard/bravo/customers/{camille.id}",  # A's customer through B's own slug
        "/dashboard/nosuchstore/customers",
    ):
        response = await client.get(path, headers=CENTRAL)
        assert response.status_code == 404, path
        assert "camille" not in await response.get_data(as_text=True)
    for slug in ("acme", "bravo"):
        refused = await post(
            client,
            f"/dashboard/{slug}/customers/{camille.id}/invite",
            {},
            page="/dashboard/bravo/customers",
        )
        assert refused.status_code == 404, slug
    assert await OutboxEmail.filter(to_address="camille@example.com").count() == 0
    assert (await scoped(acme).get(Customer, id=camille.id)).invited_at is None


async def test_a_signed_out_visitor_is_sent_to_sign_in_and_back(client: Client) -> None:
    acme, _ = await acme_with_customers(1)
    response = await client.get("/dashboard/acme/customers?q=c0", headers=CENTRAL)
    assert response.status_code == 303
    assert response.headers["Location"] == "/account/login?next=/dashboard/acme/customers%3Fq%3Dc0"
    user = await MerchantUser.create(
        email="owner@example.com", password_hash=await hash_password(PASSWORD)
    )
    await scoped(acme).create(Membership, user_id=user.id, role=MembershipRole.OWNER)
    signed = await post(
        client,
        "/account/login?next=/dashboard/acme/customers%3Fq%3Dc0",
        {"email": "owner@example.com", "password": PASSWORD},
    )
    assert signed.headers["Location"] == "/dashboard/acme/customers?q=c0"
    assert (await page_of(client, signed.headers["Location"]))[0] == ["c000@example.com"]


async def test_every_store_dashboard_route_turns_away_strangers(client: Client, app: Quart) -> None:
    acme = await make_store("acme", name="Acme Coffee")
    camille = await make_customer(acme, "camille@example.com")
    bravo = await make_store("bravo")
    routes = dashboard_routes(app, customer_id=camille.id)
    assert ("GET", "/dashboard/acme/customers") in routes
    assert ("POST", f"/dashboard/acme/customers/{camille.id}/invite") in routes
    html = await (await client.get("/account/login", headers=CENTRAL)).get_data(as_text=True)
    token = CSRF.search(html).group(1)  # type: ignore[union-attr]
    for method, path in routes:  # signed out: to sign in, and back to the page it asked for
        response = await client.open(
            path, method=method, headers=CENTRAL, form={"csrf_token": token}
        )
        assert response.status_code == 303, (method, path)
        location = response.headers["Location"]
        assert location.startswith("/account/login?next=/dashboard/"), (method, path, location)
    stranger = app.test_client()
    await merchant(stranger, bravo, MembershipRole.OWNER, "owner@bravo.example")
    html = await (await stranger.get("/dashboard/", headers=CENTRAL)).get_data(as_text=True)
    token = CSRF.search(html).group(1)  # type: ignore[union-attr]
    for method, path in routes:  # a merchant of another store: as if nothing were there
        for host in (CENTRAL, ACME):
            response = await stranger.open(
                path, method=method, headers=host, form={"csrf_token": token}
            )
            assert response.status_code == 404, (method, path, host)
    assert await OutboxEmail.all().count() == 0


async def test_invite_to_portal_and_the_customer_chooses_a_password(
    client: Client, app: Quart
) -> None:
    acme = await make_store("acme", name="Acme Coffee")
    camille = await make_customer(acme, "camille@example.com", name="Camille")
    await merchant(client, acme, MembershipRole.STAFF, "staff@example.com")
    profile = f"/dashboard/acme/customers/{camille.id}"
    invite = f"{profile}/invite"

    sent = await post(client, invite, {}, page=profile)
    assert sent.status_code == 303
    assert sent.headers["Location"] == f"{profile}?done=invited"
    page = await (await client.get(sent.headers["Location"], headers=CENTRAL)).get_data(
        as_text=True
    )
    assert "The invitation is on its way" in page
    today = datetime.now(UTC).strftime("%-d %b %Y")
    assert f"Invited on {today}" in page
    assert "Resend the invitation" in page
    first = await link_to("camille@example.com")
    assert first.startswith("/portal/invitation/")

    await post(client, invite, {}, page=profile)  # resent: the first link no longer works
    second = await link_to("camille@example.com")
    assert second != first
    buyer = app.test_client()
    assert (await buyer.get(first, headers=ACME)).status_code == 410
    chosen = await buyer_post(
        buyer, second, {"password": BUYER_PASSWORD, "confirm": BUYER_PASSWORD}
    )
    assert chosen.status_code == 303
    assert (await buyer.get("/portal/", headers=ACME)).status_code == 200

    listing = await (await client.get("/dashboard/acme/customers", headers=CENTRAL)).get_data(
        as_text=True
    )
    assert f"Active since {today}" in listing
    page = await (await client.get(profile, headers=CENTRAL)).get_data(as_text=True)
    assert "Send a sign-in link" in page
    assert "Invite to portal" not in page


async def test_a_customer_with_a_password_gets_a_sign_in_link(client: Client, app: Quart) -> None:
    acme = await make_store("acme", name="Acme Coffee")
    camille = await make_customer(
        acme, "camille@example.com", password_hash=await hash_password(BUYER_PASSWORD)
    )
    await merchant(client, acme, MembershipRole.OWNER, "owner@example.com")
    profile = f"/dashboard/acme/customers/{camille.id}"
    page = await (await client.get(profile, headers=CENTRAL)).get_data(as_text=True)
    assert "Send a sign-in link" in page
    assert "Invite to portal" not in page
    sent = await post(client, f"{profile}/invite", {}, page=profile)
    assert sent.headers["Location"] == f"{profile}?done=signin"
    path = await link_to("camille@example.com")
    assert path.startswith("/portal/sign-in/")
    assert await Token.filter(purpose=TokenPurpose.INVITATION).count() == 0
    buyer = app.test_client()
    signed = await buyer_post(buyer, path, {})
    assert signed.status_code == 303
    assert (await buyer.get("/portal/", headers=ACME)).status_code == 200


async def test_the_invitation_form_needs_its_csrf_token(client: Client) -> None:
    acme = await make_store("acme", name="Acme Coffee")
    camille = await make_customer(acme, "camille@example.com")
    await merchant(client, acme, MembershipRole.OWNER, "owner@example.com")
    invite = f"/dashboard/acme/customers/{camille.id}/invite"
    for form in ({}, {"csrf_token": "forged"}):
        refused = await client.post(invite, form=form, headers=CENTRAL)
        assert refused.status_code in (400, 403), refused.status_code
    assert await OutboxEmail.filter(to_address="camille@example.com").count() == 0
    assert (await scoped(acme).get(Customer, id=camille.id)).invited_at is None
    profile = f"/dashboard/acme/customers/{camille.id}"
    sent = await post(client, invite, {}, page=profile)  # the form's own token
    assert sent.status_code == 303
    assert await OutboxEmail.filter(to_address="camille@example.com").count() == 1


async def test_the_pages_speak_french(client: Client) -> None:
    acme = await make_store("acme", name="Acme Coffee")
    camille = await make_customer(acme, "camille@example.com", name="Camille")
    await merchant(client, acme, MembershipRole.OWNER, "owner@example.com")
    client.set_cookie("payfacile.localhost", LANGUAGE_COOKIE, "fr")  # type: ignore[attr-defined]
    pages = {
        "/dashboard/acme/": "Clients",
        "/dashboard/acme/customers": "Rechercher par nom ou e-mail",
        f"/dashboard/acme/customers/{camille.id}": "Inviter sur l’espace client",
    }
    for path, words in pages.items():
        response = await client.get(path, headers=CENTRAL)
        page = await response.get_data(as_text=True)
        assert '<html lang="fr">' in page, path
        assert words in page, path
    listing = await (await client.get("/dashboard/acme/customers", headers=CENTRAL)).get_data(
        as_text=True
    )
    assert "Jamais invité" in listing


async def link_to(email: str) -> str:
    row = await OutboxEmail.filter(to_address=email).order_by("-id").first()
    assert row is not None, f"no email to {email}"
    match = LINK.search(opened(row).text_body)
    assert match is not None
    return match.group(1)


async def buyer_post(buyer: Client, path: str, form: dict[str, str]) -> Response:
    html = await (await buyer.get(path, headers=ACME)).get_data(as_text=True)
    token = CSRF.search(html)
    assert token is not None, html[:300]
    return await buyer.post(path, form={**form, "csrf_token": token.group(1)}, headers=ACME)


async def test_invitations_to_one_customer_are_limited(client: Client) -> None:
    acme = await make_store("acme", name="Acme Coffee")
    camille = await make_customer(acme, "camille@example.com")
    await merchant(client, acme, MembershipRole.OWNER, "owner@example.com")
    profile = f"/dashboard/acme/customers/{camille.id}"
    for _ in range(5):
        assert (await post(client, f"{profile}/invite", {}, page=profile)).status_code == 303
    refused = await post(client, f"{profile}/invite", {}, page=profile)
    assert refused.status_code == 429
    assert "several links within the hour" in await refused.get_data(as_text=True)
    assert await OutboxEmail.filter(to_address="camille@example.com").count() == 5


async def test_the_home_leads_to_the_customers_invited_but_not_yet_active(client: Client) -> None:
    acme = await make_store("acme", name="Acme Coffee")
    now = datetime.now(UTC)
    for n in range(30):  # two pages of invited customers, between the others
        await make_customer(acme, f"inv{n:02d}@example.com", invited_at=now)
    await make_customer(acme, "active@example.com", invited_at=now, activated_at=now)
    await make_customer(acme, "never@example.com")
    other = await make_store("other")
    await make_customer(other, "inv-other@example.com", invited_at=now)
    await merchant(client, acme, MembershipRole.STAFF, "staff@example.com")

    home = await (await client.get("/dashboard/acme/", headers=CENTRAL)).get_data(as_text=True)
    assert "30 customers invited to the portal have not signed in yet" in home
    assert 'href="/dashboard/acme/customers?portal=invited"' in home
    first, html = await page_of(client, "/dashboard/acme/customers?portal=invited")
    assert first == [f"inv{n:02d}@example.com" for n in range(25)]
    assert '<option value="invited" selected>' in html
    link = NEXT.search(html).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    second, _ = await page_of(client, link)
    assert second == [f"inv{n:02d}@example.com" for n in range(25, 30)]  # the filter kept
    assert (await page_of(client, "/dashboard/acme/customers?portal=active"))[0] == [
        "active@example.com"
    ]
    assert (await page_of(client, "/dashboard/acme/customers?portal=never"))[0] == [
        "never@example.com"
    ]
    nobody, html = await page_of(client, "/dashboard/acme/customers?portal=active&q=inv")
    assert nobody == []
    assert "Show everyone" in html
    refused = await client.get("/dashboard/acme/customers?portal=lost", headers=CENTRAL)
    assert refused.status_code == 422
    assert "There is no such portal status" in await refused.get_data(as_text=True)
