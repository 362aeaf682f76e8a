"""A store's look: the `Brand` its pages and emails carry, and its logo."""

from __future__ import annotations

from payfacile.platform.brand import Brand, safe_color
from payfacile.platform.errors import NotFound
from payfacile.platform.text import _l
from payfacile.tenants.models import Store, StoreLogo
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


async def logo_of(store: Store | None) -> StoreLogo:
    """The store's logo; `NotFound` when there is no store here or it has no logo."""
    if store is None or not store.logo_etag:
        raise NotFound(_l("This store has no logo."))
    return await scoped(store).get(StoreLogo)
