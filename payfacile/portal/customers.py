"""Who is signed in to a store's portal, and the language that follows their account."""

from __future__ import annotations

from payfacile.platform.i18n import LANGUAGES
from payfacile.portal.models import Customer
from payfacile.tenants.models import Store
from payfacile.tenants.scope import scoped


async def signed_in(store: Store, customer_id: int) -> Customer | None:
    """The store's buyer a session names; None if they are not (or no longer) its buyer."""
    return await scoped(store).find(Customer, id=customer_id)


async def keep_language(store: Store, customer: Customer, chosen: str) -> str | None:
    """The buyer's language follows their account: a choice made in one browser (`chosen`,
    from its cookie) is kept for the next, and emails to them use it. Returns the language
    the page should use when the browser has made no choice."""
    if chosen in LANGUAGES and chosen != customer.language:
        await scoped(store).update(customer, language=chosen)
        return None
    if not chosen and customer.language in LANGUAGES:
        return customer.language
    return None
