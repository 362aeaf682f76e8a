"""Limits on what a buyer or an attacker can try: guesses sent all at once, current-password
checks from a signed-in session, email-change requests."""

from __future__ import annotations

import asyncio
import re
from collections import Counter

import pytest
from quart import Response
from quart.typing import TestClientProtocol as Client

from payfacile.platform.models import OutboxEmail, Session, Token
from payfacile.platform.passwords import hash_password, verify_password
from payfacile.portal.models import Customer
from payfacile.tenants.scope import scoped
from tests.conftest import work_after_answers
from tests.factories import make_customer
from tests.portal.test_auth import (
    ACME,
    CSRF,
    PASSWORD,
    acme_with_buyer,
    comparable,
    latest_email,
    link_path,
    post,
    sign_in,
)
from tests.portal.test_subscriptions import subscribe

BURST = 30


async def csrf_token(client: Client, page: str = "/portal/login") -> str:
    html = await (await client.get(page, headers=ACME)).get_data(as_text=True)
    match = CSRF.search(html)
    assert match is not None, html[:300]
    return match.group(1)


async def test_a_burst_of_guesses_gets_no_more_than_the_limit_checked(client: Client) -> None:
    """30 guesses sent at once from one address, the last one right: at most 10 reach the
    password check (422 or a sign-in); every other one is refused with 429."""
    await acme_with_buyer()
    token = await csrf_token(client)
    guesses = [f"wrong guess {n}" for n in range(BURST - 1)] + [PASSWORD]

    async def guess(password: str) -> int:
        form = {"email": "camille@example.com", "password": password, "csrf_token": token}
        response = await client.post("/portal/login", form=form, headers=ACME)
        return response.status_code

    statuses = Counter(await asyncio.gather(*(guess(password) for password in guesses)))
    assert statuses[422] + statuses[303] <= 10, statuses
    assert statuses[429] >= BURST - 10, statuses
    assert set(statuses) <= {422, 303, 429}, statuses


@pytest.mark.parametrize(
    ("path", "field"), [("/portal/login/link", "link_email"), ("/portal/forgot-password", "email")]
)
async def test_a_burst_of_link_requests_sends_no_more_than_the_limit(
    client: Client, path: str, field: str
) -> None:
    """The way a buyer with a dead invitation or link asks for a new one, sent 30 times at
    once: 5 answered (and 5 emails), the rest refused with 429."""
    await acme_with_buyer()
    token = await csrf_token(client)

    async def ask() -> int:
        form = {field: "camille@example.com", "csrf_token": token}
        return (await client.post(path, form=form, headers=ACME)).status_code

    statuses = Counter(await asyncio.gather(*(ask() for _ in range(BURST))))
    await work_after_answers(client.app)
    assert statuses == Counter({200: 5, 429: BURST - 5}), statuses
    assert await OutboxEmail.filter(to_address="camille@example.com").count() == 5


async def test_signed_in_pages_are_never_stored(client: Client) -> None:
    """A signed-in page must not come back from a browser's or a proxy's cache (the back
    button on a shared computer after signing out)."""
    await acme_with_buyer()
    signed_out = await client.get("/portal/login", headers=ACME)
    assert "no-store" not in signed_out.headers.get("Cache-Control", "")
    await sign_in(client)
    for path in ("/portal/", "/portal/account", "/portal/orders", "/portal/profile"):
        page = await client.get(path, headers=ACME)
        assert page.status_code == 200, path
        assert page.headers["Cache-Control"] == "no-store", path


async def test_no_buyer_can_use_up_another_buyers_cancellation_requests(client: Client) -> None:
    """Requests are counted per buyer once the subscription is theirs: an attacker sending
    someone else's subscription id gets 404s and blocks nothing."""
    store, camille = await acme_with_buyer()
    theirs = await subscribe(store, camille, allowed=False)
    mallory = await make_customer(
        store, "mallory@example.com", password_hash=await hash_password(PASSWORD)
    )
    await sign_in(client, mallory.email)
    own = await subscribe(store, mallory, allowed=False, name="Mallory's plan")
    path = f"/portal/subscriptions/{theirs.id}/request-cancellation"
    for _ in range(6):
        response = await post(client, path, {}, page="/portal/subscriptions")
        assert response.status_code == 404
    # Mallory's own requests are still counted for her: five, then a 429.
    own_path = f"/portal/subscriptions/{own.id}/request-cancellation"
    for _ in range(5):
        assert (await post(client, own_path, {}, page="/portal/subscriptions")).status_code == 303
    assert (await post(client, own_path, {}, page="/portal/subscriptions")).status_code == 429

    camille_client = client.app.test_client()
    await sign_in(camille_client)
    asked = await post(camille_client, path, {}, page="/portal/subscriptions")
    assert asked.status_code == 303


