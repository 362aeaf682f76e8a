"""The seller's legal identity and the terms its invoices print, with the wording a French
merchant expects when they write none.

French invoices name the seller's legal form, SIREN or SIRET, share capital and VAT number,
the payment terms and, for business buyers, the late-payment penalty rate and the fixed 40 €
recovery indemnity (Code de commerce, L441-9, L441-10 and D441-5). Numbers are checked with
python-stdnum: SIREN and SIRET by their Luhn key, VAT numbers by each EU country's rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.numbers import get_currency_precision
from stdnum.eu import vat
from stdnum.exceptions import ValidationError
from stdnum.fr import siren, siret

from payfacile.platform import i18n
from payfacile.platform.errors import InvalidInput
from payfacile.platform.text import Message, _l
from payfacile.tenants.models import Store

FRANCE = "FR"
MAX_CAPITAL_UNITS = 10**13  # in the currency's units: beyond any company's capital
TERMS_LENGTH = 300
RECOVERY_INDEMNITY = 4000  # 40 €, in cents: fixed by D441-5, the same for every invoice

# What an invoice says where the merchant wrote nothing, in the invoice's language.
DEFAULT_PAYMENT_TERMS = _l("Payment due on receipt")
# L441-10: a rate the parties set may not be below three times the legal interest rate; the
# usual French invoice states that minimum (without a stated rate the law's own default is
# the ECB's refinancing rate plus 10 points, which the merchant may write instead).
DEFAULT_LATE_PAYMENT = _l(
    "Late payment penalties: three times the French legal interest rate, due without "
    "reminder from the day after the due date."
)
DEFAULT_EARLY_PAYMENT = _l("No discount for early payment.")
RECOVERY_WORDING = _l(
    "Fixed compensation for recovery costs in case of late payment: %(amount)s (French "
    "Commercial Code, art. L441-10 and D441-5)."
)
TERMS_DEFAULTS = {
    "payment_terms": DEFAULT_PAYMENT_TERMS,
    "late_payment_terms": DEFAULT_LATE_PAYMENT,
    "early_payment_terms": DEFAULT_EARLY_PAYMENT,
}


TOO_LONG = _l("This wording is 300 characters at most.")
TextField = tuple[str, int, Message]  # a field's name, its length at most, and what says so
TEXTS: tuple[TextField, ...] = (
    ("legal_form", 40, _l("A legal form is 40 characters at most, like SAS or SARL.")),
    ("registration_office", 100, _l("A registry's city is 100 characters at most.")),
    *((name, TERMS_LENGTH, TOO_LONG) for name in TERMS_DEFAULTS),
)
FIELDS = (*(name for name, _, _ in TEXTS), "company_registration", "share_capital", "vat_number")


def clean_legal(
    form: Mapping[str, str], *, country: str, currency: str
) -> tuple[dict[str, Any], dict[str, Message]]:
    """The legal identity's values as stored, and an error per bad field. `country` and
    `currency` are the store's as the same form sets them."""
    values, errors = clean_texts(form, TEXTS)
    checks = (
        ("company_registration", lambda raw: registration(raw, country)),
        ("share_capital", lambda raw: share_capital(raw, currency)),
        ("vat_number", vat_number),
    )
    for name, check in checks:
        try:
            values[name] = check(form.get(name, ""))
        except InvalidInput as error:
            errors[name] = error.message
    if not errors:
        mismatch = _vat_of_another_company(values["vat_number"], values["company_registration"])
        if mismatch:
            errors["vat_number"] = mismatch
    return values, errors


def clean_texts(
    form: Mapping[str, str], fields: tuple[TextField, ...]
) -> tuple[dict[str, Any], dict[str, Message]]:
    """Each field's text with its spaces collapsed, and an error per one that is too long."""
    values: dict[str, Any] = {}
    errors: dict[str, Message] = {}
    for name, max_length, too_long in fields:
        values[name] = " ".join(form.get(name, "").split())
        if len(values[name]) > max_length:
            errors[name] = too_long
    return values, errors


