"""ACME account, orders and issued certificates. Private keys are stored encrypted."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from payfacile.tenants.models import Domain, TenantOwned


class AcmeAccount(Model):
    id = fields.IntField(primary_key=True)
    directory_url = fields.CharField(max_length=512, unique=True)
    key_encrypted = fields.TextField()
    uri = fields.CharField(max_length=512, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "acme_account"


class Certificate(TenantOwned):
    id = fields.IntField(primary_key=True)
    domain: fields.ForeignKeyRelation[Domain] = fields.ForeignKeyField(
        "models.Domain", related_name="certificates", on_delete=fields.CASCADE
    )
    chain_pem = fields.TextField()
    key_encrypted = fields.TextField()
    not_before = fields.DatetimeField()
    not_after = fields.DatetimeField(db_index=True)
    serial = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "certificate"


class AcmeOrder(TenantOwned):
    id = fields.IntField(primary_key=True)
    domain: fields.ForeignKeyRelation[Domain] = fields.ForeignKeyField(
        "models.Domain", related_name="acme_orders", on_delete=fields.CASCADE
    )
    state = fields.CharField(max_length=24, default="pending")
    order_url = fields.CharField(max_length=512, default="")
    deadline = fields.DatetimeField()
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True, db_index=True)
    claimed_until = fields.DatetimeField(null=True)
    error = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "acme_order"
