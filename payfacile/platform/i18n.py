"""Languages (English, French), and money and dates in the store's locale and currency.

Dates have one style in every page, email and invoice PDF of a language: "2 Dec 2026" and
"2 déc. 2026" (`date`), with the time where a time is meant, "2 Dec 2026, 14:30"
(`datetime_`), and in an emailed link's expiry the name of the clock too (`link_expiry`);
always on the store's clock."""

from __future__ import annotations

import contextlib
import functools
import io
import re
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import date as date_
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_percent, get_currency_precision
from babel.support import NullTranslations, Translations
from markupsafe import Markup, escape

from payfacile.platform import zones
from payfacile.platform.elision import elide, name_slots
from payfacile.platform.headers import cookie

if TYPE_CHECKING:
    from jinja2 import Environment
    from jinja2.runtime import Context
    from quart import Quart, Request

LANGUAGES = {"en": "English", "fr": "Français"}
DEFAULT_LANGUAGE = "en"
LANGUAGE_COOKIE = "pf_lang"
TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"

_catalogs: dict[str, NullTranslations] = {}


def translations(language: str) -> NullTranslations:
    """The catalog for `language`, compiled in memory from its .po file once per process."""
    if language not in _catalogs:
        _catalogs[language] = _load(language)
    return _catalogs[language]


def _load(language: str) -> NullTranslations:
    path = TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return NullTranslations()
    with path.open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled)


