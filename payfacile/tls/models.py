"""The platform's ACME account, each custom domain's certificate work, and the certificates
it obtained. Private keys are stored sealed (`platform.crypto`), never in the clear."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from payfacile.platform.models import DueWork
from payfacile.tenants.models import Domain, TenantOwned


class AcmeAccount(Model):
    """The one ACME account of the platform at a CA (Let's Encrypt recommends one)."""

    id = fields.IntField(primary_key=True)
    directory_url = fields.CharField(max_length=512, unique=True)
    key_encrypted = fields.TextField()
    uri = fields.CharField(max_length=512, default="")  # empty until the CA registered it
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "acme_account"


class Certificate(TenantOwned):
    """A certificate of one custom domain, its key sealed; the newest one is served."""

    id = fields.IntField(primary_key=True)
    domain: fields.ForeignKeyRelation[Domain] = fields.ForeignKeyField(
        "models.Domain", related_name="certificates", on_delete=fields.CASCADE
    )
    domain_id: int
    chain_pem = fields.TextField()
    key_encrypted = fields.TextField()
    not_before = fields.DatetimeField()
    not_after = fields.DatetimeField(db_index=True)
    renew_at = fields.DatetimeField(null=True)  # the CA's ARI window, else a third left
    expiry_warned_at = fields.DatetimeField(null=True)  # the owner told it is not renewed
    serial = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "certificate"


class AcmeOrder(TenantOwned, DueWork):
    """A custom domain's certificate work: one row per domain, made once it is verified.

    Due work of the recurring `acme_order` kind; the row's claim is the per-hostname lock
    with a lease (one order per hostname at a time). `next_attempt_at` is the next order: a
    retry after a failure, else the current certificate's renewal time. `failures` counts
    the failed orders in a row (their back-off); `problem` is what went wrong, as a code the
    pages put in words, and `error` the CA's or the check's own detail."""

    id = fields.IntField(primary_key=True)
    domain: fields.ForeignKeyRelation[Domain] = fields.ForeignKeyField(
        "models.Domain", related_name="acme_orders", on_delete=fields.CASCADE
    )
    domain_id: int
    state = fields.CharField(max_length=24, default="wanted")  # wanted | ordering | issued
    order_url = fields.CharField(max_length=512, default="")
    deadline = fields.DatetimeField(null=True)  # the running order is abandoned after it
    failures = fields.IntField(default=0)
    problem = fields.CharField(max_length=32, default="")
    error = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "acme_order"
        unique_together = (("domain",),)
