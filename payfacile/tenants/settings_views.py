"""The store's settings, on the central host under `/dashboard/<slug>/settings`: the owner's
alone (staff get a 403 that changes nothing, on the page and on its forms)."""

from __future__ import annotations

from quart import g, redirect, request
from quart.typing import ResponseReturnValue

from payfacile.platform.countries import countries
from payfacile.platform.errors import FieldErrors
from payfacile.platform.i18n import LANGUAGES, current_language, language_of
from payfacile.platform.rendering import render_template
from payfacile.platform.text import Message, _l
from payfacile.platform.zones import zone_for_country
from payfacile.tenants import legal, store_settings, stores
from payfacile.tenants.hosts import resolver
from payfacile.tenants.merchant_views import owner_only, store_dashboard
from payfacile.tenants.site_views import logo_response

blueprint = store_dashboard("dashboard_settings", __name__)

NOTICES = {
    "saved": _l("Settings saved"),
    "logo_removed": _l("The logo is removed. Invoices issued before keep theirs."),
}
MAX_FIELD = 1000


@blueprint.route("/settings", methods=["GET", "POST"])
@owner_only
async def settings() -> ResponseReturnValue:
    store = g.member.store
    values = store_settings.form_values(store)
    errors: dict[str, Message] = {}
    if request.method == "POST":
        form = {key: value[:MAX_FIELD] for key, value in (await request.form).items()}
        upload = (await request.files).get("logo")
        logo = upload.read(stores.MAX_LOGO_BYTES + 1) if upload else b""
        try:
            await store_settings.save_settings(store, form, logo=logo or None, hosts=resolver())
        except FieldErrors as error:
            errors = error.errors
            values = {name: form.get(name, "") for name in store_settings.FIELDS}
        else:
            return redirect(f"/dashboard/{store.slug}/settings?done=saved", 303)
    language = current_language()
    invoice_language = language_of(values.get("locale") or store.locale)
    body = await render_template(
        "dashboard/settings.html",
        member=g.member,
        values=values,
        errors=errors,
        notice=NOTICES.get(request.args.get("done", ""), ""),
        countries=countries(language),
        languages=list(LANGUAGES.items()),
        currencies=store_settings.currencies(language),
        zone_placeholder=zone_for_country(values.get("country", "")),
        terms=legal.default_terms(invoice_language),
    )
    return body, 422 if errors else 200


@blueprint.get("/settings/logo")
@owner_only
async def logo() -> ResponseReturnValue:
    """The logo as the form shows it (the portal's own is on the store's hosts)."""
    return await logo_response(g.member.store, public=False)


@blueprint.post("/settings/logo/remove")
@owner_only
async def remove_logo() -> ResponseReturnValue:
    store = g.member.store
    await store_settings.remove_logo(store, hosts=resolver())
    return redirect(f"/dashboard/{store.slug}/settings?done=logo_removed", 303)
