"""Stores and what belongs to a store itself: domains, merchant members, products, webhooks;
and the platform admins who onboard stores."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from payfacile.platform.models import DueWork
from payfacile.platform.zones import zone_for_country


class StoreStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class DomainStatus(StrEnum):
    PENDING_DNS = "pending_dns"
    VERIFIED = "verified"
    ISSUING = "issuing"
    ACTIVE = "active"
    RENEWING = "renewing"
    DNS_MOVED = "dns_moved"
    FAILED = "failed"
    REMOVED = "removed"


SERVING_DOMAIN_STATUSES = frozenset(
    {
        DomainStatus.VERIFIED,
        DomainStatus.ISSUING,
        DomainStatus.ACTIVE,
        DomainStatus.RENEWING,
        DomainStatus.DNS_MOVED,
    }
)
# Served over HTTPS with the platform's certificate: plain HTTP redirects, responses carry HSTS.
WITH_CERTIFICATE = frozenset({DomainStatus.ACTIVE, DomainStatus.RENEWING})


class Store(Model):
    """A merchant's store: the tenant every tenant-owned row points to."""

    id = fields.IntField(primary_key=True)
    slug = fields.CharField(max_length=63, unique=True)
    name = fields.CharField(max_length=120)
    status = fields.CharEnumField(StoreStatus, max_length=16, default=StoreStatus.ACTIVE)
    locale = fields.CharField(max_length=16, default="en")
    currency = fields.CharField(max_length=3, default="EUR")
    support_email = fields.CharField(max_length=254, default="")
    address_line1 = fields.CharField(max_length=200, default="")
    address_line2 = fields.CharField(max_length=200, default="")
    postal_code = fields.CharField(max_length=20, default="")
    city = fields.CharField(max_length=100, default="")
    country = fields.CharField(max_length=2, default="")
    vat_number = fields.CharField(max_length=32, default="")
    brand_color = fields.CharField(max_length=7, default="#4f46e5")
    logo_etag = fields.CharField(max_length=64, default="")  # empty: no logo
    time_zone = fields.CharField(max_length=64, default="")  # IANA name; empty: the country's
    # What its custom domains' `_payfacile.{host}` TXT records hold; made at the first domain.
    domain_token = fields.CharField(max_length=64, default="")
    # The seller's legal identity and the terms its invoices print (`tenants.legal`); an empty
    # text means the default wording, in the invoice's language.
    legal_form = fields.CharField(max_length=40, default="")  # SAS, SARL, EI…
    company_registration = fields.CharField(max_length=40, default="")  # SIREN/SIRET in France
    registration_office = fields.CharField(max_length=100, default="")  # the RCS city
    share_capital = fields.BigIntField(null=True)  # minor units of `currency`; None: not stated
    payment_terms = fields.CharField(max_length=300, default="")
    late_payment_terms = fields.CharField(max_length=300, default="")
    early_payment_terms = fields.CharField(max_length=300, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "store"

    def __str__(self) -> str:
        return self.slug

    @property
    def zone(self) -> str:
        """The time zone the store's dates are shown in: its own, else its country's."""
        return self.time_zone or zone_for_country(self.country)


class TenantOwned(Model):
    """Base of every row that belongs to one store.

    Query these only through `payfacile.tenants.scope`: `scoped(store)` for a store's rows,
    `across_stores(...)` for the few callers that must see every store.
    """

    store: fields.ForeignKeyRelation[Store] = fields.ForeignKeyField(
        "models.Store", related_name=False, on_delete=fields.CASCADE, db_index=True
    )
    store_id: int

    class Meta:
        abstract = True


class Domain(TenantOwned, DueWork):
    """A custom hostname a store connected (docs/architecture.md, "Custom domain lifecycle").

    Its DNS checks are due work of the recurring `domain_check` kind: `next_attempt_at` is
    the next check (none once failed), set by each check itself."""

    id = fields.IntField(primary_key=True)
    hostname = fields.CharField(max_length=253, unique=True)
    status = fields.CharEnumField(DomainStatus, max_length=16, default=DomainStatus.PENDING_DNS)
    is_primary = fields.BooleanField(default=False)
    verification_token = fields.CharField(max_length=64)  # the store's, when it was added
    checked_at = fields.DatetimeField(null=True)
    error = fields.TextField(default="")
    report = fields.TextField(default="")  # the last check's findings, JSON (`dns.Report`)
    pending_since = fields.DatetimeField(null=True)  # checks started; failed 7 days on
    verified_at = fields.DatetimeField(null=True)
    moved_at = fields.DatetimeField(null=True)  # DNS stopped pointing here; removed 7 days on
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "domain"


class StoreLogo(TenantOwned):
    """The store's logo bytes, kept out of `store` so that resolving a host never loads them."""

    id = fields.IntField(primary_key=True)
    content_type = fields.CharField(max_length=32)
    data = fields.BinaryField()
    etag = fields.CharField(max_length=64)

    class Meta:
        table = "store_logo"
        unique_together = (("store",),)


class PlatformAdmin(Model):
    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)
    password_hash = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "platform_admin"


