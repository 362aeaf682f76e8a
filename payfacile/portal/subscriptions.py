"""Cancelling, resuming, and asking the merchant to cancel: only as the product allows.

The merchant's switch on the product (`portal_cancellation_allowed`) decides whether a buyer
may cancel on their own; its `cancellation_mode` whether that happens at the end of the paid
period (the buyer can resume until then) or at once. The merchant is emailed every time, and
the buyer gets a dated confirmation (or, for a request, a dated receipt): French law asks for
one on a durable medium. A request is also kept as a row the store's dashboard lists and
answers (`cancellation_requests`), which cancels through `end`, as the buyer would.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from payfacile.platform.config import Settings
from payfacile.platform.errors import Conflict, NotAllowed
from payfacile.platform.i18n import date, language_of
from payfacile.platform.mail import queue_email
from payfacile.platform.ratelimit import RateLimiter
from payfacile.platform.text import _l
from payfacile.portal.models import (
    CancellationRequest,
    Customer,
    Subscription,
    SubscriptionStatus,
)
from payfacile.portal.vat import vat_on
from payfacile.tenants.branding import brand_of
from payfacile.tenants.models import CancellationMode, Product, Store
from payfacile.tenants.scope import across_stores, scoped
from payfacile.tenants.urls import store_url

MAX_REASON = 500
CANCELLATION_REQUESTS = "5/day"  # per buyer


class AlreadyRequested(Conflict):
    """A cancellation request for this subscription is already waiting for the store."""


def price_with_vat(product: Product) -> int:
    """What each renewal of `product` charges: its price plus VAT at its rate, rounded
    half-up (a renewal is an order of one line)."""
    return product.price + vat_on(product.price, product.tax_rate_bp)


async def pending_requests(store: Store, customer: Customer) -> dict[int, CancellationRequest]:
    """The buyer's cancellation requests still waiting for the store, by subscription."""
    found = (
        await scoped(store).query(CancellationRequest).filter(customer_id=customer.id, pending=True)
    )
    return {request.subscription_id: request for request in found}


async def subscriptions_of(store: Store, customer: Customer) -> list[Subscription]:
    """Live ones first (soonest renewal first), then ended ones, newest first."""
    found = list(
        await scoped(store)
        .query(Subscription)
        .filter(customer_id=customer.id)
        .select_related("product", "payment_method")
        .order_by("current_period_end", "id")
    )
    return sorted(found, key=has_ended)


def has_ended(subscription: Subscription, now: datetime | None = None) -> bool:
    """Canceled, or set to end at a period end that has passed."""
    if subscription.status == SubscriptionStatus.CANCELED:
        return True
    now = now or datetime.now(UTC)
    return subscription.cancel_at_period_end and subscription.current_period_end <= now


def can_resume(subscription: Subscription) -> bool:
    return subscription.cancel_at_period_end and not has_ended(subscription)


async def own_subscription(store: Store, customer: Customer, subscription_id: int) -> Subscription:
    """The buyer's subscription with its product; anyone else's is a 404."""
    scope = scoped(store)
    subscription = await scope.get(Subscription, id=subscription_id, customer_id=customer.id)
    subscription.product = await scope.get(Product, id=subscription.product_id)
    return subscription


async def cancellable(store: Store, customer: Customer, subscription_id: int) -> Subscription:
    """The buyer's live subscription, if its product lets buyers cancel (403 if not)."""
    subscription = await own_subscription(store, customer, subscription_id)
    if not subscription.product.portal_cancellation_allowed:
        raise NotAllowed(
            _l("Only %(store)s can cancel this subscription: ask them.", store=store.name)
        )
    if has_ended(subscription):
        raise Conflict(_l("This subscription is already canceled."))
    return subscription


async def cancel(
    settings: Settings, store: Store, customer: Customer, subscription_id: int, *, reason: str
) -> Subscription:
    """Cancel as the product says: at the period's end, or now. 403 where it may not."""
    subscription = await cancellable(store, customer, subscription_id)
    if subscription.cancel_at_period_end:
        raise Conflict(_l("This subscription is already canceled."))
    immediately = subscription.product.cancellation_mode == CancellationMode.IMMEDIATELY
    async with in_transaction():
        await end(store, subscription, immediately=immediately, reason=reason)
        await _tell(
            settings,
            store,
            customer,
            subscription,
            "subscription_canceled",
            buyer_template="buyer_subscription_canceled",
        )
    return subscription


async def end(store: Store, subscription: Subscription, *, immediately: bool, reason: str) -> None:
    """The write of every cancellation, the buyer's or the store's: now, or at the end of
    the paid period (resumable until then), with the buyer's `reason`. Call it inside the
    transaction that tells the people concerned."""
    now = datetime.now(UTC)
    changes: dict[str, object]
    if immediately:
        changes = {"status": SubscriptionStatus.CANCELED, "canceled_at": now}
    else:
        changes = {"cancel_at_period_end": True, "canceled_at": now}
    await scoped(store).update(subscription, cancellation_reason=tidy(reason), **changes)


