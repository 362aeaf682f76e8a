"""Tenant scoping in one place: every query of a tenant-owned model starts from the scope."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import payfacile
from payfacile.platform.errors import NotFound
from payfacile.portal.models import Order
from payfacile.schema import MODEL_MODULES
from payfacile.tenants.models import TenantOwned
from payfacile.tenants.scope import across_stores, scoped
from tests.factories import make_customer, make_order, make_store

PACKAGE = Path(payfacile.__file__).parent
ALLOWED = {PACKAGE / "tenants" / "scope.py"}
# Raw SQL skips the scope altogether: only the kernel's health check sends any.
RAW_SQL_ALLOWED = {PACKAGE / "platform" / "db.py"}
RAW_SQL_METHODS = {
    "execute_query",
    "execute_query_dict",
    "execute_insert",
    "execute_many",
    "execute_script",
}
QUERY_METHODS = {
    "all",
    "annotate",
    "bulk_create",
    "bulk_update",
    "count",
    "create",
    "delete",
    "exclude",
    "exists",
    "filter",
    "first",
    "get",
    "get_or_create",
    "get_or_none",
    "in_bulk",
    "raw",
    "select_for_update",
    "select_related",
    "update_or_create",
    "values",
    "values_list",
}


def tenant_model_names() -> set[str]:
    for module in MODEL_MODULES:
        __import__(module)
    found: set[str] = set()
    pending = list(TenantOwned.__subclasses__())
    while pending:
        model = pending.pop()
        found.add(model.__name__)
        pending.extend(model.__subclasses__())
    return found


def tenant_related_names() -> set[str]:
    """The names of reverse relations that lead to tenant-owned rows (`customer.orders`)."""
    tenant_model_names()
    found: set[str] = set()
    pending = list(TenantOwned.__subclasses__())
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        meta = getattr(model, "_meta", None)
        for name in getattr(meta, "fk_fields", ()):
            related = meta.fields_map[name].related_name
            if related:
                found.add(related)
    return found


def unscoped_queries(
    source: str, tenant_models: set[str], related_names: set[str] | None = None
) -> list[str]:
    """`Model.method(...)` calls on tenant-owned models (aliases included), queries through a
    reverse relation to tenant-owned rows (`customer.orders.all()`, `fetch_related("lines")`)
    and raw SQL sent through a connection."""
    tree = ast.parse(source)
    names = set(tenant_models)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name in tenant_models and alias.asname:
                    names.add(alias.asname)
    problems = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in names
            and node.func.attr in QUERY_METHODS
        ):
            problems.append(f"line {node.lineno}: {node.func.value.id}.{node.func.attr}(…)")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            problems.extend(_other_ways_round(node, node.func, related_names or set()))
    return problems


def _other_ways_round(node: ast.Call, func: ast.Attribute, related_names: set[str]) -> list[str]:
    if func.attr in RAW_SQL_METHODS:
        return [f"line {node.lineno}: raw SQL through .{func.attr}(…)"]
    if (
        func.attr in QUERY_METHODS
        and isinstance(func.value, ast.Attribute)
        and func.value.attr in related_names
    ):
        return [f"line {node.lineno}: .{func.value.attr}.{func.attr}(…) through a relation"]
    if func.attr in {"fetch_related", "prefetch_related"} and any(
        isinstance(arg, ast.Constant) and arg.value in related_names for arg in node.args
    ):
        return [f"line {node.lineno}: .{func.attr}(…) of tenant-owned rows"]
    return []


def test_every_tenant_owned_model_is_known() -> None:
    names = tenant_model_names()
    assert {"Order", "Customer", "Invoice", "Domain", "Subscription", "PaymentMethod"} <= names
    assert "Store" not in names


def test_no_query_of_a_tenant_owned_model_outside_the_scope_helper() -> None:
    tenant_models, related = tenant_model_names(), tenant_related_names()
    problems = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in ALLOWED or "migrations" in path.parts:
            continue
        found = unscoped_queries(path.read_text(), tenant_models, related)
        if path in RAW_SQL_ALLOWED:
            found = [problem for problem in found if "raw SQL" not in problem]
        if found:
            problems[str(path.relative_to(PACKAGE))] = found
    assert problems == {}, "query tenant-owned models through payfacile.tenants.scope"


@pytest.mark.parametrize(
    "source",
    [
        "from payfacile.portal.models import Order\nOrder.filter(number='1')",
        "from payfacile.portal.models import Order as O\nawait O.get(id=1)",
        "Customer.all()",
        "Invoice.raw('select * from invoice')",
    ],
)
def test_the_check_catches_hand_written_queries(source: str) -> None:
    assert unscoped_queries(source, tenant_model_names())


@pytest.mark.parametrize(
    "source",
    [
        "await customer.orders.all()",
        "await order.lines.filter(quantity=2)",
        "await customer.fetch_related('orders')",
        "await connections.get('default').execute_query('select * from \"order\"')",
        "await connection.execute_query_dict('select 1')",
    ],
)
def test_the_check_catches_relations_and_raw_sql(source: str) -> None:
    assert unscoped_queries(source, tenant_model_names(), tenant_related_names())


def test_the_related_names_are_known() -> None:
    assert {"orders", "lines"} <= tenant_related_names()


def test_scoped_calls_pass_the_check() -> None:
    source = "scoped(store).query(Order).filter(number='1')\nscope.get(Order, id=1)"
    assert unscoped_queries(source, tenant_model_names()) == []


async def test_another_stores_object_is_not_found(database: object) -> None:
    ours, theirs = await make_store("ours"), await make_store("theirs")
    their_order = await make_order(theirs, await make_customer(theirs), "1001")
    with pytest.raises(NotFound):
        await scoped(ours).get(Order, id=their_order.id)
    assert await scoped(ours).query(Order).filter(number="1001").count() == 0
    assert (await scoped(theirs).get(Order, number="1001")).id == their_order.id


async def test_writes_carry_the_store(database: object) -> None:
    ours, theirs = await make_store("ours"), await make_store("theirs")
    their_order = await make_order(theirs, await make_customer(theirs), "1001", total=500)
    with pytest.raises(NotFound):
        await scoped(ours).update(their_order, total=1)
    await scoped(ours).delete(their_order)
    reloaded = await scoped(theirs).get(Order, id=their_order.id)
    assert reloaded.total == 500


async def test_create_ignores_a_smuggled_store(database: object) -> None:
    ours, theirs = await make_store("ours"), await make_store("theirs")
    customer = await make_customer(ours)
    order = await scoped(ours).create(
        Order,
        store=theirs,
        customer_id=customer.id,
        number="9",
        currency="EUR",
        placed_at=customer.created_at,
    )
    assert order.store_id == ours.id


def test_across_stores_needs_a_named_reason() -> None:
    with pytest.raises(ValueError, match="not for"):
        across_stores(Order, reason="convenience")
