"""The store dashboard's subscription products and cancellation requests, as merchants and
buyers meet them: the "Customers can cancel from the portal" switch (the owner's alone), the
requests buyers send where it is off, the answers they get, and the store home's list of what
needs the merchant."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from quart import Quart, Response
from quart.typing import TestClientProtocol as Client

from payfacile.platform.config import Settings
from payfacile.platform.errors import Conflict
from payfacile.platform.i18n import LANGUAGE_COOKIE
from payfacile.platform.models import OutboxEmail
from payfacile.platform.services import EXTENSION
from payfacile.portal import cancellation_requests, subscriptions
from payfacile.portal.models import (
    CancellationRequest,
    CancellationStatus,
    Customer,
    OrderStatus,
    Subscription,
    SubscriptionStatus,
)
from payfacile.tenants.models import (
    CancellationMode,
    DomainStatus,
    MembershipRole,
    MerchantUser,
    Product,
    ProductKind,
    Store,
)
from payfacile.tenants.scope import scoped
from tests.factories import (
    make_customer,
    make_domain,
    make_order,
    make_product,
    make_store,
    make_subscription,
)
from tests.merchants import CENTRAL, merchant, post
from tests.portal import test_auth as buyer_side
from tests.portal.test_subscriptions import days_around, subscribe

ACME = {"Host": "acme.payfacile.localhost"}
PORTAL = "/portal/subscriptions"
REQUESTS = "/dashboard/acme/cancellation-requests"
PRODUCTS = "/dashboard/acme/products"


async def acme_with_subscription(
    *, allowed: bool = True, mode: CancellationMode = CancellationMode.END_OF_PERIOD
) -> tuple[Store, Customer, Subscription]:
    store, buyer = await buyer_side.acme_with_buyer()
    return store, buyer, await subscribe(store, buyer, allowed=allowed, mode=mode)


async def text(client: Client, path: str, headers: dict[str, str] = CENTRAL) -> str:
    response = await client.get(path, headers=headers)
    assert response.status_code == 200, path
    return await response.get_data(as_text=True)


async def buyer_posts(client: Client, path: str, form: dict[str, str]) -> Response:
    return await buyer_side.post(client, path, form, page=PORTAL)


def product_form(product: Product, **changes: str) -> dict[str, str]:
    """The product's form as the owner's page posts it, with `changes`."""
    form = {
        "name": product.name,
        "price": "19.00",
        "interval": product.interval,
        "cancellation": "1",
        "cancellation_mode": product.cancellation_mode.value,
    }
    if product.portal_cancellation_allowed:
        form["portal_cancellation_allowed"] = "on"
    return {**form, **changes}


async def product_of(store: Store, subscription: Subscription) -> Product:
    return await scoped(store).get(Product, id=subscription.product_id)


async def buyer_emails(buyer: Customer) -> list[OutboxEmail]:
    return list(await OutboxEmail.filter(to_address=buyer.email).order_by("id"))


async def test_the_switch_off_sends_buyers_to_ask_and_the_owner_cancels_as_asked(
    client: Client, app: Quart
) -> None:
    store, buyer, sub = await acme_with_subscription(allowed=True)
    owner_client = app.test_client()
    owner = await merchant(owner_client, store, MembershipRole.OWNER, "owner@example.com")
    await buyer_side.sign_in(client)
    cancel_link = f'href="{PORTAL}/{sub.id}/cancel"'
    assert cancel_link in await text(client, PORTAL, ACME)

    product = await product_of(store, sub)
    off = product_form(product)
    del off["portal_cancellation_allowed"]
    saved = await post(owner_client, f"{PRODUCTS}/{product.id}", off, page=PRODUCTS)
    assert saved.status_code == 303
    assert not (await product_of(store, sub)).portal_cancellation_allowed

    listing = await text(client, PORTAL, ACME)  # at once: nothing cached the product
    assert cancel_link not in listing
    assert "Request cancellation" in listing
    refused = await buyer_posts(client, f"{PORTAL}/{sub.id}/cancel", {"reason": "x"})
    assert refused.status_code == 403
    assert not (await scoped(store).get(Subscription, id=sub.id)).cancel_at_period_end

    asked_at = datetime.now(UTC)
    form = {"reason": "Moving abroad"}
    asked = await buyer_posts(client, f"{PORTAL}/{sub.id}/request-cancellation", form)
    assert asked.status_code == 303
    page = await text(owner_client, REQUESTS)
    assert "Moving abroad" in page
    assert f'href="/dashboard/acme/customers/{buyer.id}">Camille</a>' in page
    assert "Coffee club" in page
    assert any(day in page for day in days_around(asked_at)), page
    [found] = await scoped(store).query(CancellationRequest).all()
    assert f'href="{REQUESTS}/{found.id}"' in page

    before = len(await buyer_emails(buyer))
    answer = {"when": "period_end"}
    done = await post(owner_client, f"{REQUESTS}/{found.id}/cancel", answer, page=REQUESTS)
    assert done.status_code == 303
    canceled = await scoped(store).get(Subscription, id=sub.id)
    assert canceled.cancel_at_period_end
    assert canceled.status == SubscriptionStatus.ACTIVE  # paid until 17 May 2031
    assert canceled.cancellation_reason == "Moving abroad"
    [email] = (await buyer_emails(buyer))[before:]
    assert email.subject == "Your subscription to Coffee club is canceled"
    assert (
        "Acme Coffee canceled your subscription to Coffee club, as you asked on" in email.text_body
    )
    assert "It stays active until 17 May 2031, then ends." in email.text_body
    assert "http://acme.payfacile.localhost:8000/portal/subscriptions" in email.text_body
    assert "border-top:4px solid" in email.html_body  # the store's branded layout
    answered = await text(owner_client, f"{REQUESTS}/{found.id}?done=canceled")
    assert "Canceled at the end of the period" in answered
    assert f"by {owner.email}" in answered
    again = await post(owner_client, f"{REQUESTS}/{found.id}/cancel", answer, page=REQUESTS)
    assert again.status_code == 409
    assert len(await buyer_emails(buyer)) == before + 1

    await scoped(store).update(canceled, cancel_at_period_end=False, canceled_at=None)
    on = product_form(await product_of(store, sub), portal_cancellation_allowed="on")
    await post(owner_client, f"{PRODUCTS}/{product.id}", on, page=PRODUCTS)
    assert cancel_link in await text(client, PORTAL, ACME)  # back, at once


async def test_staff_cannot_change_the_switch_but_edit_the_rest_and_answer_requests(
    client: Client,
) -> None:
    store, buyer, sub = await acme_with_subscription(allowed=False)
    await merchant(client, store, MembershipRole.STAFF, "staff@example.com")
    product = await product_of(store, sub)
    page = await text(client, f"{PRODUCTS}/{product.id}")
    assert 'name="portal_cancellation_allowed"' not in page  # shown, read-only
    assert "Only the store's owner can change this." in page

    for changes in ({"portal_cancellation_allowed": "on"}, {"cancellation_mode": "immediately"}):
        form = product_form(product, name="Renamed", **changes)
        refused = await post(client, f"{PRODUCTS}/{product.id}", form, page=PRODUCTS)
        assert refused.status_code == 403
        assert "Only the store" in await refused.get_data(as_text=True)
        unchanged = await product_of(store, sub)
        assert (unchanged.name, unchanged.portal_cancellation_allowed) == ("Coffee club", False)
        assert unchanged.cancellation_mode == CancellationMode.END_OF_PERIOD
    new = {"name": "Open club", "price": "5", "interval": "month", "cancellation": "1"}
    new |= {"portal_cancellation_allowed": "on", "cancellation_mode": "end_of_period"}
    assert (await post(client, f"{PRODUCTS}/new", new, page=PRODUCTS)).status_code == 403
    assert await scoped(store).query(Product).count() == 1

    staff_form = {"name": "Coffee club plus", "price": "21,50", "interval": "year"}
    saved = await post(client, f"{PRODUCTS}/{product.id}", staff_form, page=PRODUCTS)
    assert saved.status_code == 303
    edited = await product_of(store, sub)
    assert (edited.name, edited.price, edited.interval) == ("Coffee club plus", 2150, "year")
    assert not edited.portal_cancellation_allowed

    found = await request_of(store, buyer, sub, reason="Too expensive")
    done = await post(client, f"{REQUESTS}/{found.id}/cancel", {"when": "now"}, page=REQUESTS)
    assert done.status_code == 303
    assert (await scoped(store).get(Subscription, id=sub.id)).status == SubscriptionStatus.CANCELED
    [email] = await buyer_emails(buyer)
    assert "It ended at once." in email.text_body
    assert "Canceled at once" in await text(client, f"{REQUESTS}/{found.id}")


async def request_of(
    store: Store, buyer: Customer, sub: Subscription, *, reason: str = "", days_ago: int = 0
) -> CancellationRequest:
    """A pending request of `buyer` for `sub`, made `days_ago`."""
    return await scoped(store).create(
        CancellationRequest,
        subscription_id=sub.id,
        customer_id=buyer.id,
        reason=reason,
        requested_at=datetime.now(UTC) - timedelta(days=days_ago, minutes=1),
    )


async def test_a_reply_emails_the_buyer_once_and_a_second_answer_is_a_409(
    client: Client,
) -> None:
    store, buyer, sub = await acme_with_subscription(allowed=False)
    await merchant(client, store, MembershipRole.OWNER, "owner@example.com")
    found = await request_of(store, buyer, sub)
    path = f"{REQUESTS}/{found.id}"

    empty = await post(client, f"{path}/reply", {"message": "   "}, page=REQUESTS)
    assert empty.status_code == 422
    assert "Write the message the customer will receive." in await empty.get_data(as_text=True)
    assert await buyer_emails(buyer) == []

    message = "We can pause it for three months instead. Shall we?"
    replied = await post(client, f"{path}/reply", {"message": message}, page=REQUESTS)
    assert replied.status_code == 303
    [email] = await buyer_emails(buyer)
    assert email.subject == "Acme Coffee answered your request to cancel Coffee club"
    assert message in email.text_body
    assert (await scoped(store).get(Subscription, id=sub.id)).status == SubscriptionStatus.ACTIVE
    for action, form in (("reply", {"message": "again"}), ("cancel", {"when": "now"})):
        twice = await post(client, f"{path}/{action}", form, page=REQUESTS)
        assert twice.status_code == 409
        assert "answered already" in await twice.get_data(as_text=True)
    assert len(await buyer_emails(buyer)) == 1
    assert message in await text(client, path)


async def test_a_request_waiting_over_7_days_is_flagged_on_home_and_in_the_list(
    client: Client,
) -> None:
    store, buyer, sub = await acme_with_subscription(allowed=False)
    await request_of(store, buyer, sub, reason="Old", days_ago=8)
    newer = await subscribe(store, buyer, allowed=False, name="Tea club")
    await request_of(store, buyer, newer, reason="New", days_ago=1)
    await make_order(store, buyer, "1001", status=OrderStatus.FAILED)
    await make_order(store, buyer, "1002", status=OrderStatus.PAID)
    await make_customer(store, "invited@example.com", invited_at=datetime.now(UTC))
    await merchant(client, store, MembershipRole.STAFF, "staff@example.com")

    home = await text(client, "/dashboard/acme/")
    assert "2 cancellation requests wait for your answer" in home
    assert "1 waiting more than 7 days" in home
    assert "1 order whose payment failed" in home
    assert "1 customer invited to the portal has not signed in yet" in home
    assert f'href="{REQUESTS}"' in home
    assert "http://acme.payfacile.localhost:8000/portal/" in home
    page = await text(client, REQUESTS)
    assert page.index("Old") < page.index("New")  # oldest first
    assert 'badge--failed">Waiting 8 days' in page
    assert 'badge--pending">Waiting 1 day' in page


async def test_the_owner_is_told_of_domains_whose_dns_needs_fixing(
    app: Quart, client: Client
) -> None:
    store, _, _ = await acme_with_subscription(allowed=False)
    await make_domain(store, "shop.acme.example", DomainStatus.DNS_MOVED)
    await make_domain(store, "www.acme.example", DomainStatus.FAILED)
    await make_domain(store, "new.acme.example", DomainStatus.PENDING_DNS)
    staff = app.test_client()
    await merchant(staff, store, MembershipRole.STAFF, "staff@example.com")
    assert "custom domain" not in await text(staff, "/dashboard/acme/")  # not their page

    await merchant(client, store, MembershipRole.OWNER, "owner@example.com")
    home = await text(client, "/dashboard/acme/")
    assert "2 custom domains need their DNS records fixed" in home
    assert 'href="/dashboard/acme/domains"' in home


async def test_home_counts_with_a_few_counts_however_many_rows(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    store, buyer, sub = await acme_with_subscription(allowed=False)
    await merchant(client, store, MembershipRole.OWNER, "owner@example.com")

    async def queries() -> list[str]:
        await text(client, "/dashboard/acme/")  # caches warm: host, session
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
            await text(client, "/dashboard/acme/")
        return [r.getMessage() for r in caplog.records if r.name == "tortoise.db_client"]

    few = await queries()
    await request_of(store, buyer, sub, days_ago=10)
    for n in range(20):
        await make_order(store, buyer, f"F-{n}", status=OrderStatus.FAILED)
    await scoped(store).create_many(
        Customer,
        [{"email": f"i{n}@example.com", "invited_at": datetime.now(UTC)} for n in range(50)],
    )
    many = await queries()
    assert len(many) == len(few) <= 8, "\n".join(many)  # session, membership, portal domain
    counted = [query for query in many if "COUNT(" in query.upper()]
    # Requests, late ones, failed payments, invited customers, domains needing DNS fixed.
    assert len(counted) == 5, many
    home = await text(client, "/dashboard/acme/")
    assert "20 orders whose payment failed" in home
    assert "50 customers invited to the portal have not signed in yet" in home


async def test_another_stores_product_or_request_is_a_404(client: Client) -> None:
    store, _, _ = await acme_with_subscription(allowed=False)
    other = await make_store("other")
    theirs_buyer = await make_customer(other, "x@example.com")
    theirs = await subscribe(other, theirs_buyer, allowed=False)
    their_request = await request_of(other, theirs_buyer, theirs)
    await merchant(client, store, MembershipRole.OWNER, "owner@example.com")
    their_product = await product_of(other, theirs)
    paths = [
        ("GET", f"{PRODUCTS}/{their_product.id}"),
        ("POST", f"{PRODUCTS}/{their_product.id}"),
        ("GET", f"{REQUESTS}/{their_request.id}"),
        ("POST", f"{REQUESTS}/{their_request.id}/cancel"),
        ("POST", f"{REQUESTS}/{their_request.id}/reply"),
    ]
    for method, path in paths:
        if method == "GET":
            response = await client.get(path, headers=CENTRAL)
        else:
            form = {**product_form(their_product), "when": "now", "message": "hi"}
            response = await post(client, path, form, page=PRODUCTS)
        assert response.status_code == 404, (method, path)
    assert (await scoped(other).get(CancellationRequest, id=their_request.id)).pending
    assert (await product_of(other, theirs)).name == "Coffee club"
    assert await OutboxEmail.all().count() == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "  ", "Give the product a name."),
        ("price", "abc", "Enter the price as an amount, like 19.90"),
        ("price", "1.999", "with at most 2 decimals"),
        ("price", "-1", "Enter the price as an amount"),
        ("interval", "week", "Choose monthly or yearly."),
        ("cancellation_mode", "later", "Choose when a cancellation takes effect."),
        ("vat_rate", "twenty", "Enter the VAT rate in percent, from 0 to 100"),
        ("vat_rate", "120", "Enter the VAT rate in percent, from 0 to 100"),
        ("vat_rate", "5.555", "Enter the VAT rate in percent"),
    ],
)
async def test_a_wrong_field_is_a_422_next_to_it_and_nothing_is_written(
    client: Client, field: str, value: str, message: str
) -> None:
    store = await make_store("acme", name="Acme Coffee")
    await merchant(client, store, MembershipRole.OWNER, "owner@example.com")
    form = {"name": "Coffee club", "price": "19.90", "interval": "month", "cancellation": "1"}
    form |= {"cancellation_mode": "end_of_period", "vat_rate": "5,5"}
    refused = await post(client, f"{PRODUCTS}/new", {**form, field: value}, page=PRODUCTS)
    assert refused.status_code == 422
    page = await refused.get_data(as_text=True)
    error = re.search(rf'<p class="field__error" id="{field}-error">([^<]+)</p>', page)
    assert error is not None, page
    assert message in error.group(1)
    assert await scoped(store).query(Product).count() == 0
    made = await post(client, f"{PRODUCTS}/new", form, page=PRODUCTS)
    assert made.status_code == 303
    [product] = await scoped(store).query(Product).all()
    assert (product.name, product.price, product.interval) == ("Coffee club", 1990, "month")
    assert product.tax_rate_bp == 550
    assert not product.portal_cancellation_allowed
    edit = await (await client.get(f"{PRODUCTS}/{product.id}", headers=CENTRAL)).get_data(
        as_text=True
    )
    assert 'name="vat_rate" type="text" value="5.5"' in edit


async def test_the_list_shows_live_subscriptions_in_one_query(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    store, buyer, sub = await acme_with_subscription(allowed=True)
    product = await product_of(store, sub)
    await make_subscription(store, buyer, product)
    await make_subscription(store, buyer, product, status=SubscriptionStatus.CANCELED)
    past = datetime.now(UTC) - timedelta(days=1)
    await make_subscription(
        store, buyer, product, cancel_at_period_end=True, current_period_end=past
    )
    await subscribe(store, buyer, allowed=False, name="Tea club")
    await merchant(client, store, MembershipRole.STAFF, "staff@example.com")
    page = await text(client, PRODUCTS)
    row = r'">([^<]+)</a></th>.*?<td class="numeric"><span[^>]*>[^<]*</span>(\d+)</td>'
    rows = re.findall(row, page, re.S)
    assert rows == [("Coffee club", "2"), ("Tea club", "1")]
    assert "Yes, at the end of the period" in page
    assert "€19.00 per month" in page
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        await text(client, PRODUCTS)
    sql = [r.getMessage() for r in caplog.records if r.name == "tortoise.db_client"]
    assert len([query for query in sql if '"subscription"' in query]) == 1, sql


async def test_parallel_requests_make_one_row_and_parallel_answers_one_answer(
    app: Quart, settings: Settings
) -> None:
    """Several at the same moment (concurrent transactions on PostgreSQL)."""
    store, buyer, sub = await acme_with_subscription(allowed=False)
    owner = await MerchantUser.create(email="owner@example.com")
    limiter = app.extensions[EXTENSION].limiter
    asked = await asyncio.gather(
        *(
            subscriptions.request_cancellation(
                settings, limiter, store, buyer, sub.id, reason=reason
            )
            for reason in ("", "Moving abroad", "")
        ),
        return_exceptions=True,
    )
    won = [answer for answer in asked if not isinstance(answer, BaseException)]
    assert len(won) == 1, asked  # the others see the first: already requested
    assert all(isinstance(a, subscriptions.AlreadyRequested) for a in asked if a not in won)
    [row] = await scoped(store).query(CancellationRequest).all()
    assert row.reason == "Moving abroad"  # a later empty reason does not wipe it
    assert row.status == CancellationStatus.PENDING
    assert len(await buyer_emails(buyer)) == 1  # one request, one dated receipt

    answers = await asyncio.gather(
        cancellation_requests.cancel_as_asked(
            settings, store, row.id, merchant_id=owner.id, immediately=True
        ),
        cancellation_requests.reply(settings, store, row.id, merchant_id=owner.id, message="No"),
        cancellation_requests.cancel_as_asked(
            settings, store, row.id, merchant_id=owner.id, immediately=False
        ),
        return_exceptions=True,
    )
    won = [answer for answer in answers if not isinstance(answer, BaseException)]
    assert len(won) == 1, answers
    assert all(isinstance(a, Conflict) for a in answers if a not in won), answers
    assert len(await buyer_emails(buyer)) == 2  # one answer
    answered = await scoped(store).get(CancellationRequest, id=row.id)
    assert answered.status != CancellationStatus.PENDING
    assert answered.pending is None


async def test_the_pages_in_french(client: Client) -> None:
    store, buyer, sub = await acme_with_subscription(allowed=False)
    found = await request_of(store, buyer, sub, reason="Trop cher", days_ago=9)
    await merchant(client, store, MembershipRole.OWNER, "owner@example.com")
    client.set_cookie("payfacile.localhost", LANGUAGE_COOKIE, "fr")  # type: ignore[attr-defined]
    product = await product_of(store, sub)
    pages = {
        "/dashboard/acme/": "1 en attente depuis plus de 7 jours",
        PRODUCTS: "Les clients peuvent résilier depuis l’espace client",
        f"{PRODUCTS}/{product.id}": "Une résiliation prend effet",
        REQUESTS: "En attente depuis 9 jours",
        f"{REQUESTS}/{found.id}": "Résilier comme demandé",
    }
    for path, words in pages.items():
        page = await text(client, path)
        assert '<html lang="fr">' in page, path
        assert words in page, path


async def test_the_product_list_pages_by_name_with_no_overlap(client: Client) -> None:
    acme = await make_store("acme", name="Acme Coffee")
    for n in range(60):  # created out of order: the list is by name
        await make_product(acme, f"Plan {59 - n:02d}", kind=ProductKind.SUBSCRIPTION)
    other = await make_store("other")
    theirs = await make_product(other, "Their plan", kind=ProductKind.SUBSCRIPTION)
    await merchant(client, acme, MembershipRole.STAFF, "staff@example.com")
    names = re.compile(r'<th scope="row"><a href="/dashboard/acme/products/\d+">([^<]+)</a>')
    first = await text(client, PRODUCTS)
    assert names.findall(first) == [f"Plan {n:02d}" for n in range(50)]
    link = re.search(r'href="(/dashboard/acme/products\?after=\d+)" rel="next"', first)
    assert link is not None
    second = await text(client, link.group(1))
    assert names.findall(second) == [f"Plan {n:02d}" for n in range(50, 60)]
    assert 'rel="next"' not in second
    assert f'href="{PRODUCTS}"' in second  # back to the first page
    for after in ("abc", "99999999999", str(theirs.id)):  # another store's product is no place
        response = await client.get(f"{PRODUCTS}?after={after}", headers=CENTRAL)
        assert response.status_code == 422, after
        assert "This page link is damaged" in await response.get_data(as_text=True)
