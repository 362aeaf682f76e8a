"""Pay now: a buyer pays a failed order from its page, once, or learns why the bank said no."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

from quart.typing import TestClientProtocol as Client

from payfacile.platform.i18n import LANGUAGE_COOKIE
from payfacile.platform.models import OutboxEmail
from payfacile.portal.models import (
    Customer,
    Invoice,
    Order,
    OrderStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
)
from payfacile.tenants.models import ProductKind, Store
from payfacile.tenants.scope import scoped
from tests.conftest import work_after_answers
from tests.factories import (
    make_customer,
    make_payment,
    make_payment_method,
    make_placed_order,
    make_product,
    make_store,
)
from tests.portal.test_auth import ACME, CSRF, acme_with_buyer, post, sign_in

ORDER = "/portal/orders/1006"
NEXT_YEAR = datetime.now(UTC).year + 1


async def failed_order(store: Store, buyer: Customer) -> Order:
    """Order 1006, €22.80 with VAT, whose payment with an expired Visa •••• 1111 failed."""
    old = await make_payment_method(
        store, buyer, last4="1111", exp_month=1, exp_year=2020, is_default=True
    )
    plan = await make_product(store, "Coffee club", kind=ProductKind.SUBSCRIPTION, price=1900)
    order = await make_placed_order(
        store,
        buyer,
        "1006",
        [(plan, 1)],
        tax_rate_bp=2000,
        placed_at=datetime.now(UTC) - timedelta(days=2),
        status=OrderStatus.FAILED,
    )
    await make_payment(
        store,
        order,
        status=PaymentStatus.FAILED,
        failure_reason="expired_card",
        payment_method_id=old.id,
    )
    return order


async def page(client: Client, path: str = ORDER) -> str:
    return await (await client.get(path, headers=ACME)).get_data(as_text=True)


def radio(html: str, label: str) -> str:
    """The value of the radio button labelled `label`."""
    found = re.search(
        r'id="method-(\d+)" name="method" type="radio" value="\d+"[^>]*>\s*'
        rf'<label for="method-\d+">{re.escape(label)}',
        html,
    )
    assert found is not None, html
    return found.group(1)


async def pay(client: Client, method: str) -> tuple[int, str, str]:
    response = await post(client, f"{ORDER}/pay", {"method": method}, page=ORDER)
    body = await response.get_data(as_text=True)
    return response.status_code, response.headers.get("Location", ""), body


async def test_a_failed_order_is_paid_with_a_new_card_and_gets_its_invoice(
    client: Client,
) -> None:
    store, buyer = await acme_with_buyer()
    order = await failed_order(store, buyer)
    await sign_in(client)
    before = await page(client)
    assert "Pay €22.80 now" in before
    assert "the card has expired" in before  # the first payment's reason, in words
    assert re.search(r'value="\d+" disabled>\s*<label[^>]*>Visa •••• 1111', before)
    assert "Needs your attention" in await page(client, "/portal/")

    # No usable method: the buyer adds one from the order and comes back to it.
    assert 'href="/portal/payment-methods/new?then=/portal/orders/1006"' in before
    adding = "/portal/payment-methods/new?then=/portal/orders/1006"
    form = {"number": "4242 4242 4242 4242", "expiry": f"12/{NEXT_YEAR % 100}", "cvc": "123"}
    added = await post(client, "/portal/payment-methods/card", form | {"then": ORDER}, page=adding)
    assert added.headers["Location"] == f"{ORDER}?done=card"
    back = await page(client, added.headers["Location"])
    assert "Your new card is saved. You can pay with it below." in back

    status, location, _ = await pay(client, radio(back, "Visa •••• 4242"))
    assert (status, location) == (303, f"{ORDER}?done=paid")
    paid = await page(client, location)
    assert "Thank you: the order is paid." in paid
    assert "Pay €22.80 now" not in paid
    scope = scoped(store)
    assert (await scope.get(Order, id=order.id)).status == OrderStatus.PAID
    payment = await scope.get(Payment, order_id=order.id, status=PaymentStatus.SUCCEEDED)
    assert (payment.amount, payment.method_summary) == (2280, "Visa •••• 4242")
    assert payment.reference.startswith("ch_test_")
    invoice = await scope.get(Invoice, order_id=order.id)
    assert invoice.total == 2280
    assert f"Invoice {invoice.number}" in paid
    await work_after_answers(client.app)
    email = await OutboxEmail.filter(to_address=buyer.email).order_by("-id").first()
    assert email is not None
    assert invoice.number in email.subject + email.text_body
    assert "Needs your attention" not in await page(client, "/portal/")


async def test_a_card_that_the_bank_declines_says_why_and_charges_nothing(
    client: Client,
) -> None:
    store, buyer = await acme_with_buyer()
    order = await failed_order(store, buyer)
    await sign_in(client)
    adding = "/portal/payment-methods/new?then=/portal/orders/1006"
    form = {"number": "4000 0000 0000 0341", "expiry": f"12/{NEXT_YEAR % 100}", "cvc": "123"}
    added = await post(client, "/portal/payment-methods/card", form | {"then": ORDER}, page=adding)
    assert added.status_code == 303  # the card is saved: only charging it fails

    status, _, body = await pay(client, radio(await page(client), "Visa •••• 0341"))
    assert status == 402
    assert "Your bank declined the payment (insufficient funds)." in body
    assert 'role="alert"' in body
    assert "Pay €22.80 now" in body  # another try stays one click away
    scope = scoped(store)
    assert (await scope.get(Order, id=order.id)).status == OrderStatus.FAILED
    tries = await scope.query(Payment).filter(order_id=order.id).order_by("id")
    assert [(p.status, p.failure_reason) for p in tries] == [
        (PaymentStatus.FAILED, "expired_card"),
        (PaymentStatus.FAILED, "insufficient_funds"),
    ]
    assert not await scope.query(Invoice).filter(order_id=order.id).exists()

    # The French buyer reads the reason in French.
    client.set_cookie("acme.payfacile.localhost", LANGUAGE_COOKIE, "fr")  # type: ignore[attr-defined]
    assert "fonds insuffisants" in await page(client)


async def test_paying_twice_at_once_charges_once(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    order = await failed_order(store, buyer)
    card = await make_payment_method(store, buyer, last4="4242")
    await sign_in(client)
    html = await page(client)
    token = CSRF.search(html)
    assert token is not None
    form = {"method": str(card.id), "csrf_token": token.group(1)}
    answers = await asyncio.gather(
        *(client.post(f"{ORDER}/pay", form=form, headers=ACME) for _ in range(4))
    )
    assert sorted(answer.headers["Location"] for answer in answers) == [
        f"{ORDER}?done=already",
        f"{ORDER}?done=already",
        f"{ORDER}?done=already",
        f"{ORDER}?done=paid",
    ]
    scope = scoped(store)
    succeeded = scope.query(Payment).filter(order_id=order.id, status=PaymentStatus.SUCCEEDED)
    assert await succeeded.count() == 1
    assert await scope.query(Invoice).filter(order_id=order.id).count() == 1
    again = await client.get(f"{ORDER}?done=already", headers=ACME)
    assert "This order is already paid: nothing more was charged." in await again.get_data(
        as_text=True
    )


async def test_only_the_buyers_own_usable_methods_pay_their_own_failed_orders(
    client: Client,
) -> None:
    store, buyer = await acme_with_buyer()
    order = await failed_order(store, buyer)
    expired = await scoped(store).get(PaymentMethod, customer_id=buyer.id, last4="1111")
    someone = await make_customer(store, "dominique@example.com")
    theirs = await make_payment_method(store, someone, last4="9999")
    await sign_in(client)

    for method, words in (
        (str(theirs.id), "Choose how to pay."),
        ("", "Choose how to pay."),
        ("12abc", "Choose how to pay."),
        (str(expired.id), "Visa •••• 1111 has expired."),
    ):
        status, _, body = await pay(client, method)
        assert status == 422, method
        assert words in body
    scope = scoped(store)
    assert await scope.query(Payment).filter(order_id=order.id).count() == 1  # the first only
    assert (await scope.get(Order, id=order.id)).status == OrderStatus.FAILED

    # A paid order has nothing to pay; another buyer's or another store's order is a 404.
    beans = await make_product(store, "Beans", price=3200)
    await make_placed_order(store, buyer, "1007", [(beans, 1)], status=OrderStatus.PAID)
    assert "Pay " not in await page(client, "/portal/orders/1007")
    paid = await post(
        client, "/portal/orders/1007/pay", {"method": str(expired.id)}, page="/portal/orders/1007"
    )
    assert paid.headers["Location"] == "/portal/orders/1007?done=already"
    await make_placed_order(store, someone, "1008", [(beans, 1)], status=OrderStatus.FAILED)
    other = await post(client, "/portal/orders/1008/pay", {"method": "1"}, page=ORDER)
    assert other.status_code == 404
    elsewhere = await make_store("other")
    stranger = await make_customer(elsewhere, "camille@example.com")
    tea = await make_product(elsewhere, "Tea", price=900)
    await make_placed_order(elsewhere, stranger, "1009", [(tea, 1)], status=OrderStatus.FAILED)
    elsewhere_pay = await post(client, "/portal/orders/1009/pay", {"method": "1"}, page=ORDER)
    assert elsewhere_pay.status_code == 404


async def test_paying_needs_a_signed_in_buyer(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    await failed_order(store, buyer)
    response = await client.post(f"{ORDER}/pay", form={"method": "1"}, headers=ACME)
    assert response.status_code in (303, 403)
    assert (await scoped(store).get(Order, number="1006")).status == OrderStatus.FAILED
