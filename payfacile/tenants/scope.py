"""The one way to query tenant-owned rows.

Every query of a `TenantOwned` model starts here: `scoped(store)` for one store's rows, or
`across_stores(model, reason=...)` for host resolution, the scheduler and the platform admin.
`tests/tenants/test_scoping.py` walks the package and fails on any other query of these models.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar, cast

from tortoise.fields.relational import ForeignKeyFieldInstance
from tortoise.models import Model
from tortoise.queryset import QuerySet, ValuesQuery

from payfacile.platform.db import Statement
from payfacile.platform.errors import NotFound
from payfacile.platform.text import _l
from payfacile.tenants.models import Store, TenantOwned

T = TypeVar("T", bound=TenantOwned)

# find() and rows(): one statement per model and set of fields, or per list, built on first
# use (a handful in all).
_STATEMENTS: dict[tuple[Any, ...], Statement[Any]] = {}
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
        found = await self.find(model, **filters)
        if found is None:
            raise NotFound(_l("There is nothing at this address."))
        return found

    async def find(self, model: type[T], **filters: Any) -> T | None:
        """The one row of this store whose fields equal `filters` (`id=…`, `number=…`), or
        None; `MultipleObjectsReturned` if two match. What every signed-in page asks (its
        buyer by id, an invoice by number) runs from SQL built once (`db.Statement`) when
        the values are ints and strings; anything else goes through Tortoise as it is."""
        names = tuple(sorted(filters))
        values = tuple(filters[name] for name in names)
        if any("__" in name for name in names) or any(
            type(value) not in (int, str) for value in values
        ):
            return await self.query(model).get_or_none(**filters)
        statement = _statement((model, names), partial(_equal_fields, model, names), values)
        return cast(T | None, await statement.one(self.store_id, *values))

    async def rows(
        self, key: str, build: Callable[..., ValuesQuery[Any]], *values: int | str
    ) -> list[dict[str, Any]]:
        """The rows of `build(scope, *values)`, a `.values(...)` query of this store's rows
        made through `scope`, run from SQL built once per `key` (`db.Statement`): for the
        lists every signed-in page shows (the first page of a buyer's orders)."""
        statement = _statement(key, partial(_through_scope, build), values)
        return await statement.rows(self.store_id, *values)

    async def create(self, model: type[T], **values: Any) -> T:
        """A new row of this store; a reference to another store's row is a `NotFound`."""
        values.pop("store", None)
        values.pop("store_id", None)
        await self._check_references(model, [values])
        return await model.create(store_id=self.store_id, **values)

    async def create_many(self, model: type[T], rows: list[dict[str, Any]]) -> None:
        """Insert `rows` of this store in one statement (no instances come back)."""
        rows = [{k: v for k, v in row.items() if k not in {"store", "store_id"}} for row in rows]
        await self._check_references(model, rows)
        await model.bulk_create([model(**row, store_id=self.store_id) for row in rows])

    async def update(self, instance: T, **values: Any) -> None:
        """Write `values` with the store in the WHERE clause, then onto the instance."""
        if instance.store_id != self.store_id or {"store", "store_id"} & values.keys():
            raise NotFound(_l("There is nothing at this address."))
        await self._check_references(type(instance), [values])
        await self.query(type(instance)).filter(pk=instance.pk).update(**values)
        for name, value in values.items():
            setattr(instance, name, value)

    async def delete(self, instance: TenantOwned) -> None:
        await self.query(type(instance)).filter(pk=instance.pk).delete()

    async def _check_references(self, model: type[TenantOwned], rows: list[dict[str, Any]]) -> None:
        """Every tenant-owned row that `rows` point to (`customer_id=…` or `customer=…`) is
        this store's: one query per such foreign key, whatever the number of rows."""
        meta = model._meta
        for name in sorted(meta.fk_fields | meta.o2o_fields):
            field = cast("ForeignKeyFieldInstance[Model]", meta.fields_map[name])
            related = field.related_model
            if not issubclass(related, TenantOwned):
                continue  # the store itself, or a row of no store (a merchant user)
            ids = {_referenced(row, name, field.source_field or "") for row in rows} - {None}
            if ids and await self.query(related).filter(pk__in=ids).count() != len(ids):
                raise NotFound(_l("There is nothing at this address."))


def _statement(key: Any, build: Callable[..., Any], values: tuple[Any, ...]) -> Statement[Any]:
    """The statement `build` makes (given the store's id, then markers for `values`), built
    on its first use for values of these types and kept."""
    kinds = tuple(type(value) for value in values)
    found = _STATEMENTS.get((key, kinds))
    if found is None:
        found = _STATEMENTS.setdefault((key, kinds), Statement(build, int, *kinds))
    return found


def _equal_fields(
    model: type[T], names: tuple[str, ...], store_id: int, *values: Any
) -> QuerySet[T]:
    """`find`'s query: the store's rows whose fields `names` equal `values`."""
    return model.filter(store_id=store_id, **dict(zip(names, values, strict=True))).limit(2)


def _through_scope(build: Callable[..., ValuesQuery[Any]], store_id: int, *markers: Any) -> Any:
    """`rows`' query, made by `build` through a scope of the store's id."""
    return build(Scope(Store(id=store_id)), *markers)


def _referenced(row: dict[str, Any], name: str, source_field: str) -> Any:
    """The primary key `row` gives the foreign key `name`, by id or by instance, or None."""
    if row.get(source_field) is not None:
        return row[source_field]
    instance = row.get(name)
    return instance.pk if instance is not None else None


def scoped(store: Store) -> Scope:
    return Scope(store)


def across_stores(model: type[T], *, reason: str) -> QuerySet[T]:
    """Every store's rows. Only for host resolution, the scheduler and the platform admin."""
    if reason not in CROSS_STORE_REASONS:
        raise ValueError(f"across_stores is not for {reason!r}")
    return model.all()
