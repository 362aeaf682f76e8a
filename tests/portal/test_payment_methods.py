"""Payment methods: replace a card or add a SEPA account; never a card number or CVC kept."""

from __future__ import annotations

import html
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from quart.typing import TestClientProtocol as Client
from tortoise import connections

from payfacile.portal.models import (
    Customer,
    PaymentMethod,
    PaymentMethodKind,
    Subscription,
    SubscriptionStatus,
)
from payfacile.tenants.models import Product, ProductKind, Store
from payfacile.tenants.scope import scoped
from tests.factories import make_customer, make_store
from tests.portal.test_auth import ACME, acme_with_buyer, post, sign_in

PAGE = "/portal/payment-methods"
NEW = f"{PAGE}/new"
SEPA = f"{NEW}?kind=sepa"
MANDATE = re.compile(r'name="mandate_reference" value="(PF-[A-Z0-9]{12})"')
GOOD_IBAN = "DE89 3704 0044 0532 0130 00"
NEXT_YEAR = datetime.now(UTC).year + 1


async def with_expired_card(store: Store, buyer: Customer) -> PaymentMethod:
    scope = scoped(store)
    card = await scope.create(
        PaymentMethod,
        customer_id=buyer.id,
        kind=PaymentMethodKind.CARD,
        brand="Visa",
        last4="1111",
        exp_month=1,
        exp_year=2020,
        gateway_token="tok_old",
        fingerprint="old-card",
        is_default=True,
    )
    product = await scope.create(
        Product, name="Coffee club", kind=ProductKind.SUBSCRIPTION, price=1900, interval="month"
    )
    for status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELED):
        await scope.create(
            Subscription,
            customer_id=buyer.id,
            product_id=product.id,
            status=status,
            current_period_end=datetime.now(UTC) + timedelta(days=10),
            payment_method_id=card.id,
        )
    return card


async def add_card(client: Client, number: str, expiry: str, cvc: str) -> tuple[int, str]:
    response = await post(
        client, f"{PAGE}/card", {"number": number, "expiry": expiry, "cvc": cvc}, page=NEW
    )
    return response.status_code, await response.get_data(as_text=True)


async def add_sepa(client: Client, holder: str, iban: str) -> tuple[int, str, str]:
    """Save an account from the form as a buyer would: the mandate it shows is the one sent."""
    form = await (await client.get(SEPA, headers=ACME)).get_data(as_text=True)
    shown = MANDATE.search(form)
    assert shown is not None, form
    reference = shown.group(1)
    fields = {"holder": holder, "iban": iban, "mandate_reference": reference}
    response = await post(client, f"{PAGE}/sepa", fields, page=SEPA)
    return response.status_code, await response.get_data(as_text=True), reference


def summary_links(page: str) -> list[tuple[str, str]]:
    """The error summary's (field id, message) links, top to bottom."""
    summary = re.search(r'<div class="error-summary"[^>]*>(.*?)</div>', page, re.S)
    assert summary is not None, page
    links = re.findall(r'<a href="#([\w-]+)">([^<]*)</a>', summary.group(1))
    return [(field, html.unescape(message)) for field, message in links]