def tidy(reason: str) -> str:
    """A reason as stored: on one line, at most MAX_REASON characters."""
    return " ".join(reason.split())[:MAX_REASON]


async def resume(
    settings: Settings, store: Store, customer: Customer, subscription_id: int
) -> Subscription:
    """Undo a cancellation at the period's end, while the period lasts."""
    subscription = await own_subscription(store, customer, subscription_id)
    if not can_resume(subscription):
        raise Conflict(_l("This subscription cannot be resumed any more."))
    async with in_transaction():
        await scoped(store).update(
            subscription, cancel_at_period_end=False, canceled_at=None, cancellation_reason=""
        )
        await _tell(settings, store, customer, subscription, "subscription_resumed")
    return subscription


async def request_cancellation(
    settings: Settings,
    limiter: RateLimiter,
    store: Store,
    customer: Customer,
    subscription_id: int,
    *,
    reason: str,
) -> Subscription:
    """Where the buyer may not cancel: a message to the store's support address, and the
    buyer's dated receipt, once per request: while one is pending for the subscription,
    sending again (a double click, a second tab) is `AlreadyRequested` and emails nobody.

    Limited per buyer, counted only once the subscription is theirs: nobody can use up
    another buyer's requests by sending their subscription's id."""
    subscription = await own_subscription(store, customer, subscription_id)
    await limiter.hit(
        CANCELLATION_REQUESTS, "cancellation-request", str(store.id), str(customer.id)
    )
    if has_ended(subscription):
        raise Conflict(_l("This subscription is already canceled."))
    reason = tidy(reason)
    async with in_transaction():
        created = await _record_request(store, customer, subscription, reason)
        if created:
            await _tell(
                settings,
                store,
                customer,
                subscription,
                "cancellation_requested",
                buyer_template="buyer_cancellation_requested",
                reason=reason,
            )
    if not created:
        raise AlreadyRequested(
            _l("You have already asked %(store)s to cancel it.", store=store.name)
        )
    return subscription


async def _record_request(
    store: Store, customer: Customer, subscription: Subscription, reason: str
) -> bool:
    """The request as a row the dashboard lists (True), or, while one is pending for this
    subscription, that one given the reason if it had none (False). Two requests at once
    make one row: the unique (subscription, pending) refuses the second insert, inside a
    savepoint."""
    scope = scoped(store)
    try:
        async with in_transaction():
            await scope.create(
                CancellationRequest,
                subscription_id=subscription.id,
                customer_id=customer.id,
                reason=reason,
                requested_at=datetime.now(UTC),
            )
    except IntegrityError:
        if reason:
            await (
                scope.query(CancellationRequest)
                .filter(subscription_id=subscription.id, pending=True, reason="")
                .update(reason=reason)
            )
        return False
    return True


async def end_lapsed(now: datetime | None = None) -> int:
    """The scheduler's sweep: a subscription set to end at its period end is canceled once
    that end has passed, in every store. Returns how many ended."""
    now = now or datetime.now(UTC)
    return await (
        across_stores(Subscription, reason="scheduler")
        .filter(cancel_at_period_end=True, current_period_end__lte=now)
        .exclude(status=SubscriptionStatus.CANCELED)
        .update(status=SubscriptionStatus.CANCELED)
    )


async def _tell(
    settings: Settings,
    store: Store,
    customer: Customer,
    subscription: Subscription,
    template: str,
    *,
    buyer_template: str | None = None,
    reason: str | None = None,
) -> None:
    """Email the store `template` about the buyer's change; with `buyer_template`, the buyer
    too: their own dated record of it. Call inside the change's transaction."""
    facts = {
        "product": subscription.product.name,
        "immediately": subscription.status == SubscriptionStatus.CANCELED,
        "reason": subscription.cancellation_reason if reason is None else reason,
    }
    language = language_of(store.locale)
    await queue_email(
        settings,
        to=store.support_email,
        template=template,
        context={
            **facts,
            "store_name": store.name,
            "buyer_name": customer.name,
            "buyer_email": customer.email,
            "ends": date(subscription.current_period_end, language, store.zone),
        },
        language=language,
        reply_to=customer.email,
    )
    if buyer_template is None:
        return
    language = language_of(customer.language or store.locale)
    await queue_email(
        settings,
        to=customer.email,
        template=buyer_template,
        context={
            **facts,
            "name": customer.name,
            "on": date(subscription.canceled_at or datetime.now(UTC), language, store.zone),
            "ends": date(subscription.current_period_end, language, store.zone),
            "url": await store_url(settings, store, "/portal/subscriptions"),
        },
        brand=brand_of(store),
        store_id=store.id,
        language=language,
    )
