"""Buyers and their commerce: customers, orders, payments, invoices, subscriptions."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.indexes import Index

from payfacile.platform.models import DueWork
from payfacile.tenants.models import MerchantUser, Product, TenantOwned


class Customer(TenantOwned):
    """A buyer of one store. The same email at two stores is two unrelated customers."""

    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=254)
    name = fields.CharField(max_length=120, default="")
    company = fields.CharField(max_length=120, default="")
    vat_number = fields.CharField(max_length=32, default="")
    company_number = fields.CharField(max_length=32, default="")  # SIREN, Companies House…
    address_line1 = fields.CharField(max_length=200, default="")
    address_line2 = fields.CharField(max_length=200, default="")
    postal_code = fields.CharField(max_length=20, default="")
    city = fields.CharField(max_length=100, default="")
    country = fields.CharField(max_length=2, default="")
    phone = fields.CharField(max_length=20, default="")  # E.164
    language = fields.CharField(max_length=16, default="")
    password_hash = fields.CharField(max_length=255, null=True)
    pending_email = fields.CharField(max_length=254, default="")
    invited_at = fields.DatetimeField(null=True)
    activated_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "customer"
        unique_together = (("store", "email"),)


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FULFILLED = "fulfilled"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    CANCELED = "canceled"
    FAILED = "failed"


class Order(TenantOwned):
    id = fields.IntField(primary_key=True)
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="orders", on_delete=fields.RESTRICT
    )
    customer_id: int
    number = fields.CharField(max_length=32)
    status = fields.CharEnumField(OrderStatus, max_length=24, default=OrderStatus.PENDING)
    currency = fields.CharField(max_length=3)
    subtotal = fields.BigIntField(default=0)
    tax_total = fields.BigIntField(default=0)
    total = fields.BigIntField(default=0)
    placed_at = fields.DatetimeField()

    class Meta:
        table = "order"
        unique_together = (("store", "number"),)
        indexes = (
            Index(fields=("store_id", "customer_id", "placed_at", "id")),
            Index(fields=("store_id", "placed_at", "id")),  # the dashboard's store-wide list
        )


class OrderLine(TenantOwned):
    id = fields.IntField(primary_key=True)
    order: fields.ForeignKeyRelation[Order] = fields.ForeignKeyField(
        "models.Order", related_name="lines", on_delete=fields.CASCADE
    )
    order_id: int
    product: fields.ForeignKeyNullableRelation[Product] = fields.ForeignKeyField(
        "models.Product", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    description = fields.CharField(max_length=255)
    quantity = fields.IntField(default=1)
    unit_price = fields.BigIntField()
    tax_rate_bp = fields.IntField(default=0)  # basis points: 2000 = 20 %
    total = fields.BigIntField()  # quantity × unit price, excluding VAT (VAT is per rate)

    class Meta:
        table = "order_line"
        indexes = (Index(fields=("store_id", "order_id")),)


class PaymentMethodKind(StrEnum):
    CARD = "card"
    SEPA = "sepa"


class PaymentMethod(TenantOwned):
    """A tokenized payment method. Never a full card number, never a CVC."""

    id = fields.IntField(primary_key=True)
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="payment_methods", on_delete=fields.CASCADE
    )
    customer_id: int
    kind = fields.CharEnumField(PaymentMethodKind, max_length=8)
    brand = fields.CharField(max_length=32, default="")
    last4 = fields.CharField(max_length=4)
    exp_month = fields.SmallIntField(null=True)
    exp_year = fields.SmallIntField(null=True)
    gateway_token = fields.CharField(max_length=128)
    fingerprint = fields.CharField(max_length=64, default="")
    is_default = fields.BooleanField(default=False)
    # A SEPA account's Direct Debit mandate: the reference the buyer saw in its text, and when
    # they gave it by saving the account. None for a card.
    mandate_reference = fields.CharField(max_length=35, null=True)
    mandate_signed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "payment_method"
        indexes = (Index(fields=("store_id", "customer_id")),)
        unique_together = (("store", "mandate_reference"),)


class PaymentStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"


class Payment(TenantOwned):
    id = fields.IntField(primary_key=True)
    order: fields.ForeignKeyRelation[Order] = fields.ForeignKeyField(
        "models.Order", related_name="payments", on_delete=fields.CASCADE
    )
    order_id: int
    status = fields.CharEnumField(PaymentStatus, max_length=16)
    amount = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    method_summary = fields.CharField(max_length=64, default="")  # "Visa •••• 4242"
    payment_method: fields.ForeignKeyNullableRelation[PaymentMethod] = fields.ForeignKeyField(
        "models.PaymentMethod", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    payment_method_id: int | None
    failure_reason = fields.CharField(max_length=255, default="")  # a gateway's decline code
    reference = fields.CharField(max_length=64, default="")  # the gateway's id for the charge
    created_at = fields.DatetimeField()

    class Meta:
        table = "payment"
        indexes = (Index(fields=("store_id", "order_id")),)


class InvoiceCounter(TenantOwned):
    """The per-store invoice number sequence."""

    id = fields.IntField(primary_key=True)
    next_value = fields.IntField(default=1)

    class Meta:
        table = "invoice_counter"
        unique_together = (("store",),)


class InvoiceKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"  # cancels an invoice of a refunded order


class Invoice(TenantOwned, DueWork):
    """An issued invoice or credit note, frozen at issue with the seller's branding.

    Both take their numbers from the store's one sequence; an order has at most one of each,
    and a credit note names the invoice it cancels (`credits`). Rendered from its snapshot
    only. As due work, it is due from issue until its PDF is stored.
    """

    id = fields.IntField(primary_key=True)
    order: fields.ForeignKeyRelation[Order] = fields.ForeignKeyField(
        "models.Order", related_name="invoices", on_delete=fields.RESTRICT
    )
    order_id: int
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="invoices", on_delete=fields.RESTRICT
    )
    customer_id: int
    number = fields.CharField(max_length=32)
    kind = fields.CharEnumField(InvoiceKind, max_length=12, default=InvoiceKind.INVOICE)
    credits: fields.ForeignKeyNullableRelation[Invoice] = fields.ForeignKeyField(
        "models.Invoice", related_name=False, null=True, on_delete=fields.RESTRICT
    )
    credits_id: int | None
    issued_at = fields.DatetimeField()
    currency = fields.CharField(max_length=3)
    snapshot = fields.JSONField[dict[str, Any]]()  # seller, buyer, lines, taxes, totals as issued
    total = fields.BigIntField()
    brand_logo = fields.BinaryField(null=True)  # the store's logo at issue (type in snapshot)
    pdf = fields.BinaryField(null=True)
    etag = fields.CharField(max_length=64, default="")

    class Meta:
        table = "invoice"
        unique_together = (("store", "number"), ("store", "order", "kind"))
        indexes = (
            Index(fields=("store_id", "order_id")),
            Index(fields=("store_id", "issued_at", "id")),  # the dashboard's list
            Index(fields=("store_id", "customer_id", "issued_at", "id")),  # the buyer's list
        )


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    TRIALING = "trialing"
    PAST_DUE = "past_due"
    CANCELED = "canceled"


class Subscription(TenantOwned):
    id = fields.IntField(primary_key=True)
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="subscriptions", on_delete=fields.RESTRICT
    )
    customer_id: int
    product: fields.ForeignKeyRelation[Product] = fields.ForeignKeyField(
        "models.Product", related_name=False, on_delete=fields.RESTRICT
    )
    product_id: int
    status = fields.CharEnumField(SubscriptionStatus, max_length=16)
    current_period_end = fields.DatetimeField()
    cancel_at_period_end = fields.BooleanField(default=False)
    canceled_at = fields.DatetimeField(null=True)
    cancellation_reason = fields.TextField(default="")
    payment_method: fields.ForeignKeyNullableRelation[PaymentMethod] = fields.ForeignKeyField(
        "models.PaymentMethod", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "subscription"
        indexes = (Index(fields=("store_id", "customer_id")),)


class CancellationStatus(StrEnum):
    PENDING = "pending"
    CANCELED = "canceled"
    REPLIED = "replied"


class CancellationAnswer(StrEnum):
    """How the store canceled a subscription it was asked to cancel."""

    PERIOD_END = "period_end"
    NOW = "now"


class CancellationRequest(TenantOwned):
    """A buyer's request that the store cancel a subscription, and the store's answer.

    The path the portal offers where the product does not let buyers cancel. At most one is
    pending per subscription: `pending` is True until the answer, then NULL, under a unique
    (subscription, pending)."""

    id = fields.IntField(primary_key=True)
    subscription: fields.ForeignKeyRelation[Subscription] = fields.ForeignKeyField(
        "models.Subscription", related_name=False, on_delete=fields.CASCADE
    )
    subscription_id: int
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name=False, on_delete=fields.CASCADE
    )
    customer_id: int
    reason = fields.TextField(default="")
    requested_at = fields.DatetimeField()
    status = fields.CharEnumField(
        CancellationStatus, max_length=8, default=CancellationStatus.PENDING
    )
    pending = fields.BooleanField(null=True, default=True)
    answered_at = fields.DatetimeField(null=True)
    answered_by: fields.ForeignKeyNullableRelation[MerchantUser] = fields.ForeignKeyField(
        "models.MerchantUser", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    answered_by_id: int | None
    answer = fields.CharEnumField(CancellationAnswer, max_length=12, null=True)
    reply = fields.TextField(default="")

    class Meta:
        table = "cancellation_request"
        unique_together = (("subscription", "pending"),)
        indexes = (Index(fields=("store_id", "status", "requested_at")),)
