"""Onboarding a store, as the platform admin and the new owner go through it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from quart import Response
from quart.typing import TestClientProtocol as Client

from payfacile.platform.config import Settings
from payfacile.platform.models import OutboxEmail, Session, Token
from payfacile.platform.passwords import verify_password
from payfacile.tenants import accounts
from payfacile.tenants.models import MerchantUser, PlatformAdmin, Store, StoreStatus
from tests.conftest import RunningApp, opened, work_after_answers
from tests.factories import make_store
from tests.test_cli import payfacile

CENTRAL = {"Host": "payfacile.localhost"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LINK = re.compile(r"http://payfacile\.localhost:8000(/[\w/-]+/[\w-]{40,})")
PASSWORD = "correct horse battery"


async def latest_link(to: str) -> str:
    """The path of the link in the newest email to `to`."""
    email = await OutboxEmail.filter(to_address=to).order_by("-id").first()
    assert email is not None, f"no email to {to}"
    email = opened(email)
    match = LINK.search(email.text_body)
    assert match is not None, email.text_body
    assert match.group(1) in email.html_body
    return match.group(1)


async def token_of(client: Client, path: str) -> str:
    page = await (await client.get(path, headers=CENTRAL)).get_data(as_text=True)
    match = CSRF.search(page)
    assert match is not None, page[:500]
    return match.group(1)


async def post(
    client: Client, path: str, form: dict[str, str], *, page: str | None = None
) -> Response:
    token = await token_of(client, page or path)
    response = await client.post(path, form={**form, "csrf_token": token}, headers=CENTRAL)
    await work_after_answers(client.app)
    return response


async def signed_in_admin(client: Client, services: RunningApp) -> None:
    _, link = await accounts.create_admin(services.settings, "admin@example.com")
    path = link.removeprefix("http://payfacile.localhost:8000")
    response = await post(client, path, {"password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/"


async def test_admin_sets_a_password_from_the_emailed_link_and_lands_signed_in(
    client: Client, services: RunningApp
) -> None:
    await accounts.create_admin(services.settings, "Admin@Example.com")
    path = await latest_link("admin@example.com")
    assert path.startswith("/admin/set-password/")
    form_page = await client.get(path, headers=CENTRAL)
    assert "admin@example.com" in await form_page.get_data(as_text=True)

    short = await post(client, path, {"password": "short", "confirm": "short"})
    assert short.status_code == 422
    assert "at least 10 characters" in await short.get_data(as_text=True)
    assert (await PlatformAdmin.get(email="admin@example.com")).password_hash is None

    done = await post(client, path, {"password": PASSWORD, "confirm": PASSWORD})
    assert done.status_code == 303
    stored = (await PlatformAdmin.get(email="admin@example.com")).password_hash
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    listing = await client.get("/admin/", headers=CENTRAL)
    assert listing.status_code == 200
    assert "No stores yet" in await listing.get_data(as_text=True)

    again = await client.get(path, headers=CENTRAL)
    assert again.status_code == 410
    assert "already been used" in await again.get_data(as_text=True)


async def test_admin_pages_need_an_admin(client: Client, services: RunningApp) -> None:
    response = await client.get("/admin/", headers=CENTRAL)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/login?next=/admin/"
    # A real store's host: the 404 must come from the admin pages refusing a store host,
    # not from "no store here" (which is what an unknown host would get).
    await make_store("acme")
    store_host = {"Host": "acme.payfacile.localhost"}
    page = await client.get("/admin/", headers=store_host)
    assert page.status_code == 404
    text = await page.get_data(as_text=True)
    assert "There is nothing at this address." in text
    assert "No store here" not in text
    as_json = await client.get("/admin/", headers={**store_host, "Accept": "application/json"})
    assert as_json.status_code == 404
    assert (await as_json.get_json())["error"]["code"] == "not_found"


async def test_admin_onboards_a_store_and_the_owner_is_invited(
    client: Client, services: RunningApp
) -> None:
    await signed_in_admin(client, services)
    bad = await post(
        client,
        "/admin/stores/new",
        {"name": "Acme", "slug": "www", "owner_email": "owner@acme.example.com"},
    )
    assert bad.status_code == 422
    page = await bad.get_data(as_text=True)
    assert "is reserved" in page
    assert 'value="Acme"' in page  # what was typed is kept
    assert await Store.all().count() == 0

    created = await post(
        client,
        "/admin/stores/new",
        {"name": "Acme Coffee", "slug": "acme", "owner_email": "owner@acme.example.com"},
    )
    assert created.status_code == 303
    listing = await (await client.get("/admin/?done=created", headers=CENTRAL)).get_data(
        as_text=True
    )
    assert "Acme Coffee" in listing
    assert "owner@acme.example.com" in listing
    assert "Invitation not accepted yet" in listing

    invitation = await latest_link("owner@acme.example.com")
    assert invitation.startswith("/account/set-password/")
    email = await OutboxEmail.filter(to_address="owner@acme.example.com").first()
    assert email is not None
    assert "Acme Coffee" in email.subject
    assert "payfacile.localhost" in email.from_address

    response = await post(client, invitation, {"password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard"
    dashboard = await client.get("/dashboard/", headers=CENTRAL)
    page = await dashboard.get_data(as_text=True)
    assert "Acme Coffee" in page
    assert "http://acme.payfacile.localhost:8000/portal/" in page


async def test_resending_an_invitation_voids_the_earlier_link(
    client: Client, services: RunningApp
) -> None:
    await signed_in_admin(client, services)
    await post(
        client,
        "/admin/stores/new",
        {"name": "Acme", "slug": "acme", "owner_email": "owner@acme.example.com"},
    )
    first = await latest_link("owner@acme.example.com")
    resent = await post(client, "/admin/stores/acme/invitation", {}, page="/admin/")
    assert resent.status_code == 303
    second = await latest_link("owner@acme.example.com")
    assert second != first
    old = await client.get(first, headers=CENTRAL)
    assert old.status_code == 410
    assert "newer link" in await old.get_data(as_text=True)
    assert (await client.get(second, headers=CENTRAL)).status_code == 200


async def test_suspend_and_reactivate_ask_for_confirmation(
    client: Client, services: RunningApp
) -> None:
    await signed_in_admin(client, services)
    await post(
        client,
        "/admin/stores/new",
        {"name": "Acme Coffee", "slug": "acme", "owner_email": "owner@acme.example.com"},
    )
    confirm = await client.get("/admin/stores/acme/suspend", headers=CENTRAL)
    assert "Suspend Acme Coffee?" in await confirm.get_data(as_text=True)
    assert (await Store.get(slug="acme")).status == StoreStatus.ACTIVE  # asking changes nothing

    done = await post(client, "/admin/stores/acme/suspend", {})
    assert done.status_code == 303
    assert (await Store.get(slug="acme")).status == StoreStatus.SUSPENDED
    portal = await client.get("/portal/login", headers={"Host": "acme.payfacile.localhost"})
    assert portal.status_code == 503

    await post(client, "/admin/stores/acme/reactivate", {})
    assert (await Store.get(slug="acme")).status == StoreStatus.ACTIVE
    portal = await client.get("/portal/login", headers={"Host": "acme.payfacile.localhost"})
    assert portal.status_code == 200


async def test_password_reset_works_once_for_an_hour_and_signs_out_elsewhere(
    client: Client, services: RunningApp
) -> None:
    await signed_in_admin(client, services)
    admin = await PlatformAdmin.get(email="admin@example.com")
    assert await Session.filter(subject_id=admin.id).count() == 1

    unknown = await post(client, "/admin/forgot-password", {"email": "nobody@example.com"})
    known = await post(client, "/admin/forgot-password", {"email": "admin@example.com"})
    assert unknown.status_code == known.status_code == 200
    same = "If an account uses"
    assert same in await unknown.get_data(as_text=True)
    assert same in await known.get_data(as_text=True)
    assert not await OutboxEmail.filter(to_address="nobody@example.com").exists()

    path = await latest_link("admin@example.com")
    assert path.startswith("/admin/reset-password/")
    token = await Token.filter(purpose="password_reset").order_by("-id").first()
    assert token is not None
    lifetime = token.expires_at - datetime.now(UTC)
    assert timedelta(minutes=59) < lifetime <= timedelta(hours=1)

    new_password = "another long passphrase"
    done = await post(client, path, {"password": new_password, "confirm": new_password})
    assert done.status_code == 303
    assert await Session.filter(subject_id=admin.id).count() == 1  # only the new one
    assert await verify_password((await PlatformAdmin.get(id=admin.id)).password_hash, new_password)


async def test_an_expired_link_offers_a_new_one(client: Client, services: RunningApp) -> None:
    await accounts.create_admin(services.settings, "admin@example.com")
    path = await latest_link("admin@example.com")
    await Token.all().update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    response = await client.get(path, headers=CENTRAL)
    assert response.status_code == 410
    page = await response.get_data(as_text=True)
    assert "expired" in page
    assert 'href="/admin/forgot-password"' in page


async def test_sign_in_is_rate_limited_without_revealing_accounts(
    client: Client, services: RunningApp
) -> None:
    await signed_in_admin(client, services)
    await post(client, "/admin/logout", {}, page="/admin/")
    statuses, messages = [], set()
    for email in ["admin@example.com", "ghost@example.com"] * 5:
        response = await post(client, "/admin/login", {"email": email, "password": "wrong one!"})
        statuses.append(response.status_code)
        page = await response.get_data(as_text=True)
        messages.add("do not match an account" in page)
    assert statuses == [422] * 10
    assert messages == {True}
    locked = await post(
        client, "/admin/login", {"email": "admin@example.com", "password": PASSWORD}
    )
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert "Too many attempts" in await locked.get_data(as_text=True)


async def test_sign_in_rotates_the_session_and_sign_out_ends_it(
    client: Client, services: RunningApp
) -> None:
    await signed_in_admin(client, services)
    before = await Session.all().values_list("id_hash", flat=True)
    again = await post(
        client,
        "/admin/login?next=/admin/stores/new",
        {"email": "admin@example.com", "password": PASSWORD},
        page="/admin/forgot-password",
    )
    assert again.status_code == 303
    assert again.headers["Location"] == "/admin/stores/new"
    cookie = again.headers.get("Set-Cookie", "")
    assert "pf_session=" in cookie
    assert "HttpOnly" in cookie
    after = await Session.all().values_list("id_hash", flat=True)
    assert len(after) == 1
    assert set(after).isdisjoint(before)  # a new id: the old cookie is worth nothing

    await post(client, "/admin/logout", {}, page="/admin/")
    assert (await client.get("/admin/", headers=CENTRAL)).status_code == 303
    assert await Session.all().count() == 0


@pytest.mark.parametrize("next_path", ["//evil.example/", "https://evil.example/"])
async def test_sign_in_never_redirects_away(
    client: Client, services: RunningApp, next_path: str
) -> None:
    await signed_in_admin(client, services)
    await post(client, "/admin/logout", {}, page="/admin/")
    token = await token_of(client, "/admin/login")
    response = await client.post(
        "/admin/login",
        form={
            "email": "admin@example.com",
            "password": PASSWORD,
            "next": next_path,
            "csrf_token": token,
        },
        headers=CENTRAL,
    )
    assert response.headers["Location"] == "/admin/"


async def test_merchant_accounts_sign_in_on_the_central_host(
    client: Client, services: RunningApp
) -> None:
    from payfacile.tenants import stores

    await stores.create_store(
        settings=services.settings,
        hosts=services.hosts,
        name="Acme",
        slug="acme",
        owner_email="owner@acme.example.com",
    )
    path = await latest_link("owner@acme.example.com")
    await post(client, path, {"password": PASSWORD, "confirm": PASSWORD})
    await post(client, "/account/logout", {}, page="/dashboard/")
    assert (await client.get("/dashboard/", headers=CENTRAL)).status_code == 303
    wrong = await post(
        client, "/account/login", {"email": "owner@acme.example.com", "password": "nope nope nope"}
    )
    assert wrong.status_code == 422
    right = await post(
        client, "/account/login", {"email": "owner@acme.example.com", "password": PASSWORD}
    )
    assert right.headers["Location"] == "/dashboard"
    assert (await client.get("/dashboard/", headers=CENTRAL)).status_code == 200
    # An admin session is not a merchant session, and the reverse.
    assert (await client.get("/admin/", headers=CENTRAL)).status_code == 303
    owner = await MerchantUser.get(email="owner@acme.example.com")
    assert owner.password_hash is not None


def test_admins_create_from_the_cli_prints_the_link(settings: Settings) -> None:
    result = payfacile(settings, "admins", "create", "--email", "root@example.com")
    assert result.returncode == 0, result.stderr
    link = re.search(r"http://payfacile\.localhost:8000/admin/set-password/\S+", result.stdout)
    assert link is not None
    bad = payfacile(settings, "admins", "create", "--email", "not an email")
    assert bad.returncode == 1
    assert "valid email" in bad.stderr


async def test_merchants_reset_their_password_too(client: Client, services: RunningApp) -> None:
    from payfacile.tenants import stores

    await stores.create_store(
        settings=services.settings,
        hosts=services.hosts,
        name="Acme",
        slug="acme",
        owner_email="owner@acme.example.com",
    )
    await post(
        client,
        await latest_link("owner@acme.example.com"),
        {"password": PASSWORD, "confirm": PASSWORD},
    )
    await post(client, "/account/forgot-password", {"email": "owner@acme.example.com"})
    path = await latest_link("owner@acme.example.com")
    assert path.startswith("/account/reset-password/")
    new_password = "a brand new passphrase"
    done = await post(client, path, {"password": new_password, "confirm": new_password})
    assert done.headers["Location"] == "/dashboard"
    owner = await MerchantUser.get(email="owner@acme.example.com")
    assert await verify_password(owner.password_hash, new_password)
    assert not await verify_password(owner.password_hash, PASSWORD)
    assert (await client.get(path, headers=CENTRAL)).status_code == 410


async def test_a_store_is_onboarded_with_a_time_zone_or_its_countrys(
    client: Client, services: RunningApp
) -> None:
    await signed_in_admin(client, services)
    form = {"name": "Acme", "slug": "acme", "owner_email": "owner@acme.example.com"}
    bad = await post(client, "/admin/stores/new", {**form, "time_zone": "Europe/Lyon"})
    assert bad.status_code == 422
    assert "“Europe/Lyon” is not a time zone" in await bad.get_data(as_text=True)
    assert await Store.all().count() == 0
    made = await post(client, "/admin/stores/new", {**form, "time_zone": "Europe/Paris"})
    assert made.status_code == 303
    acme = await Store.get(slug="acme")
    assert (acme.time_zone, acme.zone) == ("Europe/Paris", "Europe/Paris")

    created = payfacile(
        services.settings,
        *("stores", "create", "--name", "Tokyo Tea", "--slug", "tokyo"),
        *("--owner-email", "owner@tokyo.example.com", "--time-zone", "Asia/Tokyo"),
    )
    assert created.returncode == 0, created.stderr
    assert (await Store.get(slug="tokyo")).zone == "Asia/Tokyo"
    plain = await make_store("plain", country="US")
    assert (plain.time_zone, plain.zone) == ("", "America/New_York")  # its country's
