"""The buyer's own details: name, postal address, phone, company and VAT number.

Invoices copy these when they are issued, so a change shows on the next invoice and never
on an earlier one. The email address changes only through its confirmation link (`auth`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import phonenumbers

from payfacile.platform.countries import country_codes
from payfacile.platform.errors import InvalidInput
from payfacile.platform.text import Message, _l
from payfacile.portal.models import Customer
from payfacile.tenants.models import Store
from payfacile.tenants.scope import scoped


@dataclass(frozen=True)
class Field:
    name: str
    max_length: int
    too_long: Message


FIELDS = (
    Field("name", 120, _l("A name is 120 characters at most.")),
    Field("company", 120, _l("A company name is 120 characters at most.")),
    Field("vat_number", 32, _l("A VAT number is 32 characters at most.")),
    Field("address_line1", 200, _l("An address line is 200 characters at most.")),
    Field("address_line2", 200, _l("An address line is 200 characters at most.")),
    Field("postal_code", 20, _l("A postal code is 20 characters at most.")),
    Field("city", 100, _l("A city is 100 characters at most.")),
)
EDITABLE = (*(field.name for field in FIELDS), "country", "phone")


class ProfileErrors(InvalidInput):
    """Every field that is wrong, each with its message, so the form shows them all at once."""

    def __init__(self, errors: dict[str, Message]) -> None:
        field, message = next(iter(errors.items()))
        super().__init__(message, field=field)
        self.errors = errors


def clean(form: Mapping[str, str]) -> dict[str, str]:
    """The form's values as stored; raises `ProfileErrors` naming every bad field."""
    values: dict[str, str] = {}
    errors: dict[str, Message] = {}
    for field in FIELDS:
        value = " ".join(form.get(field.name, "").split())
        if len(value) > field.max_length:
            errors[field.name] = field.too_long
        values[field.name] = value
    values["vat_number"] = values["vat_number"].replace(" ", "").upper()
    country = form.get("country", "").strip().upper()
    if country and country not in country_codes():
        errors["country"] = _l("Choose a country from the list.")
    values["country"] = country
    try:
        values["phone"] = _phone(form.get("phone", ""), country)
    except InvalidInput as error:
        errors["phone"] = error.message
    if errors:
        raise ProfileErrors(errors)
    return values


def _phone(text: str, country: str) -> str:
    """E.164 (`+33612345678`), read in the buyer's country when written without `+`."""
    text = text.strip()
    if not text:
        return ""
    if len(text) > 30:
        raise InvalidInput(_l("A phone number is 30 characters at most."), field="phone")
    try:
        number = phonenumbers.parse(text, country or None)
    except phonenumbers.NumberParseException as error:
        raise InvalidInput(
            _l("Enter a phone number with its country code, like +33 6 12 34 56 78."),
            field="phone",
        ) from error
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(_l("This phone number is not valid."), field="phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_for_display(e164: str) -> str:
    if not e164:
        return ""
    number = phonenumbers.parse(e164, None)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


async def update_profile(store: Store, customer: Customer, form: Mapping[str, str]) -> None:
    """Save the form's details; nothing changes when any field is wrong."""
    await scoped(store).update(customer, **clean(form))
