"""Subscriptions: cancel and resume where the product allows it; otherwise ask the merchant."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from quart.typing import TestClientProtocol as Client

from payfacile.app import registry
from payfacile.platform import i18n
from payfacile.platform.config import Settings
from payfacile.platform.jobs import scheduler_loop
from payfacile.platform.models import OutboxEmail
from payfacile.portal.models import Customer, Subscription, SubscriptionStatus
from payfacile.tenants.models import CancellationMode, Product, ProductKind, Store
from payfacile.tenants.scope import scoped
from tests.factories import make_customer, make_payment_method, make_store
from tests.portal.test_auth import ACME, acme_with_buyer, post, sign_in

PAGE = "/portal/subscriptions"
PERIOD_END = datetime(2031, 5, 17, 9, tzinfo=UTC)


async def subscribe(
    store: Store,
    buyer: Customer,
    *,
    allowed: bool,
    mode: CancellationMode = CancellationMode.END_OF_PERIOD,
    name: str = "Coffee club",
    period_end: datetime = PERIOD_END,
) -> Subscription:
    scope = scoped(store)
    product = await scope.create(
        Product,
        name=name,
        kind=ProductKind.SUBSCRIPTION,
        price=1900,
        interval="month",
        portal_cancellation_allowed=allowed,
        cancellation_mode=mode,
    )
    return await scope.create(
        Subscription,
        customer_id=buyer.id,
        product_id=product.id,
        status=SubscriptionStatus.ACTIVE,
        current_period_end=period_end,
    )


async def reload(store: Store, subscription: Subscription) -> Subscription:
    return await scoped(store).get(Subscription, id=subscription.id)


async def merchant_emails() -> list[OutboxEmail]:
    return list(await OutboxEmail.filter(to_address__startswith="support").order_by("id"))


async def test_cancel_at_the_period_end_then_resume(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    sub = await subscribe(store, buyer, allowed=True)
    await sign_in(client)
    listing = await (await client.get(PAGE, headers=ACME)).get_data(as_text=True)
    assert f'href="{PAGE}/{sub.id}/cancel"' in listing
    assert "Next payment: €22.80 on 17 May 2031." in listing  # €19.00 + 20 % VAT

    confirm = await client.get(f"{PAGE}/{sub.id}/cancel", headers=ACME)
    assert "stays active until 17 May 2031" in await confirm.get_data(as_text=True)
    done = await post(client, f"{PAGE}/{sub.id}/cancel", {"reason": "Too much coffee"}, page=PAGE)
    assert done.status_code == 303
    canceled = await reload(store, sub)
    assert canceled.cancel_at_period_end
    assert canceled.status == SubscriptionStatus.ACTIVE  # paid until the period ends
    assert canceled.cancellation_reason == "Too much coffee"
    listing = await (await client.get(f"{PAGE}?done=canceled", headers=ACME)).get_data(as_text=True)
    assert "Your subscription is canceled." in listing
    assert "Ends on 17 May 2031" in listing
    assert f'action="{PAGE}/{sub.id}/resume"' in listing
    [email] = await merchant_emails()
    assert email.subject == "Camille canceled Coffee club"
    assert "Too much coffee" in email.text_body
    assert "It ends on 17 May 2031" in email.text_body
    assert email.reply_to == "camille@example.com"

    resumed = await post(client, f"{PAGE}/{sub.id}/resume", {}, page=PAGE)
    assert resumed.status_code == 303
    back = await reload(store, sub)
    assert not back.cancel_at_period_end
    assert back.canceled_at is None
    assert (await merchant_emails())[-1].subject == "Camille resumed Coffee club"


async def test_a_product_set_to_end_at_once_cancels_now(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    sub = await subscribe(store, buyer, allowed=True, mode=CancellationMode.IMMEDIATELY)
    await sign_in(client)
    confirm = await client.get(f"{PAGE}/{sub.id}/cancel", headers=ACME)
    assert "Your subscription ends now." in await confirm.get_data(as_text=True)
    assert (await post(client, f"{PAGE}/{sub.id}/cancel", {}, page=PAGE)).status_code == 303
    ended = await reload(store, sub)
    assert ended.status == SubscriptionStatus.CANCELED
    assert ended.canceled_at is not None
    listing = await (await client.get(PAGE, headers=ACME)).get_data(as_text=True)
    assert "/resume" not in listing
    assert "It ended at once." in (await merchant_emails())[-1].text_body
    again = await post(client, f"{PAGE}/{sub.id}/resume", {}, page=PAGE)
    assert again.status_code == 409


async def test_where_the_product_forbids_it_the_buyer_asks_the_merchant(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    sub = await subscribe(store, buyer, allowed=False, name="Machine service plan")
    await sign_in(client)
    listing = await (await client.get(PAGE, headers=ACME)).get_data(as_text=True)
    assert "/cancel" not in listing
    assert "To cancel this subscription, contact Acme Coffee." in listing

    forced = await post(client, f"{PAGE}/{sub.id}/cancel", {"reason": "x"}, page=PAGE)
    assert forced.status_code == 403
    assert (await client.get(f"{PAGE}/{sub.id}/cancel", headers=ACME)).status_code == 403
    unchanged = await reload(store, sub)
    assert not unchanged.cancel_at_period_end
    assert unchanged.status == SubscriptionStatus.ACTIVE
    assert await merchant_emails() == []

    asked = await post(client, f"{PAGE}/{sub.id}/request-cancellation", {}, page=PAGE)
    assert asked.status_code == 303
    assert asked.headers["Location"] == f"{PAGE}?done=requested"
    [email] = await merchant_emails()
    assert email.to_address == store.support_email
    assert email.subject == "Camille asks you to cancel Machine service plan"
    assert "camille@example.com" in email.text_body
    assert (await reload(store, sub)).status == SubscriptionStatus.ACTIVE


async def test_a_request_shows_on_the_subscription_and_is_sent_once(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    sub = await subscribe(store, buyer, allowed=False, name="Machine service plan")
    await sign_in(client)
    form = {"reason": "Moving to  Montréal"}
    asked = await post(client, f"{PAGE}/{sub.id}/request-cancellation", form, page=PAGE)
    assert asked.headers["Location"] == f"{PAGE}?done=requested"
    listing = await (await client.get(PAGE, headers=ACME)).get_data(as_text=True)
    today = f"{datetime.now(UTC).day} {datetime.now(UTC):%b %Y}"
    assert f"Cancellation requested on {today}" in listing
    assert "Your reason: Moving to Montréal" in listing
    assert "Acme Coffee will answer you by email." in listing
    assert "/request-cancellation" not in listing  # nothing to send twice

    again = await post(client, f"{PAGE}/{sub.id}/request-cancellation", {}, page=PAGE)
    assert again.headers["Location"] == f"{PAGE}?done=already"
    answer = await client.get(again.headers["Location"], headers=ACME)
    assert "Your request was already sent" in await answer.get_data(as_text=True)
    assert len(await merchant_emails()) == 1
    receipts = OutboxEmail.filter(to_address=buyer.email, subject__contains="Machine service")
    assert await receipts.count() == 1


async def test_each_subscription_says_what_it_charges_next_and_with_what(
    client: Client,
) -> None:
    store, buyer = await acme_with_buyer()
    sub = await subscribe(store, buyer, allowed=True)
    await scoped(store).query(Product).filter(id=sub.product_id).update(tax_rate_bp=550)
    await sign_in(client)
    listing = await (await client.get(PAGE, headers=ACME)).get_data(as_text=True)
    assert "<strong>€20.05</strong> per month" in listing  # €19.00 + 5.5 %, half-up
    assert "excl. VAT" not in listing  # a consumer sees what is charged
    assert "Next payment: €20.05 on 17 May 2031." in listing
    assert "No payment method pays for it yet." in listing

    card = await make_payment_method(
        store, buyer, brand="Visa", last4="4242", exp_month=8, exp_year=2025, is_default=True
    )
    await scoped(store).update(sub, payment_method_id=card.id)
    await scoped(store).update(buyer, company="Torréfaction Martin")
    listing = await (await client.get(PAGE, headers=ACME)).get_data(as_text=True)
    assert "(€19.00 excl. VAT)" in listing  # a business buyer also sees the net price
    assert "Next payment: €20.05 on 17 May 2031 with Visa •••• 4242." in listing
    assert "Visa •••• 4242 has expired." in listing
    assert "Replace it" in listing

    await post(client, f"{PAGE}/{sub.id}/cancel", {}, page=PAGE)
    listing = await (await client.get(PAGE, headers=ACME)).get_data(as_text=True)
    assert "Ends on 17 May 2031: no further payment." in listing
    assert "Next payment" not in listing


async def test_a_period_that_has_ended_cannot_be_resumed(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    past = datetime.now(UTC) - timedelta(days=1)
    sub = await subscribe(store, buyer, allowed=True, period_end=past)
    await scoped(store).update(sub, cancel_at_period_end=True)
    await sign_in(client)
    assert (await post(client, f"{PAGE}/{sub.id}/resume", {}, page=PAGE)).status_code == 409
    listing = await (await client.get(PAGE, headers=ACME)).get_data(as_text=True)
    assert "Canceled" in listing
    home = await (await client.get("/portal/", headers=ACME)).get_data(as_text=True)
    assert "Coffee club" not in home  # no longer among the active ones


@pytest.mark.parametrize("action", ["cancel", "resume", "request-cancellation"])
async def test_another_buyers_or_stores_subscription_is_a_404(client: Client, action: str) -> None:
    store, _ = await acme_with_buyer()
    theirs = await subscribe(store, await make_customer(store, "someone@example.com"), allowed=True)
    other = await make_store("other")
    elsewhere = await subscribe(
        other, await make_customer(other, "camille@example.com"), allowed=True
    )
    await sign_in(client)
    for sub in (theirs, elsewhere):
        response = await post(client, f"{PAGE}/{sub.id}/{action}", {}, page=PAGE)
        assert response.status_code == 404
    assert await merchant_emails() == []


async def test_signed_out_the_subscriptions_lead_to_sign_in(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    sub = await subscribe(store, buyer, allowed=True)
    response = await client.get(f"{PAGE}/{sub.id}/cancel", headers=ACME)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/portal/login?next=")


async def test_the_scheduler_ends_subscriptions_whose_last_period_is_over(
    database: Settings,
) -> None:
    store = await make_store("acme")
    buyer = await make_customer(store, "camille@example.com")
    past, future = datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(days=3)
    lapsed = await subscribe(store, buyer, allowed=True, period_end=past, name="Lapsed")
    pending = await subscribe(store, buyer, allowed=True, period_end=future, name="Pending")
    renewing = await subscribe(store, buyer, allowed=True, period_end=past, name="Renewing")
    for sub in (lapsed, pending):
        await scoped(store).update(sub, cancel_at_period_end=True)

    kicked: list[tuple[object, ...]] = []

    async def kick(*job: object) -> None:
        kicked.append(job)  # a failure raised here would only be logged by the loop

    parts = registry(database)
    loop = asyncio.create_task(scheduler_loop(kick, database, parts.jobs))
    await asyncio.sleep(0.3)
    loop.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await loop
    await parts.services.close()
    assert kicked == [], "no due work existed: the sweep alone ends subscriptions"
    assert (await reload(store, lapsed)).status == SubscriptionStatus.CANCELED
    assert (await reload(store, pending)).status == SubscriptionStatus.ACTIVE
    assert (await reload(store, renewing)).status == SubscriptionStatus.ACTIVE  # billing's job


async def buyer_emails() -> list[OutboxEmail]:
    return list(await OutboxEmail.filter(to_address="camille@example.com").order_by("id"))


def days_around(before: datetime) -> set[str]:
    """How the test's day reads in an email: the day it started, or the next near midnight."""
    return {i18n.date(before, "en"), i18n.date(datetime.now(UTC), "en")}


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        (CancellationMode.END_OF_PERIOD, "It stays active until 17 May 2031, then ends."),
        (CancellationMode.IMMEDIATELY, "It ended at once."),
    ],
)
async def test_a_buyer_who_cancels_gets_a_dated_confirmation(
    client: Client, mode: CancellationMode, says: str
) -> None:
    store, buyer = await acme_with_buyer()
    sub = await subscribe(store, buyer, allowed=True, mode=mode)
    await sign_in(client)
    before = datetime.now(UTC)
    await post(client, f"{PAGE}/{sub.id}/cancel", {"reason": "Too much coffee"}, page=PAGE)
    [email] = await buyer_emails()
    assert email.subject == "Your subscription to Coffee club is canceled"
    assert email.store_id == store.id
    assert email.from_address.startswith("Acme Coffee")
    on = [day for day in days_around(before) if f"Coffee club on {day}." in email.text_body]
    assert on, email.text_body
    assert says in email.text_body
    assert "Your reason: Too much coffee" in email.text_body
    assert "http://acme.payfacile.localhost:8000/portal/subscriptions" in email.text_body
    assert "Keep this email: it confirms your cancellation." in email.html_body