class MerchantUser(Model):
    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)
    name = fields.CharField(max_length=120, default="")
    password_hash = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "merchant_user"


class MembershipRole(StrEnum):
    OWNER = "owner"
    STAFF = "staff"


class Membership(TenantOwned):
    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[MerchantUser] = fields.ForeignKeyField(
        "models.MerchantUser", related_name="memberships", on_delete=fields.CASCADE
    )
    user_id: int
    role = fields.CharEnumField(MembershipRole, max_length=8, default=MembershipRole.STAFF)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "membership"
        unique_together = (("store", "user"),)


class ProductKind(StrEnum):
    ONE_TIME = "one_time"
    SUBSCRIPTION = "subscription"


class CancellationMode(StrEnum):
    END_OF_PERIOD = "end_of_period"
    IMMEDIATELY = "immediately"


class Product(TenantOwned):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    kind = fields.CharEnumField(ProductKind, max_length=16, default=ProductKind.ONE_TIME)
    price = fields.BigIntField(default=0)  # minor units of the store's currency, excl. VAT
    tax_rate_bp = fields.IntField(default=2000)  # the VAT it is sold with: 2000 = 20 %
    interval = fields.CharField(max_length=8, default="")  # month | year for subscriptions
    portal_cancellation_allowed = fields.BooleanField(default=False)
    cancellation_mode = fields.CharEnumField(
        CancellationMode, max_length=16, default=CancellationMode.END_OF_PERIOD
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "product"
        indexes = (Index(fields=("store_id", "name")),)


class ImportRun(TenantOwned):
    id = fields.IntField(primary_key=True)
    filename = fields.CharField(max_length=255, default="")
    status = fields.CharField(max_length=16, default="pending")
    total_rows = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "import_run"


class ImportRow(TenantOwned):
    id = fields.IntField(primary_key=True)
    run: fields.ForeignKeyRelation[ImportRun] = fields.ForeignKeyField(
        "models.ImportRun", related_name="rows", on_delete=fields.CASCADE
    )
    line = fields.IntField()
    outcome = fields.CharField(max_length=16)
    message = fields.TextField(default="")

    class Meta:
        table = "import_row"


class WebhookEndpoint(TenantOwned):
    id = fields.IntField(primary_key=True)
    url = fields.CharField(max_length=2048)
    secret_encrypted = fields.TextField()
    events = fields.CharField(max_length=1024, default="*")
    enabled = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "webhook_endpoint"


class WebhookEvent(TenantOwned):
    id = fields.IntField(primary_key=True)
    type = fields.CharField(max_length=64)
    payload = fields.JSONField[dict[str, Any]]()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "webhook_event"


class WebhookDelivery(TenantOwned, DueWork):
    id = fields.IntField(primary_key=True)
    event: fields.ForeignKeyRelation[WebhookEvent] = fields.ForeignKeyField(
        "models.WebhookEvent", related_name="deliveries", on_delete=fields.CASCADE
    )
    endpoint: fields.ForeignKeyRelation[WebhookEndpoint] = fields.ForeignKeyField(
        "models.WebhookEndpoint", related_name="deliveries", on_delete=fields.CASCADE
    )
    last_status = fields.IntField(null=True)

    class Meta:
        table = "webhook_delivery"
