"""Where each custom domain's certificate stands, for `payfacile certs list`, the merchant's
Domains page and the platform admin: its state, expiry, next renewal or retry, and the
last problem in words."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from limits import parse

from payfacile.platform.config import Settings
from payfacile.platform.i18n import date, datetime_
from payfacile.platform.ratelimit import RateLimiter
from payfacile.platform.text import Text, _l
from payfacile.tenants.domain_views import Detail
from payfacile.tenants.models import WITH_CERTIFICATE, Domain, DomainStatus, Store
from payfacile.tenants.scope import across_stores, scoped
from payfacile.tls import issuance
from payfacile.tls.models import AcmeOrder, Certificate


@dataclass(frozen=True)
class CertificateState:
    domain_id: int
    hostname: str
    store_slug: str
    status: DomainStatus
    not_after: dt.datetime | None  # the newest certificate's expiry; None: none yet
    renew_at: dt.datetime | None  # when it is renewed, if it says
    next_order_at: dt.datetime | None  # the renewal, or the retry after a failure
    problem: str  # an `issuance.PROBLEMS` code, empty when the last order went well
    error: str
    failures: int


async def states(store: Store | None = None) -> list[CertificateState]:
    """Every custom domain's certificate state (one store's with `store`), by hostname."""
    if store is None:
        domains = across_stores(Domain, reason="platform admin")
        certificates = across_stores(Certificate, reason="platform admin")
        orders = across_stores(AcmeOrder, reason="platform admin")
    else:
        domains = scoped(store).query(Domain)
        certificates = scoped(store).query(Certificate)
        orders = scoped(store).query(AcmeOrder)
    # Dates only: chains and sealed keys stay in the database.
    dated = await certificates.order_by("id").only("id", "domain_id", "not_after", "renew_at")
    newest = {certificate.domain_id: certificate for certificate in dated}
    work = {order.domain_id: order for order in await orders}
    found = []
    for domain in sorted(await domains.select_related("store"), key=lambda d: d.hostname):
        certificate, order = newest.get(domain.id), work.get(domain.id)
        found.append(
            CertificateState(
                domain_id=domain.id,
                hostname=domain.hostname,
                store_slug=domain.store.slug,
                status=domain.status,
                not_after=certificate.not_after if certificate else None,
                renew_at=certificate.renew_at if certificate else None,
                next_order_at=order.next_attempt_at if order else None,
                problem=order.problem if order else "",
                error=order.error if order else "",
                failures=order.failures if order else 0,
            )
        )
    return found


PROBLEM_WORDS = {
    "preflight": _l(
        "We could not reach this domain over HTTP to prove it is served here, as the"
        " certificate authority will: check that its records are as shown above, and that"
        " nothing else (a CDN, a proxy, another host) answers for it."
    ),
    "dns": _l(
        "The certificate authority could not find this domain in DNS. Check its records"
        " above: they may not be visible everywhere yet."
    ),
    "unauthorized": _l(
        "The certificate authority reached a server that is not ours when it checked this"
        " domain. Check that its records point here only (no other A or AAAA record)."
    ),
    "connection": _l(
        "The certificate authority could not connect to this domain. Check its records"
        " above, and that no firewall blocks port 80."
    ),
    "rate_limited": _l("The certificate authority asked us to wait before we ask again."),
    "budget": _l(
        "We pause requests to the certificate authority for this domain a while, to stay"
        " well within its limits."
    ),
}
PROBLEM_OTHERWISE = _l("The certificate authority could not issue it this time.")


def problem_words(problem: str, settings: Settings) -> Text:
    """A stored problem code (`issuance.PROBLEMS`) as the merchant reads it."""
    if problem == "caa":
        return _l(
            "A CAA record on your domain does not allow our certificate authority. Add a CAA"
            " record allowing %(issuer)s, or remove the CAA records.",
            issuer=", ".join(settings.acme_caa_identities),
        )
    return PROBLEM_WORDS.get(problem, PROBLEM_OTHERWISE)


async def details(settings: Settings, store: Store) -> dict[int, Detail]:
    """What the merchant's Domains page says of each domain's certificate."""
    now = dt.datetime.now(dt.UTC)
    found = {}
    for state in await states(store):
        lines: list[Text] = []
        if state.not_after is not None and state.not_after > now:
            lines.append(
                _l(
                    "Valid until %(date)s. It is renewed automatically, from %(renewal)s.",
                    date=date(state.not_after),
                    renewal=date(state.renew_at or state.not_after),
                )
                if state.status in WITH_CERTIFICATE
                else _l("Valid until %(date)s.", date=date(state.not_after))
            )
        elif state.status in {DomainStatus.VERIFIED, DomainStatus.ISSUING}:
            if not state.problem:  # else the problem says where it is
                lines.append(_l("Being obtained: this usually takes under a minute."))
        else:
            continue  # nothing to say before the domain is verified
        problem = None
        if state.problem:
            said = problem_words(state.problem, settings)
            when = state.next_order_at
            problem = (
                _l("%(problem)s We try again on %(when)s.", problem=said, when=datetime_(when))
                if when is not None
                else said
            )
        found[state.domain_id] = Detail(
            heading=_l("HTTPS certificate"),
            lines=lines,
            problem=problem,
            technical=state.error if state.problem else "",
        )
    return found


@dataclass(frozen=True)
class Budget:
    """One of the platform's budgets under the CA's limits, and how much of it is used."""

    name: str  # `issuance.BUDGETS` key
    subject: str  # what it counts for: the account, a registered domain, a hostname
    used: int
    limit: int
    ca_limit: int


async def budgets(limiter: RateLimiter, settings: Settings, hostnames: list[str]) -> list[Budget]:
    """The budgets in use now: the account's orders, the certificates of each registered
    domain with any, the failed validations of each hostname with any."""
    found = [await _budget(limiter, "orders", settings.acme_directory_url)]
    for registered in sorted({issuance.registered(name) for name in hostnames}):
        found.append(await _budget(limiter, "certificates", registered))
    for hostname in sorted(hostnames):
        found.append(await _budget(limiter, "failed validations", hostname))
    return [budget for budget in found if budget.name == "orders" or budget.used]


async def _budget(limiter: RateLimiter, name: str, subject: str) -> Budget:
    rate, counted_as, ca_limit = issuance.BUDGETS[name]
    used = await limiter.used(rate, counted_as, subject)
    return Budget(name, subject, used, parse(rate).amount, ca_limit)
