"""A store's custom domains in its dashboard, `/dashboard/<slug>/domains` (the owner's
alone), and the question a TLS terminator in front of the platform asks before it obtains a
certificate on demand: `GET /.well-known/payfacile/tls-allowed?domain=HOST`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from quart import Blueprint, current_app, g, redirect, request
from quart.typing import ResponseReturnValue

from payfacile.platform.errors import BadHost, Conflict, InvalidInput, NoStoreHere, RateLimited
from payfacile.platform.i18n import date
from payfacile.platform.rendering import render_template
from payfacile.platform.services import services
from payfacile.platform.text import Message, Text, _l
from payfacile.tenants import dns_check, domains
from payfacile.tenants.hosts import guarded_host, normalise_host, resolver
from payfacile.tenants.merchant_views import owner_only, store_dashboard
from payfacile.tenants.models import Domain, DomainStatus, Store

TLS_ALLOWED_PATH = "/.well-known/payfacile/tls-allowed"

blueprint = store_dashboard("dashboard_domains", __name__)
tls_blueprint = Blueprint("tls_allowed", __name__)  # a hostless path (tenants/part.py)

NOTICES = {
    "added": _l("Domain added. Create the records below at your DNS provider, then verify."),
    "took_over": _l(
        "Domain added: DNS holds your store's token, so another store's unproven claim on it"
        " was withdrawn."
    ),
    "verified": _l("Verified: your customer portal now answers on this domain."),
    "waiting": _l("Not verified yet: see below what DNS holds for each record."),
    "primary": _l("Primary domain set. Emails link to it once it serves."),
    "removed": _l("Domain removed: it is no longer served."),
}
NEXT_STEPS = {
    DomainStatus.PENDING_DNS: _l(
        "We check its DNS every minute at first, then less often, and stop after 7 days."
        " Records can take a few minutes to a few hours to be seen everywhere: choose Verify"
        " now once they are set."
    ),
    DomainStatus.VERIFIED: _l(
        "Your customer portal answers on this domain, over HTTP until its HTTPS certificate"
        " is issued. Keep both records in place."
    ),
    DomainStatus.ISSUING: _l("Its HTTPS certificate is being obtained."),
    DomainStatus.ACTIVE: _l("Served over HTTPS. Keep both records in place."),
    DomainStatus.RENEWING: _l("Served over HTTPS; its certificate is being renewed."),
    DomainStatus.DNS_MOVED: _l(
        "Its records no longer point here. Put them back as shown below: if they stay away"
        " for 7 days, the domain is removed from your store."
    ),
    DomainStatus.FAILED: _l(
        "We checked for 7 days without finding the records it needs, and stopped. Set them,"
        " then choose Verify now to start again."
    ),
}
BADGES = {
    DomainStatus.PENDING_DNS: "pending",
    DomainStatus.VERIFIED: "active",
    DomainStatus.ISSUING: "active",
    DomainStatus.ACTIVE: "active",
    DomainStatus.RENEWING: "active",
    DomainStatus.DNS_MOVED: "failed",
    DomainStatus.FAILED: "failed",
}


@dataclass(frozen=True)
class Detail:
    """What another part says of a domain on its page, under its own heading (the tls part:
    the HTTPS certificate). `problem` is shown as an error to fix or wait out."""

    heading: Message
    lines: list[Text] = field(default_factory=list)
    problem: Text | None = None
    technical: str = ""  # the detail as a machine gave it, for the curious and for support


# Where a part puts its `DetailsOf` in `app.extensions`: the page asks it for each domain.
DETAILS_EXTENSION = "tenants.domain_details"
DetailsOf = Callable[[Store], Awaitable[dict[int, Detail]]]


@dataclass(frozen=True)
class Row:
    """One record to create, with what the last check found of it."""

    record: dns_check.Expected
    state: str  # found | missing | wrong | "" (not checked yet)
    said: Text | None


@dataclass(frozen=True)
class Shown:
    """A domain as its page shows it."""

    domain: Domain
    name: str  # as people read it
    label: Message
    badge: str
    next_step: Message
    apex: bool
    rows: list[Row]
    problems: list[Text]
    lookup_error: Text | None
    detail: Detail | None = None


def shown(domain: Domain, detail: Detail | None = None) -> Shown:
    settings = services().settings
    report = dns_check.Report.from_json(domain.report)
    findings = {} if report is None else {(f.type, f.name): f for f in report.findings}
    rows = []
    for record in dns_check.expected_records(domain.hostname, domain.verification_token, settings):
        found = findings.get((record.type, record.name))
        if found is None and record.purpose == "routing" and report is not None:
            found = next((f for f in report.findings if f.purpose == "routing"), None)
        rows.append(
            Row(
                record=record,
                state=found.state if found else "",
                said=domains.describe_finding(found) if found else None,
            )
        )
    return Shown(
        domain=domain,
        name=domains.display_name(domain.hostname),
        label=domains.STATUS_LABELS[domain.status],
        badge=BADGES.get(domain.status, "default"),
        next_step=_next_step(domain),
        apex=dns_check.is_apex(domain.hostname),
        rows=rows,
        problems=[domains.describe_problem(p, settings) for p in report.problems] if report else [],
        lookup_error=domains.describe_lookup_error() if report and report.lookup_error else None,
        detail=detail,
    )


def _next_step(domain: Domain) -> Message:
    if domain.status == DomainStatus.DNS_MOVED and domain.moved_at is not None:
        return _l(
            "Its records no longer point here. Put them back as shown below, or the domain is"
            " removed from your store on %(date)s.",
            date=date(domain.moved_at + domains.MOVED_FOR),
        )
    return NEXT_STEPS.get(domain.status, "")


@blueprint.get("/domains")
@owner_only
async def domains_page() -> ResponseReturnValue:
    return await _render()


@blueprint.post("/domains")
@owner_only
async def add() -> ResponseReturnValue:
    hostname = (await request.form).get("hostname", "")[:300]
    found = services()
    try:
        added = await domains.add(
            found.settings, resolver(), found.limiter, g.member.store, hostname
        )
    except (InvalidInput, Conflict, RateLimited) as error:
        return await _render(
            errors={"hostname": error.message}, values={"hostname": hostname}, status=error.status
        )
    return _back("took_over" if added.took_over else "added", added.domain.id)


@blueprint.post("/domains/<int:domain_id>/verify")
@owner_only
async def verify(domain_id: int) -> ResponseReturnValue:
    store = g.member.store
    domain = await domains.domain_of(store, domain_id)
    found = services()
    domain = await domains.check_now(found.settings, resolver(), found.limiter, store, domain)
    return _back("waiting" if domain.status in domains.UNPROVEN else "verified", domain.id)


@blueprint.post("/domains/<int:domain_id>/primary")
@owner_only
async def primary(domain_id: int) -> ResponseReturnValue:
    store = g.member.store
    await domains.make_primary(resolver(), store, await domains.domain_of(store, domain_id))
    return _back("primary", domain_id)


@blueprint.get("/domains/<int:domain_id>/remove")
@owner_only
async def confirm_removal(domain_id: int) -> ResponseReturnValue:
    domain = await domains.domain_of(g.member.store, domain_id)
    return await render_template(
        "dashboard/domain_remove.html", member=g.member, domain=shown(domain)
    )


@blueprint.post("/domains/<int:domain_id>/remove")
@owner_only
async def remove(domain_id: int) -> ResponseReturnValue:
    store = g.member.store
    domain = await domains.domain_of(store, domain_id)
    await domains.remove(services().settings, resolver(), store, domain)
    return _back("removed")


def _back(done: str, domain_id: int | None = None) -> ResponseReturnValue:
    anchor = f"#domain-{domain_id}" if domain_id else ""
    return redirect(f"/dashboard/{g.member.store.slug}/domains?done={done}{anchor}", 303)


async def _render(
    *,
    errors: dict[str, Message] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    store = g.member.store
    details_of: DetailsOf | None = current_app.extensions.get(DETAILS_EXTENSION)
    details = await details_of(store) if details_of is not None else {}
    body = await render_template(
        "dashboard/domains.html",
        member=g.member,
        domains=[
            shown(domain, details.get(domain.id)) for domain in await domains.domains_of(store)
        ],
        errors=errors or {},
        values=values or {},
        notice=NOTICES.get(request.args.get("done", "")) if not errors else None,
        ttl=dns_check.SUGGESTED_TTL_SECONDS,
        cname_target=services().settings.cname_target,
        platform_host=resolver().store_hostname(store.slug),
        max_domains=domains.MAX_DOMAINS,
    )
    return body, status


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