@functools.lru_cache(maxsize=64)
def language_of(locale: str) -> str:
    language = (locale or "").split("_")[0].split("-")[0].lower()
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def pick_locale(request: Request, default: str = DEFAULT_LANGUAGE) -> str:
    """The visitor's chosen language if they picked one, else `default` (the store's)."""
    chosen = cookie(request, LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return language_of(default)


# While a page renders (synchronously: `platform.rendering`), its language and clock cannot
# change, and a page asks for them a hundred times (each `_()`, date and amount): read from
# `g` once, through Quart's proxy, and kept here for the render.
_RENDERING: ContextVar[dict[str, Any] | None] = ContextVar("payfacile_rendering", default=None)


@contextlib.contextmanager
def page_rendering() -> Iterator[None]:
    """The page's language and time zone, read once for the render inside."""
    token = _RENDERING.set({"locale": current_language(), "time_zone": current_zone()})
    try:
        yield
    finally:
        _RENDERING.reset(token)


def current_language() -> str:
    """The page's language. Quart's `g` is read only once something has imported Quart: no
    page is being made before, and the command line formats without loading it."""
    rendering = _RENDERING.get()
    if rendering is not None:
        language: str = rendering["locale"]
        return language
    quart = sys.modules.get("quart")
    if quart is None:
        return DEFAULT_LANGUAGE
    return getattr(quart.g, "locale", DEFAULT_LANGUAGE) or DEFAULT_LANGUAGE


def ngettext(singular: str, plural: str, n: int, **values: Any) -> str:
    text = translations(current_language()).ngettext(singular, plural, n)
    values = {"num": n, **values}
    return elide(text, values) % values


def money(amount_minor: int, currency: str, language: str | None = None) -> str:
    """`1999, "EUR"` → "€19.99" in English, "19,99 €" in French (Babel's formats)."""
    return _money_format(language or current_language(), currency.upper())(amount_minor)


@functools.cache
def _money_format(language: str, currency: str) -> Callable[[int], str]:
    """A formatter for one language and currency that writes what Babel writes, at a tenth of
    its cost (a page of orders formats dozens of amounts). Babel's own output for a probe
    amount gives the symbol's place and the separators; negative amounts go to Babel."""
    locale = _locale(language)
    digits = get_currency_precision(currency)

    def babel(amount_minor: int) -> str:
        return format_currency(amount_minor / 10**digits, currency, locale=locale)

    probe = babel(1234567 * 10**digits + (10**digits - 1 if digits else 0))
    found = re.fullmatch(r"(\D*)1(\D+)234(?:\2)567(?:(\D+)(9+))?(\D*)", probe)
    if found is None or bool(digits) != bool(found.group(3)):
        return babel
    prefix, group, decimal, _, suffix = found.groups()

    def fast(amount_minor: int) -> str:
        if amount_minor < 0:
            return babel(amount_minor)
        whole, fraction = divmod(amount_minor, 10**digits)
        text = f"{whole:,}".replace(",", group)
        if digits:
            text += f"{decimal}{fraction:0{digits}d}"
        return f"{prefix}{text}{suffix}"

    samples = (0, 7, 1234 * 10**digits + 5, 98765432 * 10**digits)
    return fast if all(fast(amount) == babel(amount) for amount in samples) else babel


def rate(basis_points: int, language: str | None = None) -> str:
    """`2000` → "20%" in English, "20 %" in French; `550` → "5.5%"."""
    return format_percent(
        basis_points / 10_000,
        locale=_locale(language or current_language()),
        decimal_quantization=False,
    )


def page_value(name: str) -> Any:
    """`g.<name>` of the page being made (its language, its store's clock), or None outside
    one. Before something imports Quart no app context can exist, so the command line formats
    without loading it."""
    rendering = _RENDERING.get()
    if rendering is not None and name in rendering:
        return rendering[name]
    quart = sys.modules.get("quart")
    if quart is None or not quart.has_app_context():
        return None
    return getattr(quart.g, name, None)


def current_zone() -> str:
    """The time zone of the request's store (set by the site hook); UTC elsewhere."""
    return page_value("time_zone") or zones.UTC_ZONE


# The one style of each (CLDR patterns; the month's name is the language's own).
DATE_FORMAT = "d MMM y"  # 2 Dec 2026 · 2 déc. 2026
TIME_FORMAT = "HH:mm"  # 14:30
DATETIME_FORMAT = f"{DATE_FORMAT}, {TIME_FORMAT}"  # 2 Dec 2026, 14:30 · 2 déc. 2026, 14:30


def date(value: datetime, language: str | None = None, zone: str | None = None) -> str:
    """The day `value` falls on in `zone` (by default the request's store's)."""
    day = zones.local(value, zone or current_zone()).date()
    return _date(day, language or current_language())


@functools.lru_cache(maxsize=8192)
def _date(day: date_, language: str) -> str:
    """Pages show the same few hundred days over and over: each is formatted once."""
    return format_date(day, format=DATE_FORMAT, locale=_locale(language))


def datetime_(value: datetime, language: str | None = None, zone: str | None = None) -> str:
    """The day and the time of `value` on the clock of `zone` (by default the store's)."""
    return format_datetime(
        value,
        format=DATETIME_FORMAT,
        tzinfo=zones.zone(zone or current_zone()),
        locale=_locale(language or current_language()),
    )


def link_expiry(expires_at: datetime, language: str, zone: str) -> str:
    """When an emailed link stops working, as the email says it: the date and time on the
    clock of `zone` (the store's), which it names, as the reader may live elsewhere
    ("1 Jan 2027, 00:45 Central European Standard Time")."""
    return format_datetime(
        expires_at, format=f"{DATETIME_FORMAT} zzzz", tzinfo=zones.zone(zone), locale=language
    )


@functools.cache
def _locale(language: str) -> Locale:
    return Locale.parse(language)


def _template_gettext(message: str, **values: Any) -> Markup:
    """`_()` in templates, as Jinja's new-style gettext behaves under autoescape (the
    translation is markup, the values are escaped), with the translation kept once per
    language: pages call it dozens of times."""
    text = _markup(current_language(), message)
    if not values:
        return text
    if name_slots(text):
        text = Markup(elide(str(text), values))  # noqa: S704 - our own catalog
    return text % values


@functools.cache
def _markup(language: str, message: str) -> Markup:
    return Markup(translations(language).gettext(message))  # noqa: S704 - our own catalog


def breakable(address: str) -> Markup:
    """An email address or hostname, escaped, that a narrow screen wraps after its `@` and
    before its dots rather than in the middle of a word (the `breakable` filter)."""
    text = str(escape(address))
    return Markup(text.replace("@", "@<wbr>").replace(".", "<wbr>."))  # noqa: S704 - escaped


def install_gettext(environment: Environment, language: str) -> None:
    """`_()`, `gettext` and `ngettext` for a Jinja environment outside a request (emails,
    invoice PDFs), in `language`: as Jinja's new-style gettext behaves (under autoescape the
    translation is markup and the values are escaped), with French elision before names."""
    from jinja2 import pass_context  # here: the caller has Jinja loaded; importers need not

    catalog = translations(language)

    def finish(context: Context, text: str, values: dict[str, Any]) -> str:
        text = elide(text, values)
        return (Markup(text) if context.eval_ctx.autoescape else text) % values  # noqa: S704

    @pass_context
    def gettext(context: Context, message: str, **values: Any) -> str:
        return finish(context, catalog.gettext(message), values)

    @pass_context
    def ngettext(context: Context, singular: str, plural: str, num: int, **values: Any) -> str:
        values.setdefault("num", num)
        return finish(context, catalog.ngettext(singular, plural, num), values)

    environment.globals.update(gettext=gettext, _=gettext, ngettext=ngettext)


def install_i18n(app: Quart) -> None:
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        _template_gettext, ngettext, newstyle=True
    )
    # Jinja wraps gettext to escape and format; ours does both itself, so it goes in bare.
    app.jinja_env.globals.update(gettext=_template_gettext, _=_template_gettext)
    app.jinja_env.filters.update(
        money=money, rate=rate, date=date, datetime=datetime_, breakable=breakable
    )
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, current_language=current_language)
