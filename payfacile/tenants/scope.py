"""The one way to query tenant-owned rows.

Every query of a `TenantOwned` model starts here: `scoped(store)` for one store's rows, or
`across_stores(model, reason=...)` for host resolution, the scheduler and the platform admin.
`tests/tenants/test_scoping.py` walks the package and fails on any other query of these models.
"""

from __future__ import annotations

from typing import Any, TypeVar

from tortoise.queryset import QuerySet

from payfacile.platform.errors import NotFound
from payfacile.platform.text import _l
from payfacile.tenants.models import Store, TenantOwned

T = TypeVar("T", bound=TenantOwned)

# A merchant's own memberships span the stores they belong to, by definition.
CROSS_STORE_REASONS = frozenset(
    {"host resolution", "scheduler", "platform admin", "merchant's own stores"}
)


class Scope:
    """One store's view of the database. Reads, creates and writes all carry the store."""

    def __init__(self, store: Store) -> None:
        if store.id is None:
            raise ValueError("a scope needs a saved store")
        self.store = store
        self.store_id: int = store.id

    def query(self, model: type[T]) -> QuerySet[T]:
        return model.filter(store_id=self.store_id)

    async def get(self, model: type[T], **filters: Any) -> T:
        """The one matching row of this store; another store's row is a `NotFound`."""
        found = await self.query(model).get_or_none(**filters)
        if found is None:
            raise NotFound(_l("There is nothing at this address."))
        return found

    async def create(self, model: type[T], **values: Any) -> T:
        values.pop("store", None)
        return await model.create(store_id=self.store_id, **values)

    async def create_many(self, model: type[T], rows: list[dict[str, Any]]) -> None:
        """Insert `rows` of this store in one statement (no instances come back)."""
        await model.bulk_create([model(**row, store_id=self.store_id) for row in rows])

    async def update(self, instance: T, **values: Any) -> None:
        """Write `values` with the store in the WHERE clause, then onto the instance."""
        if instance.store_id != self.store_id:
            raise NotFound(_l("There is nothing at this address."))
        await self.query(type(instance)).filter(pk=instance.pk).update(**values)
        for name, value in values.items():
            setattr(instance, name, value)

    async def delete(self, instance: TenantOwned) -> None:
        await self.query(type(instance)).filter(pk=instance.pk).delete()


def scoped(store: Store) -> Scope:
    return Scope(store)


def across_stores(model: type[T], *, reason: str) -> QuerySet[T]:
    """Every store's rows. Only for host resolution, the scheduler and the platform admin."""
    if reason not in CROSS_STORE_REASONS:
        raise ValueError(f"across_stores is not for {reason!r}")
    return model.all()
