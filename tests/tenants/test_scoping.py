"""Tenant scoping in one place: every query of a tenant-owned model starts from the scope."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import payfacile
from payfacile.platform.errors import NotFound
from payfacile.portal.models import (
    Customer,
    Invoice,
    Order,
    OrderLine,
    PaymentMethod,
    Subscription,
)
from payfacile.schema import MODEL_MODULES
from payfacile.tenants.models import (
    Domain,
    ImportRun,
    Product,
    Store,
    TenantOwned,
    WebhookEndpoint,
    WebhookEvent,
)
from payfacile.tenants.scope import across_stores, scoped
from tests.factories import (
    make_customer,
    make_domain,
    make_invoice,
    make_order,
    make_payment_method,
    make_product,
    make_store,
    make_subscription,
)

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


def tenant_references() -> list[tuple[type[TenantOwned], str, str, type[TenantOwned]]]:
    """(model, relation, its id field, related model) for every foreign key from one
    tenant-owned model to another."""
    tenant_model_names()
    found = []
    pending = list(TenantOwned.__subclasses__())
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        meta = model._meta
        for name in sorted(meta.fk_fields):
            field = meta.fields_map[name]
            if issubclass(field.related_model, TenantOwned):  # type: ignore[attr-defined]
                related = field.related_model  # type: ignore[attr-defined]
                found.append((model, name, str(field.source_field), related))
    return sorted(found, key=lambda item: (item[0].__name__, item[1]))


async def a_row_of(store: Store, model: type[TenantOwned]) -> TenantOwned:
    """One row of `model` belonging to `store`."""
    customer = await make_customer(store)
    scope = scoped(store)
    if model is Customer:
        return customer
    if model is Order:
        return await make_order(store, customer, f"T-{customer.id}")
    if model is Product:
        return await make_product(store)
    if model is PaymentMethod:
        return await make_payment_method(store, customer)
    if model is Domain:
        return await make_domain(store, f"shop{customer.id}.example.com")
    if model is Subscription:
        return await make_subscription(store, customer, await make_product(store))
    if model is ImportRun:
        return await scope.create(ImportRun, filename="buyers.csv")
    if model is Invoice:  # the invoice a credit note cancels
        return await make_invoice(store, await make_order(store, customer, f"I-{customer.id}"))
    if model is WebhookEndpoint:
        return await scope.create(
            WebhookEndpoint, url="https://example.com/h", secret_encrypted="x"
        )
    assert model is WebhookEvent, f"no row maker for {model.__name__}"
    return await scope.create(WebhookEvent, type="order.paid", payload={})


def test_every_tenant_reference_is_walked() -> None:
    walked = {(model.__name__, name) for model, name, _, _ in tenant_references()}
    assert {("Order", "customer"), ("OrderLine", "order"), ("Invoice", "order")} <= walked


async def test_no_row_can_point_at_another_stores_row(database: object) -> None:
    """For every tenant-owned foreign key, by id and by instance: a `NotFound`, nothing made.
    (The refusal comes before the insert, so the other values a row needs do not matter.)"""
    ours, theirs = await make_store("ours"), await make_store("theirs")
    refused = []
    for model, name, id_field, related in tenant_references():
        theirs_row = await a_row_of(theirs, related)
        for values in ({id_field: theirs_row.pk}, {name: theirs_row}):
            before = await across_stores(model, reason="platform admin").count()
            with pytest.raises(NotFound):
                await scoped(ours).create(model, **values)
            with pytest.raises(NotFound):
                await scoped(ours).create_many(model, [values])
            assert await across_stores(model, reason="platform admin").count() == before
            refused.append((model.__name__, name))
    assert len(refused) == 2 * len(tenant_references())


async def test_an_order_cannot_be_made_for_another_stores_customer(database: object) -> None:
    ours, theirs = await make_store("ours"), await make_store("theirs")
    their_customer = await make_customer(theirs)
    with pytest.raises(NotFound):
        await make_order(ours, their_customer, "1001")
    assert await scoped(ours).query(Order).count() == 0
    our_order = await make_order(ours, await make_customer(ours), "1002")
    assert our_order.store_id == ours.id


async def test_an_update_cannot_repoint_a_row_at_another_store(database: object) -> None:
    ours, theirs = await make_store("ours"), await make_store("theirs")
    buyer = await make_customer(ours)
    product = await make_product(ours)
    subscription = await make_subscription(ours, buyer, product)
    their_card = await make_payment_method(theirs, await make_customer(theirs))
    with pytest.raises(NotFound):
        await scoped(ours).update(subscription, payment_method_id=their_card.id)
    with pytest.raises(NotFound):
        await scoped(ours).update(subscription, store_id=theirs.id)
    reloaded = await scoped(ours).get(Subscription, id=subscription.id)
    assert reloaded.payment_method_id is None
    assert reloaded.store_id == ours.id
    our_card = await make_payment_method(ours, buyer)
    await scoped(ours).update(subscription, payment_method_id=our_card.id)
    assert (
        await scoped(ours).get(Subscription, id=subscription.id)
    ).payment_method_id == our_card.id


async def test_lines_cannot_name_another_stores_order_or_product(database: object) -> None:
    ours, theirs = await make_store("ours"), await make_store("theirs")
    our_order = await make_order(ours, await make_customer(ours), "1001")
    their_product = await make_product(theirs)
    line = {
        "order_id": our_order.id,
        "description": "Beans",
        "quantity": 1,
        "unit_price": 1,
        "total": 1,
    }
    with pytest.raises(NotFound):
        await scoped(ours).create_many(OrderLine, [line, {**line, "product_id": their_product.id}])
    assert await scoped(ours).query(OrderLine).count() == 0
