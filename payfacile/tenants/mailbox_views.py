"""/dev/mailbox on the central host: the emails written to the Maildir, outside production.

In production (or on a store's host) every address here is a 404.
"""

from __future__ import annotations

from quart import Blueprint
from quart.typing import ResponseReturnValue

from payfacile.platform.errors import NotFound
from payfacile.platform.rendering import render_template
from payfacile.platform.services import services
from payfacile.platform.text import _l
from payfacile.tenants import mailbox
from payfacile.tenants.site import require_central

PATH = "/dev/mailbox"
blueprint = Blueprint("mailbox", __name__, url_prefix=PATH)


@blueprint.before_request
async def development_only() -> None:
    if not mailbox.available(services().settings):
        raise NotFound(_l("There is nothing at this address."))
    await require_central()


@blueprint.get("/")
async def letters() -> ResponseReturnValue:
    settings = services().settings
    return await render_template(
        "mailbox/letters.html",
        letters=await mailbox.letters(settings),
        smtp=bool(settings.smtp_url),
        limit=mailbox.MAX_LISTED,
    )


@blueprint.get("/<key>")
async def letter(key: str) -> ResponseReturnValue:
    found = await mailbox.letter(services().settings, key)
    return await render_template(
        "mailbox/letter.html", letter=found, pieces=mailbox.with_links(found.text)
    )
