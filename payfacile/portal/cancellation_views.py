"""The store dashboard's cancellation requests, under `/dashboard/<slug>/cancellation-requests`:
the list (pending first, oldest first) and one request's page, where owner and staff answer
it: cancel as asked (at the period's end or now) or reply. The buyer is emailed either way."""

from __future__ import annotations

from quart import g, redirect
from quart.typing import ResponseReturnValue

from payfacile.platform.errors import InvalidInput
from payfacile.platform.rendering import render_template
from payfacile.platform.services import services
from payfacile.platform.text import Message, _l
from payfacile.portal import cancellation_requests
from payfacile.portal.shell import notice, read_form
from payfacile.tenants.merchant_views import store_dashboard

blueprint = store_dashboard("dashboard_cancellations", __name__)

NOTICES = {
    "canceled": _l("The subscription is canceled and the customer is told by email."),
    "replied": _l("Your reply is on its way to the customer."),
}


@blueprint.get("/cancellation-requests")
async def request_list() -> ResponseReturnValue:
    listing = await cancellation_requests.request_list(g.member.store)
    return await render_template(
        "dashboard/cancellation_requests.html",
        member=g.member,
        listing=listing,
        waiting_days=cancellation_requests.waiting_days,
        is_overdue=cancellation_requests.is_overdue,
    )


@blueprint.get("/cancellation-requests/<int:request_id>")
async def request_page(request_id: int) -> ResponseReturnValue:
    return await _request_page(request_id)


@blueprint.post("/cancellation-requests/<int:request_id>/cancel")
async def cancel_as_asked(request_id: int) -> ResponseReturnValue:
    """Cancel as asked; `when` is `period_end` or `now`."""
    form = await read_form()
    when = form.get("when", "")
    if when not in {"period_end", "now"}:
        raise InvalidInput(_l("Choose when the subscription ends."), field="when")
    await cancellation_requests.cancel_as_asked(
        services().settings,
        g.member.store,
        request_id,
        merchant_id=g.member.merchant_id,
        immediately=when == "now",
    )
    return _back_to(request_id, "canceled")


@blueprint.post("/cancellation-requests/<int:request_id>/reply")
async def reply(request_id: int) -> ResponseReturnValue:
    form = await read_form()
    try:
        await cancellation_requests.reply(
            services().settings,
            g.member.store,
            request_id,
            merchant_id=g.member.merchant_id,
            message=form.get("message", ""),
        )
    except InvalidInput as error:
        return await _request_page(request_id, errors={"message": error.message}, status=422)
    return _back_to(request_id, "replied")


async def _request_page(
    request_id: int, *, errors: dict[str, Message] | None = None, status: int = 200
) -> ResponseReturnValue:
    found = await cancellation_requests.request_of(g.member.store, request_id)
    page = await render_template(
        "dashboard/cancellation_request.html",
        member=g.member,
        found=found,
        errors=errors or {},
        notice=notice(NOTICES),
        waiting_days=cancellation_requests.waiting_days,
        is_overdue=cancellation_requests.is_overdue,
    )
    return page, status


def _back_to(request_id: int, done: str) -> ResponseReturnValue:
    slug = g.member.store.slug
    return redirect(f"/dashboard/{slug}/cancellation-requests/{request_id}?done={done}", 303)