def registration(raw: str, country: str) -> str:
    """A French store's SIREN (9 digits) or SIRET (14), digits only; elsewhere, the
    registration as written."""
    text = " ".join((raw or "").split())
    if country != FRANCE:
        if len(text) > 40:
            raise InvalidInput(
                _l("A company registration is 40 characters at most."),
                field="company_registration",
            )
        return text
    digits = text.replace(" ", "").replace(".", "").replace("-", "")
    if not digits:
        return ""
    module = {9: siren, 14: siret}.get(len(digits)) if digits.isdigit() else None
    if module is None:
        raise InvalidInput(
            _l("Enter the SIREN (9 digits) or the SIRET (14 digits) of the company."),
            field="company_registration",
        )
    try:
        return str(module.validate(digits))
    except ValidationError as error:
        raise InvalidInput(
            _l(
                "%(number)s is not a valid %(kind)s: check its digits.",
                number=digits,
                kind="SIREN" if module is siren else "SIRET",
            ),
            field="company_registration",
        ) from error


def share_capital(raw: str, currency: str) -> int | None:
    """The share capital in minor units of `currency` ("10 000,50" or "10000.50"); None when
    not given."""
    text = "".join((raw or "").replace("€", "").split()).replace(",", ".")
    if not text:
        return None
    digits = get_currency_precision(currency)
    invalid = InvalidInput(
        _l("Enter the share capital as an amount, like 10000 or 1500.50."), field="share_capital"
    )
    try:
        amount = Decimal(text)
    except InvalidOperation as error:
        raise invalid from error
    if not amount.is_finite() or amount < 0 or amount >= MAX_CAPITAL_UNITS:
        raise invalid
    minor = amount.scaleb(digits)
    if minor != minor.to_integral_value():
        raise invalid
    return int(minor)


def share_capital_text(store: Store) -> str:
    """The stored share capital as the form shows it: "10000.00"."""
    if store.share_capital is None:
        return ""
    digits = get_currency_precision(store.currency)
    return str(Decimal(store.share_capital).scaleb(-digits))


def vat_number(raw: str) -> str:
    """An EU VAT number with its country prefix (FR40303265045), compact; "" when not given."""
    text = (raw or "").strip()
    if not text:
        return ""
    try:
        return str(vat.validate(text[:40]))
    except ValidationError as error:
        raise InvalidInput(
            _l(
                "This is not a valid EU VAT number. Write it with its country code, "
                "like FR40303265045."
            ),
            field="vat_number",
        ) from error


def _vat_of_another_company(number: str, company: str) -> Message:
    """A French VAT number holds its company's SIREN: one that names another is a typo."""
    if not (number.startswith(FRANCE) and company.isdigit() and number[-9:].isdigit()):
        return ""
    if number[-9:] == company[:9]:
        return ""
    return _l(
        "This VAT number belongs to the SIREN %(siren)s, not to %(company)s.",
        siren=siren.format(number[-9:]),
        company=siren.format(company[:9]),
    )


def registration_label(store: Store) -> str:
    """What an invoice names the registration: SIREN, SIRET, or nothing (the label says)."""
    number = store.company_registration
    if store.country != FRANCE or not number.isdigit():
        return ""
    return "SIRET" if len(number) == 14 else "SIREN"


def formatted_registration(store: Store) -> str:
    number = store.company_registration
    kind = registration_label(store)
    if kind == "SIRET":
        return str(siret.format(number))
    if kind == "SIREN":
        return str(siren.format(number))
    return number


def legal_identity(store: Store) -> dict[str, Any]:
    """The seller's legal identity as an invoice freezes it."""
    kind = registration_label(store)
    return {
        "legal_form": store.legal_form,
        "registration": formatted_registration(store),
        "registration_kind": kind,
        "siren": str(siren.format(store.company_registration[:9])) if kind else "",
        "registration_office": store.registration_office,
        "share_capital": store.share_capital,
        "capital_currency": store.currency,
    }


def invoice_terms(store: Store, *, business_buyer: bool, language: str) -> dict[str, str]:
    """The terms an invoice prints, in `language`: the payment terms for every buyer; the
    late-payment penalty, the 40 € recovery indemnity and the early-payment discount for a
    business buyer only (a consumer owes no indemnity)."""
    terms = {"payment": _term(store, "payment_terms", language)}
    if business_buyer:
        terms["late_payment"] = _term(store, "late_payment_terms", language)
        terms["recovery"] = RECOVERY_WORDING.in_language(language) % {
            "amount": i18n.money(RECOVERY_INDEMNITY, "EUR", language)
        }
        terms["early_payment"] = _term(store, "early_payment_terms", language)
    return terms


def _term(store: Store, name: str, language: str) -> str:
    written: str = getattr(store, name)
    return written or TERMS_DEFAULTS[name].in_language(language)


def default_terms(language: str) -> dict[str, str]:
    """The default wording of each terms field, in `language` (the form's placeholders)."""
    return {name: default.in_language(language) for name, default in TERMS_DEFAULTS.items()}
