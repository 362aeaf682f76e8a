"""What a merchant's dashboard shows: the stores they belong to, with their role and portal."""

from __future__ import annotations

from dataclasses import dataclass

from payfacile.platform.config import Settings
from payfacile.tenants.models import Membership, MembershipRole, Store
from payfacile.tenants.scope import across_stores
from payfacile.tenants.urls import store_url


@dataclass(frozen=True)
class MemberStore:
    store: Store
    role: MembershipRole
    portal_url: str


async def stores_of(settings: Settings, merchant_id: int) -> list[MemberStore]:
    """The merchant's stores, by name."""
    memberships = (
        await across_stores(Membership, reason="merchant's own stores")
        .filter(user_id=merchant_id)
        .order_by("store_id")
    )
    roles = {membership.store_id: membership.role for membership in memberships}
    stores = await Store.filter(id__in=list(roles)).order_by("name")
    return [
        MemberStore(
            store=store,
            role=roles[store.id],
            portal_url=await store_url(settings, store, "/portal/"),
        )
        for store in stores
    ]