async def test_an_expired_card_is_flagged_and_replaced(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    old = await with_expired_card(store, buyer)
    await sign_in(client)
    page = await (await client.get(PAGE, headers=ACME)).get_data(as_text=True)
    assert "Visa •••• 1111" in page
    assert "Expired 01/2020" in page  # once: not "Expired" and then "Expires 01/2020"
    assert "Expires" not in page
    home = await (await client.get("/portal/", headers=ACME)).get_data(as_text=True)
    assert "Your Visa card ending in 1111 has expired." in home

    status, _ = await add_card(client, "4242 4242 4242 4242", f"12/{NEXT_YEAR % 100}", "123")
    assert status == 303
    scope = scoped(store)
    new = await scope.get(PaymentMethod, customer_id=buyer.id, is_default=True)
    assert (new.brand, new.last4, new.exp_month, new.exp_year) == ("Visa", "4242", 12, NEXT_YEAR)
    assert new.gateway_token.startswith("tok_test_")
    assert not (await scope.get(PaymentMethod, id=old.id)).is_default
    subscriptions = await scope.query(Subscription).filter(customer_id=buyer.id)
    by_status = {sub.status: sub.payment_method_id for sub in subscriptions}
    assert by_status[SubscriptionStatus.ACTIVE] == new.id
    assert by_status[SubscriptionStatus.CANCELED] == old.id  # an ended one keeps its card
    page = await (await client.get(f"{PAGE}?done=card", headers=ACME)).get_data(as_text=True)
    assert "Your new card is saved" in page
    home = await (await client.get("/portal/", headers=ACME)).get_data(as_text=True)
    assert "has expired" not in home  # the old card is listed, but no longer pays


async def test_the_same_card_twice_is_one_entry(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    await sign_in(client)
    for expiry in ("01/" + str(NEXT_YEAR % 100), "02/" + str(NEXT_YEAR % 100)):
        assert (await add_card(client, "5555555555554444", expiry, "321"))[0] == 303
    methods = await scoped(store).query(PaymentMethod).filter(customer_id=buyer.id)
    assert [(m.brand, m.exp_month) for m in methods] == [("Mastercard", 2)]


async def test_a_sepa_account_becomes_the_default(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    await with_expired_card(store, buyer)
    await sign_in(client)
    status, _, reference = await add_sepa(client, "Camille Martin", GOOD_IBAN)
    assert status == 303
    sepa = await scoped(store).get(PaymentMethod, customer_id=buyer.id, is_default=True)
    assert (sepa.kind, sepa.brand, sepa.last4) == (PaymentMethodKind.SEPA, "DE", "3000")
    assert sepa.mandate_reference == reference
    assert sepa.mandate_signed_at is not None
    page = await (await client.get(PAGE, headers=ACME)).get_data(as_text=True)
    assert "SEPA account DE •••• 3000" in page
    assert f"Direct Debit mandate {reference}, signed on " in page


async def test_the_sepa_form_shows_the_mandate_it_signs(client: Client) -> None:
    store, _ = await acme_with_buyer()
    await Store.filter(id=store.id).update(  # before the first request resolves the store
        legal_form="SAS", address_line1="12 rue Mercière", postal_code="69002", city="Lyon"
    )
    await sign_in(client)
    form = await (await client.get(SEPA, headers=ACME)).get_data(as_text=True)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", form))
    reference = MANDATE.search(form)
    assert reference is not None
    assert f"Mandate reference {reference.group(1)}" in text
    assert f"Creditor {store.name} SAS, 12 rue Mercière, 69002 Lyon" in text
    assert f"you authorise (A) {store.name} SAS to send instructions to your bank" in text
    assert "A refund must be claimed within 8 weeks" in text
    again = await (await client.get(SEPA, headers=ACME)).get_data(as_text=True)
    assert reference.group(1) not in again  # each form its own mandate


async def test_a_mandate_that_no_form_made_or_that_is_taken_saves_nothing(
    client: Client,
) -> None:
    store, buyer = await acme_with_buyer()
    await sign_in(client)
    made_up = {"holder": "Camille", "iban": GOOD_IBAN, "mandate_reference": "MINE-1"}
    response = await post(client, f"{PAGE}/sepa", made_up, page=SEPA)
    page = await response.get_data(as_text=True)
    assert response.status_code == 422
    assert "This form is out of date. Check the mandate below and save again." in page
    assert MANDATE.search(page) is not None  # a fresh mandate to sign
    assert not await scoped(store).query(PaymentMethod).exists()

    status, _, reference = await add_sepa(client, "Camille", GOOD_IBAN)
    assert status == 303
    second = {"holder": "Camille", "iban": "FR14 2004 1010 0505 0001 3M02 606"}
    response = await post(
        client, f"{PAGE}/sepa", second | {"mandate_reference": reference}, page=SEPA
    )
    assert response.status_code == 409
    assert "This mandate was saved already." in await response.get_data(as_text=True)
    methods = await scoped(store).query(PaymentMethod).filter(customer_id=buyer.id)
    assert [m.mandate_reference for m in methods] == [reference]


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"number": "4242 4242 4242 4241"}, "number", "This card number is not valid."),
        ({"number": "4242"}, "number", "This card number is not valid."),
        ({"expiry": "01/20"}, "expiry", "This card has expired."),
        ({"expiry": "13/40"}, "expiry", "Enter the expiry date as MM/YY."),
        ({"expiry": "soon"}, "expiry", "Enter the expiry date as MM/YY."),
        ({"cvc": "12"}, "cvc", "Enter the 3-digit security code."),
        ({"number": "378282246310005", "cvc": "123"}, "cvc", "Enter the 4-digit security code."),
        ({"number": "6304000000000000"}, "number", "We accept Visa, Mastercard"),
    ],
)
async def test_bad_card_details_change_nothing(
    client: Client, form: dict[str, str], field: str, message: str
) -> None:
    store, buyer = await acme_with_buyer()
    old = await with_expired_card(store, buyer)
    await sign_in(client)
    card = {"number": "4242424242424242", "expiry": f"10/{NEXT_YEAR % 100}", "cvc": "123", **form}
    status, page = await add_card(client, card["number"], card["expiry"], card["cvc"])
    assert status == 422
    error = re.search(rf'<p class="field__error" id="{field}-error">([^<]*)</p>', page)
    assert error is not None, page
    assert message in error.group(1)
    assert card["number"] not in page  # never sent back
    assert summary_links(page) == [(field, error.group(1))]
    methods = await scoped(store).query(PaymentMethod).filter(customer_id=buyer.id)
    assert [m.id for m in methods] == [old.id]


