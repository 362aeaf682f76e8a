"""Words for people, written in Python and shown in the reader's language.

Services raise errors and views set notices before anything is rendered, sometimes outside a
request (the CLI). `_l("Enter your email.")` keeps the English message id and its values, and
translates only when it is turned into text: in a page, into the request's language (the
buyer's choice or the store's); anywhere else, English. `make messages` extracts `_l` calls,
and `test_i18n` fails on any without French.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape


class Text:
    __slots__ = ("msgid", "values")

    def __init__(self, msgid: str, values: dict[str, Any]) -> None:
        self.msgid = msgid
        self.values = values

    def in_language(self, language: str) -> str:
        from payfacile.platform.elision import elide
        from payfacile.platform.i18n import translations

        text = translations(language).gettext(self.msgid)
        if not self.values:
            return text
        values = {k: str(v) for k, v in self.values.items()}
        return elide(text, values) % values

    def __str__(self) -> str:
        from payfacile.platform.i18n import page_value

        return self.in_language(page_value("locale") or "en")

    def __html__(self) -> Markup:
        return escape(str(self))

    def __eq__(self, other: object) -> bool:
        """Equal to the same message with the same values (compare `str()` with a string)."""
        if not isinstance(other, Text):
            return NotImplemented
        return (self.msgid, self.values) == (other.msgid, other.values)

    def __hash__(self) -> int:
        return hash(self.msgid)

    def __repr__(self) -> str:
        return f"_l({self.msgid!r})"


def _l(msgid: str, **values: Any) -> Text:
    """A message to translate when shown; `%(name)s` placeholders take `values`."""
    return Text(msgid, values)


Message = str | Text
