"""A store's look: the `Brand` its pages and emails carry, its logo, and the support address
it shows anyone."""

from __future__ import annotations

from payfacile.platform.brand import Brand, safe_color
from payfacile.platform.errors import NotFound
from payfacile.platform.text import _l
from payfacile.tenants.models import Membership, Store, StoreLogo
from payfacile.tenants.scope import scoped

LOGO_PATH = "/brand/logo"


def brand_of(store: Store) -> Brand:
    return Brand(
        name=store.name,
        color=safe_color(store.brand_color),
        logo_url=f"{LOGO_PATH}?v={store.logo_etag}" if store.logo_etag else "",
        support_email=store.support_email,
        language=store.locale,
        hosted=True,
    )


async def public_support_email(store: Store) -> str:
    """The store's support address, or "" when it is a team member's own (onboarding starts
    it as the owner's): a page anyone may open shows nobody's personal address."""
    email = store.support_email
    if not email:
        return ""
    personal = await scoped(store).query(Membership).filter(user__email=email).exists()
    return "" if personal else email


async def logo_of(store: Store | None) -> StoreLogo:
    """The store's logo; `NotFound` when there is no store here or it has no logo."""
    if store is None or not store.logo_etag:
        raise NotFound(_l("This store has no logo."))
    return await scoped(store).get(StoreLogo)
