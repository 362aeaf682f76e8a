"""What a merchant's dashboard shows: the stores they belong to, with their role and portal,
and the membership that lets them into one store's pages."""

from __future__ import annotations

from dataclasses import dataclass

from payfacile.platform.config import Settings
from payfacile.platform.errors import NotAllowed, NotFound
from payfacile.platform.text import _l
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


@dataclass(frozen=True)
class Member:
    """A signed-in merchant inside one of their stores' dashboards, with their role there."""

    store: Store
    role: MembershipRole
    merchant_id: int

    @property
    def is_owner(self) -> bool:
        return self.role == MembershipRole.OWNER

    def must_be_owner(self) -> None:
        """Refuse (403) what only the owner may do: settings, products' cancellation rules,
        staff. Checked on the server, whatever the page showed."""
        if not self.is_owner:
            raise NotAllowed(_l("Only the store's owner can change this."))


async def member_of(merchant_id: int, slug: str) -> Member:
    """The merchant's membership of the store `slug`, in one query. A store they are not a
    member of is a `NotFound`, like a store that does not exist: neither is revealed."""
    membership = (
        await across_stores(Membership, reason="merchant's own stores")
        .filter(user_id=merchant_id, store__slug=slug[:63])
        .select_related("store")
        .first()
    )
    if membership is None:
        raise NotFound(_l("There is nothing at this address."))
    return Member(store=membership.store, role=membership.role, merchant_id=merchant_id)
