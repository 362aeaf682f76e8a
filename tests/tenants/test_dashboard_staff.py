"""A store's team, as its owner and its staff use it: inviting staff by email, the invitation
link, resending, removing, and what staff may see but not change."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

from quart import Quart
from quart.typing import TestClientProtocol as Client

from payfacile.platform.i18n import LANGUAGE_COOKIE
from payfacile.platform.models import OutboxEmail, Token, TokenPurpose
from payfacile.tenants.models import Membership, MembershipRole, MerchantUser, Store
from payfacile.tenants.scope import scoped
from tests.conftest import opened
from tests.factories import make_store
from tests.merchants import CENTRAL, CSRF, PASSWORD, dashboard_routes, merchant, post

TEAM = "/dashboard/acme/team"
LINK = re.compile(r"http://payfacile\.localhost:8000(/account/set-password/[\w-]+)")
STAFF_PASSWORD = "a long staff passphrase"


async def acme_and_owner(client: Client) -> tuple[Store, MerchantUser]:
    acme = await make_store("acme", name="Acme Coffee")
    owner = await merchant(client, acme, MembershipRole.OWNER, "owner@example.com")
    await MerchantUser.filter(id=owner.id).update(name="Olivia Owner")
    return acme, owner


async def invitation_link(email: str) -> str:
    row = await OutboxEmail.filter(to_address=email).order_by("-id").first()
    assert row is not None, f"no email to {email}"
    match = LINK.search(opened(row).text_body)
    assert match is not None, row.text_body
    return match.group(1)


async def membership_id(store: Store, email: str) -> int:
    user = await MerchantUser.get(email=email)
    return (await scoped(store).get(Membership, user_id=user.id)).id


async def choose_password(app: Quart, path: str) -> Client:
    """A new browser that follows the invitation link and chooses a password."""
    browser = app.test_client()
    html = await (await browser.get(path, headers=CENTRAL)).get_data(as_text=True)
    token = CSRF.search(html)
    assert token is not None, html[:300]
    form = {"password": STAFF_PASSWORD, "confirm": STAFF_PASSWORD, "csrf_token": token.group(1)}
    chosen = await browser.post(path, form=form, headers=CENTRAL)
    assert chosen.status_code == 303
    assert chosen.headers["Location"] == "/dashboard"
    return browser


async def test_owner_invites_staff_who_joins_sees_the_store_and_is_removed(
    client: Client, app: Quart
) -> None:
    acme, _ = await acme_and_owner(client)
    sent = await post(
        client, f"{TEAM}/invite", {"email": " Sam@Example.com ", "name": "Sam"}, page=TEAM
    )
    assert sent.status_code == 303
    assert sent.headers["Location"] == f"{TEAM}?done=invited"
    page = await (await client.get(sent.headers["Location"], headers=CENTRAL)).get_data(
        as_text=True
    )
    assert "The invitation is on its way" in page
    today = datetime.now(UTC).strftime("%-d %b %Y")
    assert "sam@example.com" in page  # normalised like every address
    assert f"Invited on {today}" in page
    assert "Resend" in page
    email = await OutboxEmail.get(to_address="sam@example.com")
    assert "Acme Coffee" in email.subject
    assert "Olivia Owner (owner@example.com) invites you to help run Acme Coffee" in email.text_body
    path = await invitation_link("sam@example.com")
    assert path not in email.text_body  # sealed in the outbox

    staff = await choose_password(app, path)
    stores = await (await staff.get("/dashboard/", headers=CENTRAL)).get_data(as_text=True)
    assert 'href="/dashboard/acme/"' in stores
    seen = await staff.get(TEAM, headers=CENTRAL)
    assert seen.status_code == 200  # staff see who is on the team
    html = await seen.get_data(as_text=True)
    assert "owner@example.com" in html
    assert "sam@example.com" in html
    assert "Only the store's owner can invite or remove" in html
    assert "/remove" not in html
    assert "/invite" not in html
    listing = await (await client.get(TEAM, headers=CENTRAL)).get_data(as_text=True)
    assert "Active" in listing

    sam = await membership_id(acme, "sam@example.com")
    owner_id = await membership_id(acme, "owner@example.com")
    for action, form in (
        ("invite", {"email": "eve@example.com"}),
        (f"{sam}/remove", {}),
        (f"{owner_id}/remove", {}),
        (f"{sam}/resend", {}),
    ):
        refused = await post(staff, f"{TEAM}/{action}", form, page=TEAM)
        assert refused.status_code == 403, action
        assert "Only the store’s owner can change this" in unescape(
            await refused.get_data(as_text=True)
        ).replace("'", "’")
    assert await scoped(acme).query(Membership).count() == 2
    assert not await MerchantUser.exists(email="eve@example.com")
    assert await OutboxEmail.all().count() == 1

    removed = await post(client, f"{TEAM}/{sam}/remove", {}, page=TEAM)
    assert removed.headers["Location"] == f"{TEAM}?done=removed"
    for path in ("/dashboard/acme/", TEAM, "/dashboard/acme/customers"):  # the same session
        assert (await staff.get(path, headers=CENTRAL)).status_code == 404, path
    stores = await (await staff.get("/dashboard/", headers=CENTRAL)).get_data(as_text=True)
    assert "/dashboard/acme/" not in stores
    again = await post(client, f"{TEAM}/{sam}/remove", {}, page=TEAM)  # harmless
    assert again.status_code == 303
    assert await scoped(acme).query(Membership).count() == 1


async def test_the_owner_cannot_be_removed_and_nobody_is_invited_twice(client: Client) -> None:
    acme, _ = await acme_and_owner(client)
    owner_id = await membership_id(acme, "owner@example.com")
    refused = await post(client, f"{TEAM}/{owner_id}/remove", {}, page=TEAM)
    assert refused.status_code == 403
    assert "owner cannot be removed" in await refused.get_data(as_text=True)
    assert await scoped(acme).query(Membership).count() == 1

    await post(client, f"{TEAM}/invite", {"email": "sam@example.com"}, page=TEAM)
    for email in ("SAM@example.com", "owner@example.com"):
        twice = await post(client, f"{TEAM}/invite", {"email": email}, page=TEAM)
        assert twice.status_code == 409
        html = await twice.get_data(as_text=True)
        assert f"{email.lower()} is already on the team." in html
        assert 'id="email-error"' in html  # next to the field
    bad = await post(client, f"{TEAM}/invite", {"email": "not an address"}, page=TEAM)
    assert bad.status_code == 422
    assert "Enter a valid email address" in await bad.get_data(as_text=True)
    assert await scoped(acme).query(Membership).count() == 2
    assert await OutboxEmail.filter(to_address="sam@example.com").count() == 1
    assert await MerchantUser.filter(email="sam@example.com").count() == 1


async def test_a_merchant_with_a_password_is_added_and_told(client: Client, app: Quart) -> None:
    acme, _ = await acme_and_owner(client)
    await Store.filter(id=acme.id).update(locale="fr")
    bravo = await make_store("bravo", name="Bravo")
    elsewhere = app.test_client()
    await merchant(elsewhere, bravo, MembershipRole.OWNER, "bea@bravo.example")
    sent = await post(client, f"{TEAM}/invite", {"email": "bea@bravo.example"}, page=TEAM)
    assert sent.headers["Location"] == f"{TEAM}?done=added"
    email = await OutboxEmail.get(to_address="bea@bravo.example")
    assert "Acme Coffee" in email.subject
    assert "vous a ajouté" in email.text_body  # in the store's language
    assert "http://payfacile.localhost:8000/account/login" in email.text_body
    assert await Token.filter(purpose=TokenPurpose.INVITATION).count() == 0
    stores = await (await elsewhere.get("/dashboard/", headers=CENTRAL)).get_data(as_text=True)
    assert 'href="/dashboard/acme/"' in stores
    assert 'href="/dashboard/bravo/"' in stores
    assert (await elsewhere.get("/dashboard/acme/customers", headers=CENTRAL)).status_code == 200
    assert (await elsewhere.get("/dashboard/acme/team", headers=CENTRAL)).status_code == 200


async def test_a_resend_voids_the_earlier_link_and_an_expired_one_offers_a_new_one(
    client: Client, app: Quart
) -> None:
    acme, _ = await acme_and_owner(client)
    await post(client, f"{TEAM}/invite", {"email": "sam@example.com"}, page=TEAM)
    first = await invitation_link("sam@example.com")
    sam = await membership_id(acme, "sam@example.com")
    resent = await post(client, f"{TEAM}/{sam}/resend", {}, page=TEAM)
    assert resent.headers["Location"] == f"{TEAM}?done=resent"
    second = await invitation_link("sam@example.com")
    assert second != first
    browser = app.test_client()
    old = await browser.get(first, headers=CENTRAL)
    assert old.status_code == 410
    assert "A newer link was sent" in await old.get_data(as_text=True)

    await Token.filter(purpose=TokenPurpose.INVITATION, used_at=None).update(
        created_at=datetime.now(UTC) - timedelta(days=8),
        expires_at=datetime.now(UTC) - timedelta(days=1),
    )
    expired = await browser.get(second, headers=CENTRAL)
    assert expired.status_code == 410
    html = await expired.get_data(as_text=True)
    assert "This link has expired" in html
    assert 'href="/account/forgot-password"' in html  # a way to get a new one
    listing = await (await client.get(TEAM, headers=CENTRAL)).get_data(as_text=True)
    assert "Link expired" in listing
    await post(client, f"{TEAM}/{sam}/resend", {}, page=TEAM)
    await choose_password(app, await invitation_link("sam@example.com"))
    again = await post(client, f"{TEAM}/{sam}/resend", {}, page=TEAM)
    assert again.status_code == 409
    assert "has already chosen a password" in await again.get_data(as_text=True)


async def test_invitations_are_limited_per_store(client: Client) -> None:
    acme, _ = await acme_and_owner(client)
    for n in range(20):
        sent = await post(client, f"{TEAM}/invite", {"email": f"s{n}@example.com"}, page=TEAM)
        assert sent.status_code == 303, n
    refused = await post(client, f"{TEAM}/invite", {"email": "one.more@example.com"}, page=TEAM)
    assert refused.status_code == 429
    assert "many invitations within the hour" in await refused.get_data(as_text=True)
    assert not await MerchantUser.exists(email="one.more@example.com")
    assert await scoped(acme).query(Membership).count() == 21


async def test_another_stores_members_are_404_and_left_alone(client: Client, app: Quart) -> None:
    acme, _ = await acme_and_owner(client)
    bravo = await make_store("bravo", name="Bravo")
    other = app.test_client()
    await merchant(other, bravo, MembershipRole.OWNER, "bea@bravo.example")
    bravo_team = "/dashboard/bravo/team"
    await post(other, f"{bravo_team}/invite", {"email": "bo@example.com"}, page=bravo_team)
    theirs = await membership_id(bravo, "bo@example.com")
    resend = await post(client, f"{TEAM}/{theirs}/resend", {}, page=TEAM)
    assert resend.status_code == 404
    removed = await post(client, f"{TEAM}/{theirs}/remove", {}, page=TEAM)
    assert removed.status_code == 303  # nothing of ours to remove, and nothing said of theirs
    assert await scoped(bravo).query(Membership).count() == 2
    assert await OutboxEmail.filter(to_address="bo@example.com").count() == 1
    routes = [r for r in dashboard_routes(app, membership_id=theirs) if "/team" in r[1]]
    assert ("POST", f"/dashboard/acme/team/{theirs}/remove") in routes
    for method, path in routes:  # Bravo's owner in Acme's team: nothing there
        if method == "GET":
            response = await other.get(path, headers=CENTRAL)
        else:
            response = await post(other, path, {"email": "x@example.com"}, page=bravo_team)
        assert response.status_code == 404, (method, path)
    assert await scoped(acme).query(Membership).count() == 1
    assert await scoped(bravo).query(Membership).count() == 2


async def test_the_team_page_speaks_french(client: Client) -> None:
    await acme_and_owner(client)
    client.set_cookie("payfacile.localhost", LANGUAGE_COOKIE, "fr")  # type: ignore[attr-defined]
    await post(client, f"{TEAM}/invite", {"email": "sam@example.com"}, page=TEAM)
    page = await (await client.get(TEAM, headers=CENTRAL)).get_data(as_text=True)
    assert '<html lang="fr">' in page
    for words in ("Équipe", "Propriétaire", "Inviter un membre de l’équipe", "Renvoyer"):
        assert words in page, words
    assert PASSWORD not in page
