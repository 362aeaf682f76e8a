"""A store's customers as its dashboard shows them: a searchable list in keyset pages, one
customer's profile, and "Invite to portal".

The list is ordered by email, the column of the (store, email) unique index, so a page is one
query however many customers the store has: no OFFSET, no COUNT. A page link carries the id
of the first or last customer shown (not their email, which would then sit in logs), read
back through the store's scope: another store's id is a damaged link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from payfacile.platform import db
from payfacile.platform.config import Settings
from payfacile.platform.errors import InvalidInput
from payfacile.platform.models import TokenPurpose
from payfacile.platform.ratelimit import RateLimiter
from payfacile.platform.text import Message, _l
from payfacile.portal import auth
from payfacile.portal.models import Customer, Invoice, PaymentMethod, Subscription
from payfacile.portal.orders import OrderPage, order_page
from payfacile.tenants.models import Store
from payfacile.tenants.scope import scoped

PAGE_SIZE = 25
MAX_SEARCH = 100
RECENT = 10  # orders and invoices a profile shows
MAX_SHOWN = 50  # subscriptions and payment methods a profile shows at most


class CustomerRow(NamedTuple):
    """A customer as the list shows them: read as plain values, no model built."""

    id: int
    email: str
    name: str
    invited_at: datetime | None
    activated_at: datetime | None


ROW_FIELDS = CustomerRow._fields


@dataclass(frozen=True)
class CustomerPage:
    customers: list[CustomerRow]
    previous: int | None  # show the page before: `?before=` this id
    next: int | None  # show the page after: `?after=` this id


DAMAGED = _l("This page link is damaged. Start again from the customer list.")


def page_link(text: str | None, damaged: Message = DAMAGED) -> int | None:
    """The row id a list's `?before=`/`?after=` holds (a customer's, unless the caller's
    `damaged` message names another list); a damaged one is a clear 422."""
    if not text:
        return None
    value = db.id_in(text)
    if value is None:
        raise _damaged(damaged)
    return value


def _damaged(message: Message = DAMAGED) -> InvalidInput:
    return InvalidInput(message, field="cursor")


# The list's `?portal=` filter: where customers are with the portal.
PORTAL_FILTERS: dict[str, Q] = {
    "never": Q(invited_at__isnull=True, activated_at__isnull=True),
    "invited": Q(invited_at__isnull=False, activated_at__isnull=True),
    "active": Q(activated_at__isnull=False),
}


def portal_filter(text: str) -> str:
    """The `?portal=` value if it is one of PORTAL_FILTERS, "" for everyone; else a 422."""
    if text and text not in PORTAL_FILTERS:
        raise InvalidInput(_l("There is no such portal status."), field="portal")
    return text


async def customer_page(
    store: Store,
    *,
    search: str = "",
    portal: str = "",
    before: int | None = None,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> CustomerPage:
    """Up to `size` customers by email whose name or email contains `search` (and, with
    `portal`, whose portal status is that one): the first page, the page after the customer
    `after`, or the page before `before`."""
    query = scoped(store).query(Customer)
    search = search.strip()[:MAX_SEARCH]
    if search:
        query = query.filter(Q(name__icontains=search) | Q(email__icontains=search))
    if portal:
        query = query.filter(PORTAL_FILTERS[portal])
    if before is not None:
        email = await _email_of(store, before)
        rows = await _rows(query.filter(email__lt=email).order_by("-email"), size + 1)
        if len(rows) <= size:  # back at the start: the first page, full
            return await customer_page(store, search=search, portal=portal, size=size)
        rows = rows[:size][::-1]
        return CustomerPage(rows, previous=rows[0].id, next=rows[-1].id)
    if after is not None:
        query = query.filter(email__gt=await _email_of(store, after))
    rows = await _rows(query.order_by("email"), size + 1)
    more = len(rows) > size
    rows = rows[:size]
    previous = rows[0].id if after is not None and rows else None
    return CustomerPage(rows, previous=previous, next=rows[-1].id if more else None)


async def _rows(query: QuerySet[Customer], limit: int) -> list[CustomerRow]:
    return [CustomerRow(**row) for row in await query.limit(limit).values(*ROW_FIELDS)]


async def _email_of(store: Store, customer_id: int) -> str:
    found = (
        await scoped(store).query(Customer).filter(id=customer_id).values_list("email", flat=True)
    )
    if not found:
        raise _damaged()
    return str(found[0])


@dataclass(frozen=True)
class Profile:
    customer: Customer
    orders: OrderPage  # the newest RECENT
    invoices: list[Invoice]  # the newest RECENT: id, number, issued_at, total, currency
    subscriptions: list[Subscription]  # with their product
    payment_methods: list[PaymentMethod]  # brand, last four and expiry only


async def profile_of(store: Store, customer_id: int) -> Profile:
    """One customer of the store with what they bought; another store's is a 404."""
    scope = scoped(store)
    customer = await scope.get(Customer, id=customer_id)
    invoices = (
        await scope.query(Invoice)
        .filter(customer_id=customer.id)
        .only("id", "number", "issued_at", "total", "currency")
        .order_by("-issued_at", "-id")
        .limit(RECENT)
    )
    subscriptions = (
        await scope.query(Subscription)
        .filter(customer_id=customer.id)
        .select_related("product")
        .order_by("-current_period_end", "-id")
        .limit(MAX_SHOWN)
    )
    methods = (
        await scope.query(PaymentMethod)
        .filter(customer_id=customer.id)
        .only("id", "kind", "brand", "last4", "exp_month", "exp_year", "is_default")
        .order_by("-is_default", "-id")
        .limit(MAX_SHOWN)
    )
    return Profile(
        customer=customer,
        orders=await order_page(store, customer, size=RECENT),
        invoices=list(invoices),
        subscriptions=list(subscriptions),
        payment_methods=list(methods),
    )


async def invite_to_portal(
    settings: Settings, limiter: RateLimiter, store: Store, customer_id: int
) -> TokenPurpose:
    """The portal's invitation (a link to choose a password, which voids any earlier one),
    or, for a customer who has a password already, a sign-in link. Limited per customer
    like the links buyers ask for themselves. Returns which was sent."""
    customer = await scoped(store).get(Customer, id=customer_id)
    await limiter.hit(
        auth.LINK_REQUESTS,
        "dashboard-invite",
        str(store.id),
        str(customer.id),
        message=_l("This customer was sent several links within the hour. Try again later."),
    )
    if customer.password_hash:
        async with in_transaction():
            await auth.send_link(settings, store, customer, TokenPurpose.SIGN_IN)
        return TokenPurpose.SIGN_IN
    await auth.invite(settings, store, customer.email)
    return TokenPurpose.INVITATION
