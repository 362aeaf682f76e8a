"""A store's custom domains in its dashboard, `/dashboard/<slug>/domains` (the owner's
alone), and the question a TLS terminator in front of the platform asks before it obtains a
certificate on demand: `GET /.well-known/payfacile/tls-allowed?domain=HOST`."""

from __future__ import annotations

from quart import Blueprint, request
from quart.typing import ResponseReturnValue

from payfacile.platform.errors import BadHost, NoStoreHere
from payfacile.tenants.hosts import guarded_host, normalise_host, resolver
from payfacile.tenants.merchant_views import store_dashboard

TLS_ALLOWED_PATH = "/.well-known/payfacile/tls-allowed"

blueprint = store_dashboard("dashboard_domains", __name__)
tls_blueprint = Blueprint("tls_allowed", __name__)  # a hostless path (tenants/part.py)


@tls_blueprint.get(TLS_ALLOWED_PATH)
async def tls_allowed() -> ResponseReturnValue:
    """200 only for a custom domain that is verified and serving, else 404: answered from
    the host cache, with no DNS query (Caddy's `on_demand_tls` `ask`).

    Asked on the central host, or by address (`http://127.0.0.1:8000/…`, as a terminator
    beside the platform asks); a store's host answers 404, as for any page it does not have."""
    headers = {"Cache-Control": "no-store", "Content-Type": "text/plain; charset=utf-8"}
    if not _asked_centrally():
        return "not found\n", 404, headers
    try:
        site = await resolver().resolve_normalised(normalise_host(request.args.get("domain")))
    except (BadHost, NoStoreHere):
        return "not allowed\n", 404, headers
    if not site.custom_domain:
        return "not allowed\n", 404, headers
    return "allowed\n", 200, headers


def _asked_centrally() -> bool:
    try:
        host = guarded_host(request.scope)
    except BadHost:
        return True  # an IP address (stores are never served on one)
    return host == resolver().settings.platform_domain
