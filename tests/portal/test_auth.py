"""Every way into a store's portal, as buyers go through them, and what must stay closed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from quart import Quart, Response
from quart.typing import TestClientProtocol as Client

from payfacile.platform.config import Settings
from payfacile.platform.models import OutboxEmail, Session, Token
from payfacile.platform.passwords import hash_password, verify_password
from payfacile.portal import auth
from payfacile.portal.models import Customer, OrderStatus, PaymentStatus
from payfacile.tenants.models import ProductKind, Store
from payfacile.tenants.scope import scoped
from tests.conftest import opened, work_after_answers
from tests.factories import (
    make_customer,
    make_payment,
    make_payment_method,
    make_placed_order,
    make_product,
    make_store,
    make_subscription,
)
from tests.test_cli import payfacile

ACME = {"Host": "acme.payfacile.localhost"}
OTHER = {"Host": "other.payfacile.localhost"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "a long buyer passphrase"


def link_path(text: str, host: str = "acme") -> str:
    match = re.search(rf"http://{host}\.payfacile\.localhost:8000(/portal/[\w/-]+)", text)
    assert match is not None, text
    return match.group(1)


def comparable(page: str) -> str:
    """A page without what differs on every response (nonce, tokens, typed values)."""
    return re.sub(r'(nonce|value)="[^"]*"', "", page)


async def latest_email(to: str) -> OutboxEmail:
    email = await OutboxEmail.filter(to_address=to).order_by("-id").first()
    assert email is not None, f"no email to {to}"
    return opened(email)


async def post(
    client: Client,
    path: str,
    form: dict[str, str],
    *,
    page: str = "/portal/login",
    headers: dict[str, str] = ACME,
) -> Response:
    html = await (await client.get(page, headers=headers)).get_data(as_text=True)
    match = CSRF.search(html)
    assert match is not None, html[:300]
    response = await client.post(path, form={**form, "csrf_token": match.group(1)}, headers=headers)
    await work_after_answers(client.app)
    return response


async def acme_with_buyer(
    password: str | None = PASSWORD, *, store: Mapping[str, Any] | None = None, **buyer: Any
) -> tuple[Store, Customer]:
    """The store "acme" (`store` overrides its values) and Camille, who can sign in there."""
    acme = await make_store("acme", **{"name": "Acme Coffee", **(store or {})})
    camille = await make_customer(
        acme,
        "camille@example.com",
        password_hash=await hash_password(password) if password else None,
        **{"name": "Camille", **buyer},
    )
    return acme, camille


async def sign_in(client: Client, email: str = "camille@example.com") -> Response:
    return await post(client, "/portal/login", {"email": email, "password": PASSWORD})


async def test_sign_in_with_a_password_and_sign_out(client: Client) -> None:
    await acme_with_buyer()
    response = await sign_in(client)
    assert response.status_code == 303
    assert response.headers["Location"] == "/portal/"
    home = await client.get("/portal/", headers=ACME)
    assert home.status_code == 200
    assert "Hello Camille" in await home.get_data(as_text=True)
    out = await post(client, "/portal/logout", {}, page="/portal/")
    assert out.headers["Location"] == "/portal/login"
    assert (await client.get("/portal/", headers=ACME)).status_code == 303
    assert await Session.all().count() == 0


async def test_a_wrong_password_says_nothing_about_the_account(client: Client) -> None:
    await acme_with_buyer()
    pages = []
    for email in ("camille@example.com", "nobody@example.com"):
        response = await post(client, "/portal/login", {"email": email, "password": "wrong!!"})
        assert response.status_code == 422
        page = await response.get_data(as_text=True)
        pages.append(comparable(page))
    assert "do not match an account" in pages[0]
    assert pages[0] == pages[1]


async def test_ten_failures_lock_sign_in_with_the_wait(client: Client) -> None:
    await acme_with_buyer()
    for _ in range(10):
        failed = await post(
            client, "/portal/login", {"email": "camille@example.com", "password": "nope nope"}
        )
        assert failed.status_code == 422
    locked = await sign_in(client)
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    assert "Try again in" in await locked.get_data(as_text=True)


async def test_a_session_from_one_store_is_not_signed_in_at_another(client: Client) -> None:
    await acme_with_buyer()
    other = await make_store("other", name="Other Shop")
    await make_customer(other, "camille@example.com", password_hash=await hash_password(PASSWORD))
    signed_in = await sign_in(client)
    cookie = re.search(r"pf_session=([^;]+)", signed_in.headers["Set-Cookie"])
    assert cookie is not None
    assert "Domain=" not in signed_in.headers["Set-Cookie"]  # host-only
    # The same cookie sent to another store's host (copied by hand) signs nobody in there.
    response = await client.get(
        "/portal/", headers={**OTHER, "Cookie": f"pf_session={cookie.group(1)}"}
    )
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/portal/login")


async def test_invitation_from_the_cli_lets_the_buyer_choose_a_password(
    client: Client, settings: Settings
) -> None:
    store, _ = await acme_with_buyer(password=None)
    result = payfacile(settings, "customers", "invite", "--store", "acme", "camille@example.com")
    assert result.returncode == 0, result.stderr
    path = link_path(result.stdout)
    assert path.startswith("/portal/invitation/")
    email = await latest_email("camille@example.com")
    assert path in email.text_body
    assert email.reply_to == store.support_email
    assert email.from_address.startswith("Acme Coffee <")
    assert "Acme Coffee" in email.subject

    page = await client.get(path, headers=ACME)
    assert "Welcome to your Acme Coffee account" in await page.get_data(as_text=True)
    mismatch = await post(client, path, {"password": PASSWORD, "confirm": "different"}, page=path)
    assert mismatch.status_code == 422
    assert "do not match" in await mismatch.get_data(as_text=True)
    done = await post(client, path, {"password": PASSWORD, "confirm": PASSWORD}, page=path)
    assert done.status_code == 303
    assert (await client.get("/portal/", headers=ACME)).status_code == 200
    buyer = await scoped(store).get(Customer, email="camille@example.com")
    assert buyer.activated_at is not None
    assert buyer.invited_at is not None

    used = await client.get(path, headers=ACME)
    assert used.status_code == 410
    page_text = await used.get_data(as_text=True)
    assert "already been used" in page_text
    assert 'action="/portal/login/link"' in page_text  # a way to ask for a new link


async def test_a_newer_invitation_voids_the_older(client: Client, settings: Settings) -> None:
    store, _ = await acme_with_buyer(password=None)
    first = link_path(await auth.invite(settings, store, "camille@example.com"))
    second = link_path(await auth.invite(settings, store, "camille@example.com"))
    assert (await client.get(first, headers=ACME)).status_code == 410
    assert (await client.get(second, headers=ACME)).status_code == 200
    token = await Token.filter(used_at=None).get()
    assert timedelta(days=6, hours=23) < token.expires_at - datetime.now(UTC) <= timedelta(days=7)


async def test_sign_in_link_needs_a_click_and_works_once(client: Client) -> None:
    await acme_with_buyer(password=None)
    sent = await post(client, "/portal/login/link", {"link_email": "camille@example.com"})
    assert sent.status_code == 200
    assert "Check your inbox" in await sent.get_data(as_text=True)
    path = link_path((await latest_email("camille@example.com")).text_body)
    assert path.startswith("/portal/sign-in/")

    for _ in range(3):  # a mail scanner fetching the link uses nothing up
        scanned = await client.get(path, headers=ACME)
        assert scanned.status_code == 200
        assert "Continue" in await scanned.get_data(as_text=True)
    assert await Session.all().count() == 0

    signed_in = await post(client, path, {}, page=path)
    assert signed_in.status_code == 303
    assert (await client.get("/portal/", headers=ACME)).status_code == 200
    again = await client.get(path, headers=ACME)
    assert again.status_code == 410


async def test_sign_in_links_expire_after_15_minutes(client: Client) -> None:
    await acme_with_buyer(password=None)
    await post(client, "/portal/login/link", {"link_email": "camille@example.com"})
    token = await Token.get(purpose="sign_in")
    assert timedelta(minutes=14) < token.expires_at - datetime.now(UTC) <= timedelta(minutes=15)
    path = link_path((await latest_email("camille@example.com")).text_body)
    await Token.filter(id=token.id).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    expired = await client.get(path, headers=ACME)
    assert expired.status_code == 410
    assert "expired" in await expired.get_data(as_text=True)


async def test_a_link_from_one_store_does_nothing_at_another(client: Client) -> None:
    await acme_with_buyer(password=None)
    other = await make_store("other", name="Other Shop")
    await make_customer(other, "camille@example.com")
    await post(client, "/portal/login/link", {"link_email": "camille@example.com"})
    path = link_path((await latest_email("camille@example.com")).text_body)
    elsewhere = await client.get(path, headers=OTHER)
    assert elsewhere.status_code == 410
    used = await post(client, path, {}, page="/portal/login", headers=OTHER)
    assert used.status_code == 410
    assert await Session.all().count() == 0
    assert (await client.get(path, headers=ACME)).status_code == 200  # still good at home


async def test_unknown_addresses_get_the_same_answer_and_no_email(client: Client) -> None:
    await acme_with_buyer()
    known = await post(client, "/portal/login/link", {"link_email": "camille@example.com"})
    unknown = await post(client, "/portal/login/link", {"link_email": "ghost@example.com"})
    texts = [
        (await r.get_data(as_text=True)).replace("camille", "X").replace("ghost", "X")
        for r in (known, unknown)
    ]
    assert comparable(texts[0]) == comparable(texts[1])
    assert not await OutboxEmail.filter(to_address="ghost@example.com").exists()


async def test_password_reset_by_email(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    sent = await post(
        client,
        "/portal/forgot-password",
        {"email": "camille@example.com"},
        page="/portal/forgot-password",
    )
    assert sent.status_code == 200
    path = link_path((await latest_email("camille@example.com")).text_body)
    assert path.startswith("/portal/reset-password/")
    token = await Token.get(purpose="password_reset")
    assert timedelta(minutes=59) < token.expires_at - datetime.now(UTC) <= timedelta(hours=1)
    new = "my brand new passphrase"
    done = await post(client, path, {"password": new, "confirm": new}, page=path)
    assert done.status_code == 303
    reloaded = await scoped(store).get(Customer, id=buyer.id)
    assert await verify_password(reloaded.password_hash, new)


async def test_changing_the_password_signs_out_every_other_session(
    client: Client, app: Quart
) -> None:
    await acme_with_buyer()
    other_browser = app.test_client()
    await sign_in(other_browser)
    await sign_in(client)
    assert await Session.all().count() == 2
    new = "an even longer passphrase"
    changed = await post(
        client,
        "/portal/account",
        {"action": "password", "current": PASSWORD, "password": new, "confirm": new},
        page="/portal/account",
    )
    assert changed.status_code == 200
    assert "signed out everywhere else" in await changed.get_data(as_text=True)
    assert await Session.all().count() == 1
    assert (await client.get("/portal/", headers=ACME)).status_code == 200
    assert (await other_browser.get("/portal/", headers=ACME)).status_code == 303


async def test_wrong_current_password_changes_nothing(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    await sign_in(client)
    response = await post(
        client,
        "/portal/account",
        {
            "action": "password",
            "current": "not it at all",
            "password": "x" * 12,
            "confirm": "x" * 12,
        },
        page="/portal/account",
    )
    assert response.status_code == 422
    assert "current password is not right" in await response.get_data(as_text=True)
    reloaded = await scoped(store).get(Customer, id=buyer.id)
    assert await verify_password(reloaded.password_hash, PASSWORD)


async def test_email_change_waits_for_the_link_sent_to_the_new_address(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    await sign_in(client)
    asked = await post(
        client,
        "/portal/account",
        {"action": "email", "new_email": "Camille.New@example.com", "email_password": PASSWORD},
        page="/portal/account",
    )
    assert asked.status_code == 200
    assert "We sent a link to" in await asked.get_data(as_text=True)
    reloaded = await scoped(store).get(Customer, id=buyer.id)
    assert reloaded.email == "camille@example.com"  # nothing changes yet
    assert reloaded.pending_email == "camille.new@example.com"
    email = await latest_email("camille.new@example.com")
    path = link_path(email.text_body)
    token = await Token.get(purpose="email_change")
    assert timedelta(hours=23) < token.expires_at - datetime.now(UTC) <= timedelta(hours=24)

    confirm = await client.get(path, headers=ACME)
    assert "camille.new@example.com" in await confirm.get_data(as_text=True)
    done = await post(client, path, {}, page=path)
    assert done.headers["Location"] == "/portal/account?done=email"
    reloaded = await scoped(store).get(Customer, id=buyer.id)
    assert (reloaded.email, reloaded.pending_email) == ("camille.new@example.com", "")
    assert (await client.get(path, headers=ACME)).status_code == 410


@pytest.mark.parametrize(
    ("new_email", "message"),
    [("not-an-email", "valid email"), ("camille@example.com", "already your email")],
)
async def test_a_bad_new_email_changes_nothing(
    client: Client, new_email: str, message: str
) -> None:
    await acme_with_buyer()
    await sign_in(client)
    response = await post(
        client,
        "/portal/account",
        {"action": "email", "new_email": new_email, "email_password": PASSWORD},
        page="/portal/account",
    )
    assert response.status_code == 422
    page = await response.get_data(as_text=True)
    assert message in page
    assert 'id="new_email-error"' in page  # the message sits next to the field
    assert not await Token.filter(purpose="email_change").exists()


async def test_deep_links_lead_to_sign_in_and_back(client: Client) -> None:
    await acme_with_buyer()
    response = await client.get("/portal/orders/1001", headers=ACME)
    assert response.status_code == 303
    assert response.headers["Location"] == "/portal/login?next=/portal/orders/1001"
    page = await client.get(response.headers["Location"], headers=ACME)
    assert 'action="/portal/login?next=/portal/orders/1001"' in await page.get_data(as_text=True)
    html = await page.get_data(as_text=True)
    token = CSRF.search(html)
    assert token is not None
    signed_in = await client.post(
        "/portal/login?next=/portal/orders/1001",
        form={"email": "camille@example.com", "password": PASSWORD, "csrf_token": token.group(1)},
        headers=ACME,
    )
    assert signed_in.headers["Location"] == "/portal/orders/1001"


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/admin/", "/portal/\r\nX: y"]
)
async def test_sign_in_never_sends_a_buyer_away(client: Client, target: str) -> None:
    await acme_with_buyer()
    page = await client.get("/portal/login", headers=ACME)
    token = CSRF.search(await page.get_data(as_text=True))
    assert token is not None
    response = await client.post(
        "/portal/login",
        query_string={"next": target},
        form={"email": "camille@example.com", "password": PASSWORD, "csrf_token": token.group(1)},
        headers=ACME,
    )
    assert response.headers["Location"] == "/portal/"


async def test_a_buyer_without_a_password_is_offered_the_link(client: Client) -> None:
    await acme_with_buyer(password=None)
    page = await (await client.get("/portal/login", headers=ACME)).get_data(as_text=True)
    assert "No password yet?" in page
    assert 'action="/portal/login/link"' in page


async def test_home_shows_what_needs_attention(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    now = datetime.now(UTC)
    card = await make_payment_method(
        store, buyer, last4="4242", exp_month=8, exp_year=now.year - 1, is_default=True
    )
    cancellable = await make_product(
        store,
        "Coffee of the month",
        kind=ProductKind.SUBSCRIPTION,
        price=1900,
        portal_cancellation_allowed=True,
    )
    locked = await make_product(
        store,
        "Annual espresso machine service plan",
        kind=ProductKind.SUBSCRIPTION,
        price=14900,
        interval="year",
        portal_cancellation_allowed=False,
    )
    for product, days in ((cancellable, 12), (locked, 200)):
        await make_subscription(
            store,
            buyer,
            product,
            current_period_end=now + timedelta(days=days),
            payment_method_id=card.id,
        )
    beans = await make_product(store, "Beans", price=3200)
    older = await make_placed_order(
        store,
        buyer,
        "1005",
        [(beans, 1)],
        placed_at=now - timedelta(days=30),
        status=OrderStatus.PAID,
    )
    await make_payment(store, older, payment_method_id=card.id)
    failed = await make_placed_order(
        store,
        buyer,
        "1006",
        [(cancellable, 1)],
        placed_at=now - timedelta(days=2),
        status=OrderStatus.FAILED,
    )
    await make_payment(
        store,
        failed,
        status=PaymentStatus.FAILED,
        failure_reason="Card expired",
        payment_method_id=card.id,
    )
    await make_placed_order(store, buyer, "1007", [(beans, 3)], placed_at=now - timedelta(hours=3))

    response = await sign_in(client)
    assert response.status_code == 303
    home = await (await client.get("/portal/", headers=ACME)).get_data(as_text=True)
    assert "Needs your attention" in home
    assert "ending in 4242 has expired" in home
    assert "The payment for order 1006" in home
    assert "Coffee of the month" in home
    assert "Annual espresso machine service plan" in home
    assert "Order 1007" in home  # newest first


async def test_a_bad_address_for_a_link_gets_a_message_by_the_field(client: Client) -> None:
    await acme_with_buyer()
    response = await post(client, "/portal/login/link", {"link_email": "nope"})
    assert response.status_code == 422
    assert 'id="link_email-error"' in await response.get_data(as_text=True)
    assert not await Token.all().exists()


async def test_the_language_choice_follows_the_buyers_account(client: Client, app: Quart) -> None:
    store, buyer = await acme_with_buyer()
    await sign_in(client)
    switched = await post(
        client, "/language", {"language": "fr", "next": "/portal/"}, page="/portal/"
    )
    assert switched.status_code == 303
    await client.get("/portal/", headers=ACME)
    assert (await scoped(store).get(Customer, id=buyer.id)).language == "fr"
    other_browser = app.test_client()  # no language cookie there
    await sign_in(other_browser)
    home = await (await other_browser.get("/portal/", headers=ACME)).get_data(as_text=True)
    assert '<html lang="fr">' in home


async def test_messages_from_the_server_are_in_the_pages_language(client: Client) -> None:
    await acme_with_buyer(store={"name": "Acme Café", "locale": "fr_FR"})
    wrong = await post(client, "/portal/login", {"email": "camille@example.com", "password": "x"})
    page = await wrong.get_data(as_text=True)
    assert "ne correspondent à aucun compte" in page
    assert "do not match" not in page

    await sign_in(client)
    short = await post(
        client,
        "/portal/account",
        {"action": "password", "current": PASSWORD, "password": "court", "confirm": "court"},
        page="/portal/account",
    )
    assert short.status_code == 422
    assert "Choisissez un mot de passe d’au moins 10 caractères." in await short.get_data(
        as_text=True
    )

    unknown = await client.get("/portal/orders/999999", headers=ACME)
    assert unknown.status_code == 404
    assert "Il n’y a rien à cette adresse." in await unknown.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "field", "minutes"),
    [("/portal/login/link", "link_email", 15), ("/portal/forgot-password", "email", 60)],
)
async def test_the_link_page_says_how_long_the_link_works(
    client: Client, path: str, field: str, minutes: int
) -> None:
    await acme_with_buyer()
    response = await post(client, path, {field: "camille@example.com"})
    page = await response.get_data(as_text=True)
    assert f"It works once, for {minutes} minutes." in page
