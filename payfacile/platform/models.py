"""The kernel's rows: sessions, emailed tokens, API clients, due work and the email outbox.

Rows that may belong to a store point at the tenants part's `Store` by name ("models.Store"),
as Django's contrib apps name the user model: the kernel imports no part.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

STORE = "models.Store"


class SessionKind(StrEnum):
    BUYER = "buyer"
    MERCHANT = "merchant"
    ADMIN = "admin"


class Session(Model):
    """A signed-in session. The cookie holds a random id, and only its SHA-256 is stored.

    `store` is the store whose host issued it (null on the central host); loading checks
    it against the request's store, so a cookie copied to another host is not signed in.
    """

    id_hash = fields.CharField(max_length=64, primary_key=True)
    kind = fields.CharEnumField(SessionKind, max_length=8)
    subject_id = fields.IntField()
    store: fields.ForeignKeyNullableRelation[Model] = fields.ForeignKeyField(
        STORE, related_name=False, null=True, on_delete=fields.CASCADE
    )
    store_id: int | None
    data = fields.JSONField[dict[str, Any]](default=dict)
    created_at = fields.DatetimeField()
    last_seen_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "session"
        indexes = (Index(fields=("kind", "subject_id")),)


class TokenPurpose(StrEnum):
    INVITATION = "invitation"
    SIGN_IN = "sign_in"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose name, not a password
    EMAIL_CHANGE = "email_change"


class Token(Model):
    """Single-use emailed tokens. Only the SHA-256 of the token is stored."""

    id = fields.IntField(primary_key=True)
    purpose = fields.CharEnumField(TokenPurpose, max_length=16)
    token_hash = fields.CharField(max_length=64, unique=True)
    subject_kind = fields.CharEnumField(SessionKind, max_length=8)
    subject_id = fields.IntField()
    store: fields.ForeignKeyNullableRelation[Model] = fields.ForeignKeyField(
        STORE, related_name=False, null=True, on_delete=fields.CASCADE
    )
    store_id: int | None
    payload = fields.JSONField[dict[str, Any]](default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "token"
        indexes = (Index(fields=("subject_kind", "subject_id", "purpose")),)


class ApiClient(Model):
    id = fields.IntField(primary_key=True)
    client_id = fields.CharField(max_length=64, unique=True)
    secret_hash = fields.CharField(max_length=255)
    store: fields.ForeignKeyNullableRelation[Model] = fields.ForeignKeyField(
        STORE, related_name=False, null=True, on_delete=fields.CASCADE
    )
    scopes = fields.CharField(max_length=255, default="")
    name = fields.CharField(max_length=120, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_client"


class AccessToken(Model):
    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    client: fields.ForeignKeyRelation[ApiClient] = fields.ForeignKeyField(
        "models.ApiClient", related_name="tokens", on_delete=fields.CASCADE
    )
    scopes = fields.CharField(max_length=255, default="")
    expires_at = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "access_token"


class IdempotencyKey(Model):
    id = fields.IntField(primary_key=True)
    client: fields.ForeignKeyRelation[ApiClient] = fields.ForeignKeyField(
        "models.ApiClient", related_name=False, on_delete=fields.CASCADE
    )
    key = fields.CharField(max_length=255)
    request_hash = fields.CharField(max_length=64)
    response_status = fields.IntField(null=True)
    response_body = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "idempotency_key"
        unique_together = (("client", "key"),)


class DueWork(Model):
    """A row of work the scheduler hands to workers (DESIGN.md "Background work").

    Due when `next_attempt_at` has passed, `done_at` is empty and no live claim holds it.
    The scheduler claims a row (a new `claim_token`, `claimed_until` = now + lease) and kicks
    a job; the worker completes it only while that claim is still its own. A claim that
    outlives a crashed worker expires and the row is handed out again. A row given up (its
    last attempt spent) keeps `done_at` and `next_attempt_at` empty, and `claimed_until`
    says when it was given up.
    """

    next_attempt_at = fields.DatetimeField(null=True, db_index=True)
    claimed_until = fields.DatetimeField(null=True)
    claim_token = fields.CharField(max_length=32, default="")
    attempts = fields.IntField(default=0)
    last_error = fields.TextField(default="")
    done_at = fields.DatetimeField(null=True)

    class Meta:
        abstract = True


class OutboxEmail(DueWork):
    """An email to send, written in the same transaction as the event that causes it."""

    id = fields.IntField(primary_key=True)
    store: fields.ForeignKeyNullableRelation[Model] = fields.ForeignKeyField(
        STORE, related_name=False, null=True, on_delete=fields.SET_NULL
    )
    store_id: int | None
    to_address = fields.CharField(max_length=254)
    subject = fields.CharField(max_length=255)
    from_address = fields.CharField(max_length=320)
    reply_to = fields.CharField(max_length=254, default="")
    text_body = fields.TextField()
    html_body = fields.TextField(default="")
    message_id = fields.CharField(max_length=255, default="")
    # The links the bodies name only by a marker (sign-in, invitation, reset…), encrypted
    # with the secret key (`payfacile.platform.crypto`); blanked once sent or given up.
    sealed = fields.TextField(default="")
    # The files it carries, as JSON `[[kind, ref], …]`, resolved when sent (`mail.Attachment`).
    attachments = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "outbox_email"