async def test_every_mistake_of_a_card_is_listed_at_once(client: Client) -> None:
    store, _ = await acme_with_buyer()
    await sign_in(client)
    status, page = await add_card(client, "4242 4242 4242 4241", "13/40", "1")
    assert status == 422
    assert summary_links(page) == [
        ("number", "This card number is not valid."),
        ("expiry", "Enter the expiry date as MM/YY."),
        ("cvc", "A security code has 3 or 4 digits."),
    ]
    for field in ("number", "expiry", "cvc"):
        assert f'id="{field}-error"' in page
        assert re.search(rf'<input id="{field}"[^>]* aria-invalid="true"', page)
    assert 'autofocus aria-labelledby="error-summary-title"' in page  # the focus starts there
    assert "Nothing was saved. For your safety, type the card number" in page
    assert not await scoped(store).query(PaymentMethod).exists()

    status, page = await add_card(client, "", "", "")
    assert summary_links(page) == [
        ("number", "Enter the card number."),
        ("expiry", "Enter the expiry date as MM/YY."),
        ("cvc", "Enter the security code."),
    ]
    response = await post(client, f"{PAGE}/sepa", {"holder": " ", "iban": ""}, page=SEPA)
    assert summary_links(await response.get_data(as_text=True)) == [
        ("holder", "Enter the account holder's name."),
        ("iban", "Enter the IBAN of the account."),
    ]


async def test_a_declined_card_is_a_problem_of_the_card_not_of_its_number(client: Client) -> None:
    store, _ = await acme_with_buyer()
    await sign_in(client)
    status, page = await add_card(client, "4000 0000 0000 0002", f"10/{NEXT_YEAR % 100}", "123")
    assert status == 422
    assert "Your card was declined. Nothing was saved: try another card." in page
    assert summary_links(page) == []  # no field to go to
    assert 'id="number-error"' not in page
    assert not await scoped(store).query(PaymentMethod).exists()


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"holder": "Camille", "iban": "DE89 3704 0044 0532 0130 01"}, "iban"),
        ({"holder": "Camille", "iban": "not an iban"}, "iban"),
        ({"holder": "", "iban": "DE89 3704 0044 0532 0130 00"}, "holder"),
        ({"holder": "x" * 71, "iban": "DE89 3704 0044 0532 0130 00"}, "holder"),
    ],
)
async def test_bad_bank_details_change_nothing(
    client: Client, form: dict[str, str], field: str
) -> None:
    store, _ = await acme_with_buyer()
    await sign_in(client)
    response = await post(client, f"{PAGE}/sepa", form, page=SEPA)
    assert response.status_code == 422
    assert f'id="{field}-error"' in await response.get_data(as_text=True)
    assert not await scoped(store).query(PaymentMethod).exists()


