"""Customers a store's merchants add by hand, and the details they edit, from the dashboard.

The details go through the portal's own rules (`profile.clean`: names, addresses, postal
codes, phones, VAT and company numbers), so a buyer and a merchant are held to one set. An
email belongs to one customer of a store (another store may have a customer with the same
one: buyer accounts are per store). The dashboard changes a customer's email only while they
have no password, that is before they ever used their account; from then on it is the
buyer's to change from the portal, through its confirmation link. A change voids the links
sent to the old address.
"""

from __future__ import annotations

from collections.abc import Mapping

from tortoise.transactions import in_transaction

from payfacile.platform import db, tokens
from payfacile.platform.accounts import normalise_email
from payfacile.platform.errors import Conflict, FieldErrors, InvalidInput
from payfacile.platform.i18n import LANGUAGES
from payfacile.platform.models import SessionKind, TokenPurpose
from payfacile.platform.text import Message, _l
from payfacile.portal import profile
from payfacile.portal.models import Customer
from payfacile.tenants.models import Store
from payfacile.tenants.scope import scoped

FIELDS = ("email", "language", *profile.EDITABLE)
OWN_EMAIL = _l(
    "This customer has chosen a password: their email is theirs to change, from the portal."
)


def clean(form: Mapping[str, str], *, email: bool) -> dict[str, str]:
    """The form's values as stored, the email too when `email`; `FieldErrors` names every
    bad field at once."""
    errors: dict[str, Message] = {}
    try:
        values = profile.clean(form)
    except FieldErrors as error:
        values, errors = {}, dict(error.errors)
    if email:
        try:
            values["email"] = normalise_email(form.get("email", ""))
        except InvalidInput as error:
            errors["email"] = error.message
    values["language"] = form.get("language", "").strip().lower()
    if values["language"] and values["language"] not in LANGUAGES:
        errors["language"] = _l("Choose a language from the list.")
    if errors:
        raise FieldErrors(errors, order=profile.FORM_ORDER)
    return values


async def add_customer(store: Store, form: Mapping[str, str]) -> Customer:
    """A new customer of the store, never invited; nothing is written when a field is wrong
    or the email is another customer's (a `Conflict` on the field)."""
    values = clean(form, email=True)
    taken = _taken(values["email"])
    with db.unique_or_conflict(taken, field="email"):
        async with in_transaction():
            await _must_be_free(store, values["email"], taken)
            return await scoped(store).create(Customer, **values)


async def edit_customer(store: Store, customer_id: int, form: Mapping[str, str]) -> Customer:
    """Save a customer's details; another store's customer is a 404, and nothing changes
    when any field is wrong."""
    customer = await scoped(store).get(Customer, id=customer_id)
    active = customer.password_hash is not None
    values = clean(form, email=not active or "email" in form)
    if active and values.pop("email", customer.email) != customer.email:
        raise FieldErrors({"email": OWN_EMAIL})
    if values.get("email", customer.email) == customer.email:
        values.pop("email", None)
        await scoped(store).update(customer, **values)
        return customer
    taken = _taken(values["email"])
    with db.unique_or_conflict(taken, field="email"):
        async with in_transaction():
            await _must_be_free(store, values["email"], taken)
            changed = (
                await scoped(store)
                .query(Customer)
                .filter(id=customer.id, password_hash__isnull=True)
                .update(**values, invited_at=None)
            )
            if not changed:  # they chose a password a moment ago
                raise FieldErrors({"email": OWN_EMAIL})
            await tokens.void(
                subject_kind=SessionKind.BUYER, subject_id=customer.id, purposes=tuple(TokenPurpose)
            )
    return await scoped(store).get(Customer, id=customer.id)


async def _must_be_free(store: Store, email: str, taken: Message) -> None:
    """The check answers the usual case; the unique index, a customer added at that moment."""
    if await scoped(store).query(Customer).filter(email=email).exists():
        raise Conflict(taken, field="email")


def _taken(email: str) -> Message:
    return _l("Another customer of this store has the email %(email)s.", email=email)
