"""The store dashboard's team page, `/dashboard/<slug>/team`: everyone on the team sees who
is on it; only the owner invites, resends and removes (`owner_only`, on the server)."""

from __future__ import annotations

from quart import g, redirect, request
from quart.typing import ResponseReturnValue

from payfacile.platform.errors import Conflict, InvalidInput
from payfacile.platform.rendering import render_template
from payfacile.platform.services import services
from payfacile.platform.text import Message, _l
from payfacile.tenants import team
from payfacile.tenants.merchant_views import owner_only, store_dashboard
from payfacile.tenants.models import MerchantUser

blueprint = store_dashboard("dashboard_team", __name__)

NOTICES = {
    "invited": _l("The invitation is on its way. Its link works once, for 7 days."),
    "added": _l("They are on the team. An email tells them so, with the sign-in link."),
    "resent": _l("A new invitation is on its way. The earlier link no longer works."),
    "removed": _l("They are no longer on the team."),
}


@blueprint.get("/team")
async def team_page() -> ResponseReturnValue:
    return await _render()


@blueprint.post("/team/invite")
@owner_only
async def invite() -> ResponseReturnValue:
    form = await request.form
    values = {"email": form.get("email", ""), "name": form.get("name", "")}
    found = services()
    try:
        created = await team.invite(
            found.settings, found.limiter, g.member.store, await _me(), **values
        )
    except (InvalidInput, Conflict) as error:
        errors = {error.field or "email": error.message}
        return await _render(errors=errors, values=values, status=error.status)
    return _back("invited" if created else "added")


@blueprint.post("/team/<int:membership_id>/resend")
@owner_only
async def resend(membership_id: int) -> ResponseReturnValue:
    found = services()
    await team.resend(found.settings, found.limiter, g.member.store, await _me(), membership_id)
    return _back("resent")


@blueprint.post("/team/<int:membership_id>/remove")
@owner_only
async def remove(membership_id: int) -> ResponseReturnValue:
    await team.remove(g.member.store, membership_id)
    return _back("removed")


async def _me() -> MerchantUser:
    return await MerchantUser.get(id=g.member.merchant_id)


def _back(done: str) -> ResponseReturnValue:
    return redirect(f"/dashboard/{g.member.store.slug}/team?done={done}", 303)


async def _render(
    *,
    errors: dict[str, Message] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    done = request.args.get("done", "")
    body = await render_template(
        "dashboard/team.html",
        member=g.member,
        team=await team.team_of(g.member.store),
        errors=errors or {},
        values=values or {},
        notice=NOTICES.get(done) if not errors else None,
    )
    return body, status
