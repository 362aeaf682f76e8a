"""The kernel's error pages take the layout a part gives (the registry's `error_layouts`),
and stay an error page, in the plain layout, when that part fails."""

from __future__ import annotations

import logging

import pytest
from quart import Quart

from payfacile.platform.registry import ErrorLayout, PageLayout
from payfacile.platform.web import ERROR_LAYOUTS

CENTRAL = {"Host": "payfacile.localhost"}


async def failing() -> PageLayout | None:
    raise RuntimeError("the database is down")


async def broken() -> PageLayout | None:
    return "nowhere/_layout.html", {}  # a layout that cannot render


@pytest.mark.parametrize(
    ("layout", "logged"),
    [
        (failing, "a part failed to give an error page its layout"),
        (broken, "the nowhere/_layout.html layout failed on an error page"),
    ],
)
async def test_an_error_page_stays_one_when_a_parts_layout_fails(
    app: Quart, caplog: pytest.LogCaptureFixture, layout: ErrorLayout, logged: str
) -> None:
    app.extensions[ERROR_LAYOUTS] = (layout,)
    with caplog.at_level(logging.ERROR, logger="payfacile.platform.web"):
        response = await app.test_client().get("/nope", headers=CENTRAL)
    assert response.status_code == 404
    assert "Page not found" in await response.get_data(as_text=True)
    assert logged in caplog.text