async def test_no_card_number_or_cvc_is_stored_or_logged(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    store, buyer = await acme_with_buyer()
    await sign_in(client)
    number, cvc = "378282246310005", "7391"
    with caplog.at_level(logging.DEBUG):
        assert (await add_card(client, "4242424242424241", "01/20", cvc))[0] == 422
        assert (await add_card(client, number, f"07/{NEXT_YEAR % 100}", cvc))[0] == 303
        await client.get(PAGE, headers=ACME)
    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert "tortoise.db_client" in {r.name for r in caplog.records}  # queries were captured
    assert number not in logged
    assert "4242424242424241" not in logged
    assert not re.search(rf"\b{cvc}\b", logged)

    stored = await every_value_in_the_database()
    assert not [value for value in stored if number in value or "4242424242424241" in value]
    assert not [value for value in stored if re.search(rf"\b{cvc}\b", value)]
    method = await scoped(store).get(PaymentMethod, customer_id=buyer.id)
    assert (method.brand, method.last4) == ("Amex", "0005")


async def every_value_in_the_database() -> list[str]:
    connection = connections.get("default")
    if connection.capabilities.dialect == "sqlite":
        tables_sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        tables_sql = "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"
    values = []
    for row in await connection.execute_query_dict(tables_sql):
        for record in await connection.execute_query_dict(f'SELECT * FROM "{row["name"]}"'):
            values.extend(str(value) for value in record.values() if value is not None)
    return values


async def test_only_another_method_can_be_removed(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    old = await with_expired_card(store, buyer)
    await sign_in(client)
    default = await post(client, f"{PAGE}/{old.id}/remove", {}, page=PAGE)
    assert default.status_code == 409
    await add_card(client, "4242424242424242", f"12/{NEXT_YEAR % 100}", "123")
    removed = await post(client, f"{PAGE}/{old.id}/remove", {}, page=PAGE)
    assert removed.status_code == 303
    assert not await scoped(store).query(PaymentMethod).filter(id=old.id).exists()


async def test_any_method_can_be_made_the_default_and_pays_the_subscriptions(
    client: Client,
) -> None:
    store, buyer = await acme_with_buyer()
    old = await with_expired_card(store, buyer)
    await sign_in(client)
    await add_card(client, "4242424242424242", f"12/{NEXT_YEAR % 100}", "123")
    await add_card(client, "5555555555554444", f"11/{NEXT_YEAR % 100}", "123")
    scope = scoped(store)
    visa = await scope.get(PaymentMethod, customer_id=buyer.id, last4="4242")
    page = await (await client.get(PAGE, headers=ACME)).get_data(as_text=True)
    assert f'action="{PAGE}/{visa.id}/default"' in page
    assert f'action="{PAGE}/{old.id}/default"' not in page  # an expired card cannot pay
    assert "Make default" in page

    made = await post(client, f"{PAGE}/{visa.id}/default", {}, page=PAGE)
    assert made.headers["Location"] == f"{PAGE}?done=default"
    page = await (await client.get(made.headers["Location"], headers=ACME)).get_data(as_text=True)
    assert "This payment method is now your default." in page
    defaults = scope.query(PaymentMethod).filter(customer_id=buyer.id, is_default=True)
    assert [method.id for method in await defaults] == [visa.id]
    live = await scope.get(Subscription, customer_id=buyer.id, status=SubscriptionStatus.ACTIVE)
    assert live.payment_method_id == visa.id
    ended = await scope.get(Subscription, customer_id=buyer.id, status=SubscriptionStatus.CANCELED)
    assert ended.payment_method_id == old.id  # an ended subscription keeps what paid it

    expired = await post(client, f"{PAGE}/{old.id}/default", {}, page=PAGE)
    assert expired.status_code == 409
    assert [method.id for method in await defaults] == [visa.id]


async def test_the_default_goes_only_when_no_subscription_needs_it(client: Client) -> None:
    store, buyer = await acme_with_buyer()
    old = await with_expired_card(store, buyer)
    await sign_in(client)
    await add_card(client, "4242424242424242", f"12/{NEXT_YEAR % 100}", "123")
    scope = scoped(store)
    visa = await scope.get(PaymentMethod, customer_id=buyer.id, last4="4242")
    page = await (await client.get(PAGE, headers=ACME)).get_data(as_text=True)
    assert f'action="{PAGE}/{visa.id}/remove"' not in page
    refused = await post(client, f"{PAGE}/{visa.id}/remove", {}, page=PAGE)
    assert refused.status_code == 409
    assert "Make another one the default" in await refused.get_data(as_text=True)

    await (
        scope.query(Subscription)
        .filter(customer_id=buyer.id)
        .update(status=SubscriptionStatus.CANCELED)
    )
    removed = await post(client, f"{PAGE}/{visa.id}/remove", {}, page=PAGE)
    assert removed.status_code == 303
    left = await scope.query(PaymentMethod).filter(customer_id=buyer.id)
    assert [(method.id, method.is_default) for method in left] == [(old.id, True)]


async def test_another_buyers_or_stores_method_is_a_404(client: Client) -> None:
    store, _ = await acme_with_buyer()
    someone = await make_customer(store, "someone@example.com")
    theirs = await with_expired_card(store, someone)
    await scoped(store).update(theirs, is_default=False)
    other = await make_store("other")
    elsewhere = await with_expired_card(other, await make_customer(other, "x@example.com"))
    await sign_in(client)
    for method in (theirs, elsewhere):
        for action in ("remove", "default"):
            response = await post(client, f"{PAGE}/{method.id}/{action}", {}, page=PAGE)
            assert response.status_code == 404
    assert await PaymentMethod.filter(id__in=[theirs.id, elsewhere.id]).count() == 2


async def test_card_entry_is_limited_against_card_testing(client: Client) -> None:
    await acme_with_buyer()
    await sign_in(client)
    for _ in range(20):
        assert (await add_card(client, "4242424242424241", "01/30", "123"))[0] == 422
    status, page = await add_card(client, "4242424242424242", "01/30", "123")
    assert status == 429
    assert "Too many attempts" in page


async def test_the_test_gateway_has_no_hosted_fields(client: Client) -> None:
    store, _ = await acme_with_buyer()
    await sign_in(client)
    response = await post(client, f"{PAGE}/card", {"gateway_token": "tok_from_elsewhere"}, page=NEW)
    assert response.status_code == 403
    assert not await scoped(store).query(PaymentMethod).exists()
