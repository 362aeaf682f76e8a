"""A store's settings as its owner edits them: identity, branding, the legal identity its
invoices print. Every field is checked before anything is written; then the row (and the
logo) change in one transaction and every instance's host cache drops the store at once, so
the portal shows the new name, colour and logo on its next page. Invoices already issued
keep what they froze."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from babel.numbers import format_decimal, get_currency_name
from tortoise.transactions import in_transaction

from payfacile.platform.accounts import normalise_email
from payfacile.platform.brand import COLOR
from payfacile.platform.countries import country_codes
from payfacile.platform.errors import FieldErrors, InvalidInput
from payfacile.platform.i18n import LANGUAGES, current_language, language_of
from payfacile.platform.text import Message, _l
from payfacile.tenants import legal, stores
from payfacile.tenants.hosts import HostResolver
from payfacile.tenants.models import Store

# Currencies a store may sell in: each has its cents (two decimals) and Babel's formats.
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "CAD")
# The portal writes white text on the brand colour (buttons, the logo's stand-in letter, the
# invoice's table heading) and brand-coloured links on white: WCAG AA asks 4.5:1 for text.
MIN_CONTRAST = 4.5
ADDRESS: tuple[legal.TextField, ...] = (
    ("address_line1", 200, _l("An address line is 200 characters at most.")),
    ("address_line2", 200, _l("An address line is 200 characters at most.")),
    ("postal_code", 20, _l("A postal code is 20 characters at most.")),
    ("city", 100, _l("A city is 100 characters at most.")),
)
IDENTITY = (
    "name",
    "support_email",
    *(name for name, _, _ in ADDRESS),
    "country",
    "time_zone",
    "locale",
    "currency",
    "brand_color",
)
FIELDS = (*IDENTITY, *legal.FIELDS)
# The settings form from top to bottom: the order its error summary lists the mistakes in.
FORM_ORDER = (
    *IDENTITY,
    "logo",
    "legal_form",
    "company_registration",
    "registration_office",
    "share_capital",
    "vat_number",
    *legal.TERMS_DEFAULTS,
)


def form_values(store: Store) -> dict[str, str]:
    """The store's settings as the form shows them."""
    values = {name: str(getattr(store, name) or "") for name in FIELDS}
    values["locale"] = language_of(store.locale)  # "fr_FR" from before the choice was en | fr
    values["company_registration"] = legal.formatted_registration(store)
    values["share_capital"] = legal.share_capital_text(store)
    return values


def currencies(language: str) -> list[tuple[str, str]]:
    return [(code, f"{get_currency_name(code, locale=language)} ({code})") for code in CURRENCIES]


def clean(form: Mapping[str, str]) -> dict[str, Any]:
    """The form's values as stored; raises `FieldErrors` naming every bad field."""
    values: dict[str, Any] = {}
    errors: dict[str, Message] = {}
    checks = {
        "name": stores.validate_name,
        "support_email": lambda raw: normalise_email(raw, field="support_email"),
        "time_zone": stores.validate_time_zone,
        "country": _country,
        "locale": _locale,
        "currency": _currency,
        "brand_color": brand_color,
    }
    for name, check in checks.items():
        try:
            values[name] = check(form.get(name, ""))
        except InvalidInput as error:
            errors[name] = error.message
    address, address_errors = legal.clean_texts(form, ADDRESS)
    values.update(address)
    errors.update(address_errors)
    if values.get("country") == legal.FRANCE and not _french_postal_code(values["postal_code"]):
        errors["postal_code"] = _l("A French postal code has 5 digits, like 69002.")
    found, legal_errors = legal.clean_legal(
        form, country=values.get("country", ""), currency=values.get("currency") or "EUR"
    )
    values.update(found)
    errors.update(legal_errors)
    if errors:
        raise FieldErrors(errors, order=FORM_ORDER)
    return values


def _country(raw: str) -> str:
    country = (raw or "").strip().upper()
    if country and country not in country_codes():
        raise InvalidInput(_l("Choose a country from the list."), field="country")
    return country


def _french_postal_code(code: str) -> bool:
    return not code or (len(code) == 5 and code.isdigit())


def _locale(raw: str) -> str:
    if raw not in LANGUAGES:
        raise InvalidInput(_l("Choose English or French."), field="locale")
    return raw


def _currency(raw: str) -> str:
    currency = (raw or "").strip().upper()
    if currency not in CURRENCIES:
        raise InvalidInput(_l("Choose a currency from the list."), field="currency")
    return currency


def brand_color(raw: str) -> str:
    """A #rrggbb colour, lower case, that white text can be read on."""
    color = (raw or "").strip().lower()
    if not COLOR.match(color):
        raise InvalidInput(
            _l("Enter a colour as # and six hexadecimal digits, like #4f46e5."),
            field="brand_color",
        )
    ratio = contrast_with_white(color)
    if ratio < MIN_CONTRAST:
        raise InvalidInput(
            _l(
                "White text on this colour is hard to read: its contrast is %(ratio)s:1 and "
                "the portal's buttons and links need at least 4.5:1. Choose a darker colour.",
                ratio=format_decimal(ratio, format="0.0", locale=current_language()),
            ),
            field="brand_color",
        )
    return color


def contrast_with_white(color: str) -> float:
    """WCAG 2's contrast ratio of white against `color` (#rrggbb)."""
    channels = (int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return 1.05 / (luminance + 0.05)


async def save_settings(
    store: Store,
    form: Mapping[str, str],
    *,
    logo: bytes | None,
    hosts: HostResolver,
) -> Store:
    """Check every field and the logo (None: keep the one there is), then write them all
    or nothing."""
    errors: dict[str, Message] = {}
    try:
        values = clean(form)
    except FieldErrors as error:
        errors, values = error.errors, {}
    checked = None
    if logo is not None:
        try:
            checked = stores.check_logo(logo)
        except InvalidInput as error:
            errors["logo"] = error.message
    if errors:
        raise FieldErrors(errors, order=FORM_ORDER)
    async with in_transaction():
        await Store.filter(id=store.id).update(**values)
        if checked is not None:
            await stores.write_logo(store, checked)
    for name, value in values.items():
        setattr(store, name, value)
    await hosts.invalidate_store(store)
    return store


async def remove_logo(store: Store, *, hosts: HostResolver) -> None:
    """The portal shows the store's initial again; issued invoices keep their logo."""
    async with in_transaction():
        await stores.write_logo(store, None)
    await hosts.invalidate_store(store)
