"""Countries as forms offer them: ISO 3166 alpha-2 codes with their names in a language."""

from __future__ import annotations

import functools
import unicodedata

from babel import Locale

NOT_COUNTRIES = frozenset({"EU", "EZ", "UN", "QO", "ZZ"})  # regions Babel lists with countries


@functools.cache
def countries(language: str) -> list[tuple[str, str]]:
    """(code, name) of every country, sorted by name in `language`."""
    found = [
        (code, name)
        for code, name in Locale.parse(language).territories.items()
        if isinstance(code, str) and len(code) == 2 and code.isalpha() and code not in NOT_COUNTRIES
    ]
    return sorted(found, key=lambda item: collation_key(item[1]))


def collation_key(name: str) -> tuple[str, str]:
    """Sort as a French or English reader expects: letters first, accents and case only to
    break ties ("Égypte" between "Danemark" and "Espagne", not after "Zimbabwe")."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    letters = "".join(char for char in decomposed if not unicodedata.combining(char))
    return letters.replace("œ", "oe").replace("æ", "ae"), name


@functools.cache
def country_codes() -> frozenset[str]:
    return frozenset(code for code, _ in countries("en"))
