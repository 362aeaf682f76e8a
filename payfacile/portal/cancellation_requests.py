"""The store's side of cancellation requests: the list its dashboard shows, and the answer,
"cancel as asked" (at the period's end or now) or a reply, emailed to the buyer either way.

A request is answered once. The answer claims the row with a conditional update (still
pending?) in the transaction that cancels and emails, so two answers at the same moment
make one answer and one email; the other is a 409. The cancellation itself is the portal's
own (`subscriptions.end`), never a second copy of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from payfacile.platform.config import Settings
from payfacile.platform.errors import Conflict, InvalidInput, NotFound
from payfacile.platform.i18n import date, language_of
from payfacile.platform.mail import queue_email
from payfacile.platform.text import _l
from payfacile.portal.models import (
    CancellationAnswer,
    CancellationRequest,
    CancellationStatus,
    Customer,
    Subscription,
)
from payfacile.portal.subscriptions import end, has_ended
from payfacile.tenants.branding import brand_of
from payfacile.tenants.models import Product, Store
from payfacile.tenants.scope import scoped
from payfacile.tenants.urls import store_url

OVERDUE = timedelta(days=7)  # a request waiting longer is flagged
PENDING_SHOWN = 100  # the oldest pending requests the list shows
ANSWERED_SHOWN = 25  # the latest answered ones
MAX_REPLY = 2000
RELATED = ("customer", "subscription__product", "answered_by")


@dataclass(frozen=True)
class RequestList:
    pending: list[CancellationRequest]  # oldest first
    answered: list[CancellationRequest]  # latest answer first
    more_pending: bool  # there are more than PENDING_SHOWN


async def request_list(store: Store) -> RequestList:
    """Two bounded queries, each request with its customer and product."""
    query = scoped(store).query(CancellationRequest).select_related(*RELATED)
    pending = list(
        await query.filter(status=CancellationStatus.PENDING)
        .order_by("requested_at", "id")
        .limit(PENDING_SHOWN + 1)
    )
    answered = (
        await query.exclude(status=CancellationStatus.PENDING)
        .order_by("-answered_at", "-id")
        .limit(ANSWERED_SHOWN)
    )
    return RequestList(
        pending=pending[:PENDING_SHOWN],
        answered=list(answered),
        more_pending=len(pending) > PENDING_SHOWN,
    )


async def request_of(store: Store, request_id: int) -> CancellationRequest:
    """One request of the store with its customer and product; another store's is a 404."""
    found = (
        await scoped(store)
        .query(CancellationRequest)
        .select_related(*RELATED)
        .get_or_none(id=request_id)
    )
    if found is None:
        raise NotFound(_l("There is nothing at this address."))
    return found


def waiting_days(request: CancellationRequest, now: datetime | None = None) -> int:
    """Whole days a request has waited for its answer (until its answer, once answered)."""
    until = request.answered_at or now or datetime.now(UTC)
    return (until - request.requested_at).days


def is_overdue(request: CancellationRequest, now: datetime | None = None) -> bool:
    """Pending for more than seven days: the dashboard flags it."""
    now = now or datetime.now(UTC)
    return request.status == CancellationStatus.PENDING and now - request.requested_at > OVERDUE


@dataclass(frozen=True)
class Waiting:
    pending: int
    overdue: int  # of which waiting more than seven days


async def waiting(store: Store, now: datetime | None = None) -> Waiting:
    """How many requests wait for an answer: two COUNTs on the (store, status, date) index."""
    now = now or datetime.now(UTC)
    pending = scoped(store).query(CancellationRequest).filter(status=CancellationStatus.PENDING)
    return Waiting(
        pending=await pending.count(),
        overdue=await pending.filter(requested_at__lt=now - OVERDUE).count(),
    )


async def cancel_as_asked(
    settings: Settings, store: Store, request_id: int, *, merchant_id: int, immediately: bool
) -> CancellationRequest:
    """Cancel the subscription now or at its period's end, as the portal would, and email
    the buyer. A request already answered, or a subscription already ended, is a 409."""
    request = await request_of(store, request_id)
    subscription = request.subscription
    if has_ended(subscription) or (subscription.cancel_at_period_end and not immediately):
        raise Conflict(_l("This subscription is already canceled. Reply to the customer instead."))
    answer = CancellationAnswer.NOW if immediately else CancellationAnswer.PERIOD_END
    async with in_transaction():
        await _claim(store, request, merchant_id, CancellationStatus.CANCELED, answer=answer)
        await end(store, subscription, immediately=immediately, reason=request.reason)
        await _tell_buyer(settings, store, request)
    return request


async def reply(
    settings: Settings, store: Store, request_id: int, *, merchant_id: int, message: str
) -> CancellationRequest:
    """Answer with a message, emailed to the buyer; the subscription stays as it is."""
    message = message.strip()[:MAX_REPLY]
    if not message:
        raise InvalidInput(_l("Write the message the customer will receive."), field="message")
    request = await request_of(store, request_id)
    async with in_transaction():
        await _claim(store, request, merchant_id, CancellationStatus.REPLIED, reply=message)
        await _tell_buyer(settings, store, request)
    return request


async def _claim(
    store: Store,
    request: CancellationRequest,
    merchant_id: int,
    status: CancellationStatus,
    *,
    answer: CancellationAnswer | None = None,
    reply: str = "",
) -> None:
    """Record the answer if the request is still pending (a 409 if not); call inside the
    answer's transaction, so that a refused claim writes nothing else."""
    now = datetime.now(UTC)
    values = {
        "status": status,
        "pending": None,
        "answered_at": now,
        "answered_by_id": merchant_id,
        "answer": answer,
        "reply": reply,
    }
    claimed = (
        await scoped(store)
        .query(CancellationRequest)
        .filter(id=request.id, status=CancellationStatus.PENDING)
        .update(**values)
    )
    if not claimed:
        raise Conflict(_l("This request has been answered already."))
    for name, value in values.items():
        setattr(request, name, value)


async def _tell_buyer(settings: Settings, store: Store, request: CancellationRequest) -> None:
    """The buyer's dated answer, branded, in their language, with the portal's link."""
    customer: Customer = request.customer
    subscription: Subscription = request.subscription
    product: Product = subscription.product
    language = language_of(customer.language or store.locale)
    await queue_email(
        settings,
        to=customer.email,
        template="buyer_cancellation_answered",
        context={
            "name": customer.name,
            "product": product.name,
            "answer": request.answer or "reply",
            "asked": date(request.requested_at, language, store.zone),
            "on": date(request.answered_at or datetime.now(UTC), language, store.zone),
            "ends": date(subscription.current_period_end, language, store.zone),
            "reply": request.reply,
            "url": await store_url(settings, store, "/portal/subscriptions"),
        },
        brand=brand_of(store),
        store_id=store.id,
        language=language,
    )