async def test_a_buyer_who_asks_to_cancel_gets_a_dated_receipt(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    sub = await subscribe(store, buyer, allowed=False, name="Machine service plan")
    await sign_in(client)
    before = datetime.now(UTC)
    form = {"reason": "Moving abroad"}
    await post(client, f"{PAGE}/{sub.id}/request-cancellation", form, page=PAGE)
    [email] = await buyer_emails()
    assert email.subject == "We received your request to cancel Machine service plan"
    asked = [
        day for day in days_around(before) if f"On {day}, you asked Acme Coffee" in email.text_body
    ]
    assert asked, email.text_body
    assert "it renews on 17 May 2031" in email.text_body
    assert "Your reason: Moving abroad" in email.text_body
    assert "dated receipt of your request" in email.text_body
    assert len(await merchant_emails()) == 1  # the store's copy, as before


async def test_a_french_buyer_gets_the_receipt_in_french(client: Client) -> None:
    store, buyer = await acme_with_buyer(language="fr")
    sub = await subscribe(store, buyer, allowed=False, name="Entretien")
    await sign_in(client)
    await post(client, f"{PAGE}/{sub.id}/request-cancellation", {}, page=PAGE)
    [email] = await buyer_emails()
    assert email.subject == "Nous avons bien reçu votre demande de résiliation\u00a0: Entretien"
    assert "il se renouvelle le 17 mai 2031" in email.text_body


async def test_the_plain_text_email_keeps_its_sentences_apart(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    sub = await subscribe(store, buyer, allowed=True)
    await sign_in(client)
    await post(client, f"{PAGE}/{sub.id}/cancel", {"reason": "Too much coffee"}, page=PAGE)
    [email] = await merchant_emails()
    assert "they can resume it until then.\n\nTheir reason: Too much coffee\n\nReply" in (
        email.text_body
    )
