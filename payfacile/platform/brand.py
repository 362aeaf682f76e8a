"""Whose name a page or an email carries: the platform's own, or a store's.

The kernel takes a brand as plain values, never a store: the tenants part turns a store into
a `Brand` (`payfacile.tenants.branding.brand_of`) and puts it on the request as `g.brand`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_COLOR = "#4f46e5"
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def safe_color(color: str | None) -> str:
    """`color` if it is a #rrggbb value (it goes into a style sheet), else the default."""
    return color if color and COLOR.match(color) else DEFAULT_COLOR


@dataclass(frozen=True, slots=True)
class Brand:
    name: str = "PayFacile"
    color: str = DEFAULT_COLOR
    logo_url: str = ""  # empty: no logo, pages show the name's first letter
    support_email: str = ""
    language: str = "en"
    hosted: bool = False  # a merchant's brand the platform sends and serves on behalf of


PLATFORM = Brand()


def current_brand() -> Brand:
    """The brand of this request's host; the platform's own before (or without) one."""
    from quart import g  # here, not above: the command line sends emails without Quart

    found: Brand | None = g.get("brand")
    return found if found is not None else PLATFORM
