"""French elision before a name: "l’équipe de %(store)s" reads "l’équipe d’Atelier Lumière"
for a store whose name starts with a vowel or a mute h, and "de Boutique Nord" otherwise.

A translation cannot know the name it will hold, so the elision happens as the values go
in: `elide` rewrites "de %(name)s" (and "que %(name)s") to "d’%(name)s" where the value of a
name placeholder (`NAMES`: stores, products, people) calls for it. Every way a message is
formatted — `_l` texts, the templates' `_()` and `ngettext`, emails and invoice PDFs — goes
through it. Other placeholders (amounts, dates, hostnames, email addresses) are left as the
translation writes them.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

# Placeholders whose values are names a French sentence elides before.
NAMES = frozenset({"store", "store_name", "product", "buyer", "customer", "inviter"})
_BEFORE_NAME = re.compile(r"\b([Dd]|[Qq]u)e %\((\w+)\)s")
VOWELS = frozenset("aeiouœæ")
# Words starting with an aspirated h, before which French does not elide ("de Hachette");
# before any other h it does ("d’Hermès"). The usual ones in shop names.
ASPIRATED_H = (
    "hach", "haie", "haine", "hall", "halte", "hamac", "hameau", "hamster", "hanche",
    "handicap", "hangar", "hant", "hardi", "hareng", "haricot", "harpe", "hasard", "hâte",
    "haut", "havre", "hérisson", "héros", "hibou", "hiérarch", "hock", "hollande", "homard",
    "hongr", "honte", "hoquet", "hors", "hotte", "houblon", "houx", "hublot", "huit", "hurl",
    "hutte",
)  # fmt: skip


def starts_with_a_vowel_sound(name: str) -> bool:
    """Whether French elides before `name`: a vowel (accented or not), or a mute h."""
    word = str(name).lstrip(" \"'«“‘(\u00a0").lower()
    if not word:
        return False
    first = unicodedata.normalize("NFD", word[0])[0]
    if first in VOWELS:
        return True
    return first == "h" and not word.startswith(ASPIRATED_H)


@functools.cache
def name_slots(translation: str) -> tuple[tuple[str, str], ...]:
    """The (word, placeholder) pairs of `translation` where "de"/"que" comes before a name."""
    return tuple(
        (found.group(1), found.group(2))
        for found in _BEFORE_NAME.finditer(translation)
        if found.group(2) in NAMES
    )


def elide(translation: str, values: Mapping[str, Any]) -> str:
    """`translation` ready for `% values`: "de %(store)s" becomes "d’%(store)s" where the
    store's name calls for it. Cheap for the many messages with no such place."""
    slots = name_slots(translation)
    if not slots:
        return translation
    for word, key in slots:
        if key in values and starts_with_a_vowel_sound(values[key]):
            # `word` and `key` are letters: the replacement holds no escape or group.
            translation = re.sub(rf"\b{word}e %\({key}\)s", f"{word}’%({key})s", translation)
    return translation