ACCOUNT = "/portal/account"


async def account_post(client: Client, form: dict[str, str]) -> Response:
    return await post(client, ACCOUNT, form, page=ACCOUNT)


async def test_current_password_checks_from_a_session_are_limited(client: Client) -> None:
    """A stolen session cannot guess the password through the account page: both forms
    share 10 checks in 15 minutes, then even the right password gets a 429."""
    store, camille = await acme_with_buyer()
    await sign_in(client)
    for n in range(10):
        form = (
            {
                "action": "password",
                "current": f"guess {n}",
                "password": "x" * 12,
                "confirm": "x" * 12,
            }
            if n % 2
            else {
                "action": "email",
                "new_email": f"new{n}@example.com",
                "email_password": f"guess {n}",
            }
        )
        assert (await account_post(client, form)).status_code == 422
    right = {"action": "password", "current": PASSWORD, "password": "y" * 12, "confirm": "y" * 12}
    locked = await account_post(client, right)
    assert locked.status_code == 429
    reloaded = await scoped(store).get(Customer, id=camille.id)
    assert await verify_password(reloaded.password_hash, PASSWORD)


async def test_email_change_requests_are_limited(client: Client) -> None:
    await acme_with_buyer()
    await sign_in(client)
    for n in range(5):
        form = {"action": "email", "new_email": f"new{n}@example.com", "email_password": PASSWORD}
        assert (await account_post(client, form)).status_code == 200
    form = {"action": "email", "new_email": "new5@example.com", "email_password": PASSWORD}
    assert (await account_post(client, form)).status_code == 429
    assert not await OutboxEmail.filter(to_address="new5@example.com").exists()


async def test_a_taken_address_gets_the_same_answer_and_its_owner_is_told(
    client: Client,
) -> None:
    """Whether another account of the store uses the address is not revealed: the page is
    the same; the address's owner gets a notice with no link, and nothing changes."""
    store, camille = await acme_with_buyer()
    dominique = await make_customer(store, "dominique@example.com", name="Dominique")
    await sign_in(client)
    pages = []
    for address in ("free@example.com", dominique.email):
        form = {"action": "email", "new_email": address, "email_password": PASSWORD}
        response = await account_post(client, form)
        assert response.status_code == 200
        page = await response.get_data(as_text=True)
        pages.append(comparable(page.replace(address, "ADDRESS")))
    assert pages[0] == pages[1]
    notice = await latest_email(dominique.email)
    assert "already belongs to your account" in notice.text_body
    assert "/portal/email/" not in notice.text_body
    tokens = await Token.filter(purpose="email_change")
    assert [token.payload for token in tokens] == [{"email": "free@example.com"}]
    unchanged = await scoped(store).get(Customer, id=dominique.id)
    assert unchanged.email == "dominique@example.com"
    assert (await scoped(store).get(Customer, id=camille.id)).email == "camille@example.com"


async def test_a_confirmed_email_change_tells_the_old_address_and_ends_other_sessions(
    client: Client,
) -> None:
    _, camille = await acme_with_buyer()
    phone = client.app.test_client()
    await sign_in(phone)
    await sign_in(client)
    form = {"action": "email", "new_email": "camille.new@example.com", "email_password": PASSWORD}
    assert (await account_post(client, form)).status_code == 200
    path = link_path((await latest_email("camille.new@example.com")).text_body)
    done = await post(client, path, {}, page=path)
    assert done.headers["Location"] == "/portal/account?done=email"

    told = await latest_email("camille@example.com")
    assert "now uses the email address camille.new@example.com" in told.text_body
    assert (await client.get("/portal/", headers=ACME)).status_code == 200  # this browser
    signed_out = await phone.get("/portal/", headers=ACME)
    assert signed_out.status_code == 303  # every other session ended
    assert await Session.filter(subject_id=camille.id).count() == 1


async def test_a_mistake_is_summed_up_above_the_form_it_belongs_to(client: Client) -> None:
    await acme_with_buyer()
    await sign_in(client)
    form = {"action": "password", "current": "not it", "password": "x" * 12, "confirm": "x" * 12}
    page = await (await account_post(client, form)).get_data(as_text=True)
    email_part, password_part = page.split('id="password-title"')
    assert "error-summary" not in email_part  # the email form was not the one sent
    assert re.search(r'class="error-summary"[^>]*autofocus', password_part)
    assert '<a href="#current">' in password_part
