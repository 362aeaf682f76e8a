"""Time zones: a store's dates are shown in its zone, and a zone comes from a country.

Names are IANA names (`Europe/Paris`), checked against `zoneinfo.available_timezones()`.
A country's zone comes from CLDR's territory data (Babel); where a country has several, the
one most of its people live in is chosen here, so that a US store starts on New York time.
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import datetime

from babel.core import get_global

UTC_ZONE = "UTC"
# Countries with several zones, and the one that fits most of their people.
MAIN_ZONES = {
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
    "CA": "America/Toronto",
    "CD": "Africa/Kinshasa",
    "CL": "America/Santiago",
    "CY": "Asia/Nicosia",
    "EC": "America/Guayaquil",
    "ES": "Europe/Madrid",
    "FM": "Pacific/Pohnpei",
    "GL": "America/Nuuk",
    "ID": "Asia/Jakarta",
    "KI": "Pacific/Tarawa",
    "KZ": "Asia/Almaty",
    "MH": "Pacific/Majuro",
    "MN": "Asia/Ulaanbaatar",
    "MX": "America/Mexico_City",
    "MY": "Asia/Kuala_Lumpur",
    "PF": "Pacific/Tahiti",
    "PS": "Asia/Hebron",
    "PT": "Europe/Lisbon",
    "RU": "Europe/Moscow",
    "UM": "Pacific/Midway",
    "US": "America/New_York",
    "UZ": "Asia/Tashkent",
}


@functools.cache
def _available() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@functools.cache
def zone_for_country(country: str) -> str:
    """The zone a store in `country` (ISO 3166 alpha-2) starts with; UTC when unknown."""
    code = (country or "").upper()
    zones = [MAIN_ZONES[code]] if code in MAIN_ZONES else get_global("territory_zones").get(code)
    found = [zone for zone in zones or () if zone in _available()]
    return found[0] if found else UTC_ZONE


def is_zone(name: str) -> bool:
    """Whether `name` is a time zone this machine knows (`Europe/Paris`)."""
    return name in _available()


@functools.lru_cache(maxsize=64)
def zone(name: str) -> zoneinfo.ZoneInfo:
    """The zone called `name`; UTC for a name this machine does not know (a stored value
    is checked when it is saved, but a machine's zone data may lag another's)."""
    try:
        return zoneinfo.ZoneInfo(name or UTC_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(UTC_ZONE)


def local(value: datetime, name: str) -> datetime:
    """`value` as the clock on the wall reads it in the zone `name` (naive values are UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(UTC_ZONE))
    return value.astimezone(zone(name))
