"""A store's custom domains: connecting one, its DNS checks and what they change
(docs/architecture.md, "Custom domain lifecycle").

A check (`check_now`, or the recurring `domain_check` job) asks DNS (`dns_check`), stores
what it found, and moves the domain's state with a conditional update on the state it read,
so a check that races a removal or another check changes nothing it did not see. Whatever
starts or stops serving a hostname invalidates the host cache on every instance.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import idna
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from payfacile.platform.config import Settings
from payfacile.platform.errors import Conflict, InvalidInput, NotFound
from payfacile.platform.jobs import JobKind, Runtime
from payfacile.platform.mail import queue_email
from payfacile.platform.ratelimit import RateLimiter
from payfacile.platform.text import Text, _l
from payfacile.platform.urls import central_url
from payfacile.tenants import dns_check
from payfacile.tenants.dns_check import Report
from payfacile.tenants.hosts import HostResolver
from payfacile.tenants.models import SERVING_DOMAIN_STATUSES, Domain, DomainStatus, Store
from payfacile.tenants.scope import across_stores, scoped

log = logging.getLogger(__name__)

MAX_DOMAINS = 20
PENDING_FOR = timedelta(days=7)  # still not verified after this: failed
MOVED_FOR = timedelta(days=7)  # DNS pointing elsewhere this long: removed
FIRST_CHECKS = timedelta(minutes=1)
SLOWEST_CHECKS = timedelta(hours=4)
SERVING_CHECKS = timedelta(hours=1)
MOVED_CHECKS = timedelta(minutes=10)
LOOKUP_RETRY = timedelta(minutes=1)  # after a check that got no definite answer
ADDS = "30/hour"  # per store
CHECKS = "12/10minutes"  # "Verify now", per domain
NOT_PUBLIC = frozenset({"localhost", "local", "invalid", "arpa", "internal", "onion", "home"})
LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
UNPROVEN = frozenset({DomainStatus.PENDING_DNS, DomainStatus.FAILED})


def validate_hostname(raw: str, settings: Settings) -> str:
    """The hostname `raw` names, as lower-case punycode; `InvalidInput` saying what is wrong.

    A pasted address (`https://shop.example.com/`) is taken for its hostname."""
    text = raw.strip().lower()
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text).split("/", 1)[0].rstrip(".")
    if not text:
        raise InvalidInput(_l("Enter a hostname, such as shop.example.com."), field="hostname")
    if "*" in text:
        raise InvalidInput(
            _l("A wildcard cannot be connected: add each hostname on its own."), field="hostname"
        )
    if _is_ip(text):
        raise InvalidInput(
            _l("Connect a hostname, such as shop.example.com, not an IP address."),
            field="hostname",
        )
    if len(text) > 253:
        raise InvalidInput(_l("A hostname has at most 253 characters."), field="hostname")
    host = _punycode(text)
    if len(host) > 253:
        raise InvalidInput(_l("A hostname has at most 253 characters."), field="hostname")
    if "." not in host:
        raise InvalidInput(
            _l("Enter the whole hostname, such as shop.example.com."), field="hostname"
        )
    platform = settings.platform_domain
    if host == platform or host.endswith(f".{platform}"):
        raise InvalidInput(
            _l(
                "%(host)s is the platform's own: your store is already served under it."
                " Connect a domain you own.",
                host=host,
            ),
            field="hostname",
        )
    if host.rsplit(".", 1)[-1] in NOT_PUBLIC:
        raise InvalidInput(
            _l("%(host)s cannot be reached from the internet: connect a public domain.", host=host),
            field="hostname",
        )
    if dns_check.registrable_domain(host) is None:
        raise InvalidInput(
            _l(
                "%(host)s is a public suffix, which nobody owns: connect a domain registered"
                " under it.",
                host=host,
            ),
            field="hostname",
        )
    if dns_check.is_apex(host) and not settings.platform_ips:
        raise InvalidInput(
            _l(
                "%(host)s is a domain's apex, which cannot point here with a CNAME, and this"
                " platform has no fixed addresses for it. Connect a subdomain such as"
                " www.%(host)s, and have your DNS provider redirect %(host)s to it.",
                host=host,
            ),
            field="hostname",
        )
    return host


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def _punycode(text: str) -> str:
    invalid = _l(
        "“%(host)s” is not a valid hostname: use letters, digits and hyphens, with dots"
        " between the parts.",
        host=text[:80],
    )
    try:
        host = idna.encode(text, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise InvalidInput(invalid, field="hostname") from None
    if not all(LABEL.match(label) for label in host.split(".")):
        raise InvalidInput(invalid, field="hostname")
    return host


def display_name(hostname: str) -> str:
    """The hostname as people read it (`café.fr` for `xn--caf-dma.fr`)."""
    try:
        return idna.decode(hostname)
    except (idna.IDNAError, UnicodeError):
        return hostname


async def store_token(store: Store) -> str:
    """The value of the store's `_payfacile.{host}` TXT records, made the first time."""
    token = (await Store.get(id=store.id).only("id", "domain_token")).domain_token
    if token:
        return token
    fresh = f"payfacile-verify={secrets.token_hex(16)}"
    await Store.filter(id=store.id, domain_token="").update(domain_token=fresh)
    return (await Store.get(id=store.id).only("id", "domain_token")).domain_token


async def domains_of(store: Store) -> list[Domain]:
    """The store's domains, the primary first."""
    return await scoped(store).query(Domain).order_by("-is_primary", "hostname")


async def domain_of(store: Store, domain_id: int) -> Domain:
    return await scoped(store).get(Domain, id=domain_id)


async def find(hostname: str) -> Domain:
    """The domain by its hostname, whichever store holds it (the CLI names hostnames)."""
    found = (
        await across_stores(Domain, reason="platform admin")
        .filter(hostname=_punycode(hostname.strip().lower().rstrip(".")))
        .select_related("store")
        .first()
    )
    if found is None:
        raise NotFound(_l("No store has connected %(host)s.", host=hostname))
    return found


@dataclass(frozen=True, slots=True)
class Added:
    domain: Domain
    took_over: bool  # another store's unproven claim gave way to this store's proof


async def add(
    settings: Settings, hosts: HostResolver, limiter: RateLimiter, store: Store, raw: str
) -> Added:
    """Connect `raw` to `store`, checking its DNS at once (it may be set up already).

    A hostname another store holds is refused, unless that store never proved it and DNS
    holds this store's token: the proof wins, and the other store is told."""
    hostname = validate_hostname(raw, settings)
    await limiter.hit(ADDS, "domain-add", str(store.id))
    token = await store_token(store)
    connected = await scoped(store).query(Domain).count()
    if connected >= MAX_DOMAINS:
        raise InvalidInput(
            _l("A store connects up to %(n)s domains: remove one first.", n=MAX_DOMAINS),
            field="hostname",
        )
    holder = (
        await across_stores(Domain, reason="host resolution")
        .filter(hostname=hostname)
        .select_related("store")
        .first()
    )
    if holder is not None:
        _refuse_a_held(store, holder)
    report = await dns_check.check(hostname, token, settings)
    if holder is not None and not report.owned:
        raise Conflict(_prove_it(hostname, token), field="hostname")
    now = datetime.now(UTC)
    try:
        async with in_transaction():
            if holder is not None:
                await (
                    across_stores(Domain, reason="host resolution")
                    .filter(id=holder.id, status__in=list(UNPROVEN))
                    .delete()
                )
                await tell_owner(settings, holder.store, holder.hostname, "taken_over")
            domain = await scoped(store).create(
                Domain,
                hostname=hostname,
                verification_token=token,
                is_primary=not connected,
                pending_since=now,
                next_attempt_at=now + FIRST_CHECKS,
            )
    except IntegrityError:
        raise Conflict(_taken(hostname), field="hostname") from None
    await apply(settings, hosts, store, domain, report, scheduled=False)
    return Added(domain=domain, took_over=holder is not None)


def _refuse_a_held(store: Store, holder: Domain) -> None:
    """A hostname already held is refused, unless another store holds it unproven (then
    this store may take it with proof in DNS)."""
    if holder.store_id == store.id:
        raise Conflict(
            _l("%(host)s is connected to this store already.", host=holder.hostname),
            field="hostname",
        )
    if holder.status not in UNPROVEN:
        raise Conflict(_taken(holder.hostname), field="hostname")


def _prove_it(hostname: str, token: str) -> Text:
    return _l(
        "Another store has claimed %(host)s without proving it owns it. If the domain"
        " is yours, create a TXT record named %(name)s with the value %(token)s, then"
        " add the domain again: a proven record wins.",
        host=hostname,
        name=dns_check.ownership_name(hostname),
        token=token,
    )


def _taken(hostname: str) -> Text:
    return _l(
        "%(host)s is connected to another store. If the domain is yours, ask that store to"
        " remove it, or write to the platform's support.",
        host=hostname,
    )


async def remove(settings: Settings, hosts: HostResolver, store: Store, domain: Domain) -> None:
    """Stop serving `domain` at once and forget it (its certificates go with it)."""
    await scoped(store).delete(domain)
    await hosts.invalidate_store(store, domain.hostname)


async def make_primary(hosts: HostResolver, store: Store, domain: Domain) -> None:
    """`domain` becomes the one emails link to (once it serves) and, with a certificate, the
    one the platform subdomain's portal redirects to."""
    async with in_transaction():
        await scoped(store).query(Domain).filter(is_primary=True).update(is_primary=False)
        await scoped(store).query(Domain).filter(id=domain.id).update(is_primary=True)
    domain.is_primary = True
    await hosts.invalidate_store(store)


async def check_now(
    settings: Settings, hosts: HostResolver, limiter: RateLimiter, store: Store, domain: Domain
) -> Domain:
    """ "Verify now": ask DNS again and apply what it says; a failed domain starts over."""
    await limiter.hit(CHECKS, "domain-check", str(domain.id))
    report = await dns_check.check(domain.hostname, domain.verification_token, settings)
    await apply(settings, hosts, store, domain, report, scheduled=False)
    return await scoped(store).get(Domain, id=domain.id)


def pending_interval(age: timedelta) -> timedelta:
    """How long until the next check of a domain pending for `age`: every minute at first,
    then a fifth of its age, at most every 4 hours."""
    return max(FIRST_CHECKS, min(SLOWEST_CHECKS, age / 5))


async def apply(
    settings: Settings,
    hosts: HostResolver,
    store: Store,
    domain: Domain,
    report: Report,
    *,
    scheduled: bool,
) -> DomainStatus:
    """Store `report` and move `domain` as it says; returns the state it is in now."""
    now = datetime.now(UTC)
    values, event = _transition(domain, report, now, scheduled=scheduled)
    values.update(checked_at=now, report=report.to_json(), error=_summary(report))
    if values.get("status") == DomainStatus.REMOVED:
        gone = await scoped(store).query(Domain).filter(id=domain.id, status=domain.status).delete()
        if gone:
            await hosts.invalidate_store(store, domain.hostname)
            await tell_owner(settings, store, domain.hostname, "removed")
        return DomainStatus.REMOVED
    async with in_transaction():
        moved = (
            await scoped(store)
            .query(Domain)
            .filter(id=domain.id, status=domain.status)
            .update(**values)
        )
        if moved and event:
            await tell_owner(settings, store, domain.hostname, event)
    if not moved:
        return domain.status  # removed or moved on meanwhile: this check changes nothing
    status: DomainStatus = values.get("status", domain.status)
    if (status in SERVING_DOMAIN_STATUSES) != (domain.status in SERVING_DOMAIN_STATUSES):
        await hosts.invalidate_store(store, domain.hostname)
    for name, value in values.items():
        setattr(domain, name, value)
    return status


def _transition(
    domain: Domain, report: Report, now: datetime, *, scheduled: bool
) -> tuple[dict[str, Any], str]:
    """The fields to write after `report`, and the event to email the owner about, if any."""
    if report.lookup_error:
        return {"next_attempt_at": now + LOOKUP_RETRY}, ""
    status = domain.status
    if status in UNPROVEN:
        since = domain.pending_since if status == DomainStatus.PENDING_DNS else None
        since = since or now  # a failed domain checked again starts over
        if report.verified:
            return {
                "status": DomainStatus.VERIFIED,
                "verified_at": now,
                "pending_since": None,
                "next_attempt_at": now + SERVING_CHECKS,
            }, "verified" if scheduled else ""
        if scheduled and now - since >= PENDING_FOR:
            return {"status": DomainStatus.FAILED, "next_attempt_at": None}, "failed"
        return {
            "status": DomainStatus.PENDING_DNS,
            "pending_since": since,
            "next_attempt_at": now + pending_interval(now - since),
        }, ""
    if status == DomainStatus.DNS_MOVED:
        if report.routed:
            return {
                "status": DomainStatus.VERIFIED,
                "moved_at": None,
                "next_attempt_at": now + SERVING_CHECKS,
            }, ""
        if now - (domain.moved_at or now) >= MOVED_FOR:
            return {"status": DomainStatus.REMOVED}, "removed"
        return {"next_attempt_at": now + MOVED_CHECKS}, ""
    if report.routed:
        return {"next_attempt_at": now + SERVING_CHECKS}, ""
    return {
        "status": DomainStatus.DNS_MOVED,
        "moved_at": now,
        "next_attempt_at": now + MOVED_CHECKS,
    }, "moved"


def _summary(report: Report) -> str:
    """One line for logs and the CLI (pages explain each record themselves)."""
    if report.lookup_error:
        return f"DNS gave no answer: {report.lookup_error}"
    wrong = [f"{f.type} {f.name} {f.state}" for f in report.findings if f.state != "found"]
    return "; ".join(wrong + [f"{p.code} at {p.name}" for p in report.problems])


async def tell_owner(
    settings: Settings, store: Store, hostname: str, event: str, **extra: str
) -> None:
    """Email the store's owner `event` about `hostname` (the `domain_news` email)."""
    from payfacile.tenants.stores import owner_of

    try:
        owner = await owner_of(store)
    except NotFound:
        log.warning("store %s has no owner to tell that %s is %s", store.slug, hostname, event)
        return
    await queue_email(
        settings,
        to=owner.email,
        template="domain_news",
        context={
            "event": event,
            "host": display_name(hostname),
            "store_name": store.name,
            "days": PENDING_FOR.days,
            "url": central_url(settings, f"/dashboard/{store.slug}/domains"),
            **extra,
        },
        store_id=store.id,
        language=store.locale,
    )


async def _scheduled_check(hosts: HostResolver, runtime: Runtime, domain: Domain) -> None:
    store = await Store.get(id=domain.store_id)
    report = await dns_check.check(domain.hostname, domain.verification_token, runtime.settings)
    await apply(runtime.settings, hosts, store, domain, report, scheduled=True)


def check_job(hosts: HostResolver) -> JobKind:
    """The recurring DNS checks of every store's domains, invalidating through `hosts`."""
    return JobKind(
        name="domain_check",
        rows=functools.partial(across_stores, Domain, reason="scheduler"),
        handler=functools.partial(_scheduled_check, hosts),
        lease=timedelta(seconds=30),  # a check is a few queries of at most 4 s each
        max_attempts=10,
        recurring=True,
    )


STATUS_LABELS = {
    DomainStatus.PENDING_DNS: _l("Waiting for DNS"),
    DomainStatus.VERIFIED: _l("Connected"),
    DomainStatus.ISSUING: _l("Connected, certificate on its way"),
    DomainStatus.ACTIVE: _l("Active"),
    DomainStatus.RENEWING: _l("Active"),
    DomainStatus.DNS_MOVED: _l("DNS points elsewhere"),
    DomainStatus.FAILED: _l("Verification stopped"),
    DomainStatus.REMOVED: _l("Removed"),
}


def describe_finding(finding: dns_check.Finding) -> Text:
    """One record's finding, in words a merchant understands."""
    values = {
        "name": finding.name,
        "type": finding.type,
        "value": ", ".join(finding.expected),
        "found": ", ".join(finding.found),
    }
    if finding.purpose == "ownership":
        return {
            "found": _l("Found: the TXT record %(name)s holds your store's token.", **values),
            "missing": _l(
                "Missing: there is no TXT record %(name)s yet. Create it with the value %(value)s.",
                **values,
            ),
            "wrong": _l(
                "Wrong: the TXT record %(name)s holds %(found)s instead of %(value)s.", **values
            ),
        }[finding.state]
    if finding.state == "found":
        if finding.type == "CNAME":
            return _l("Found: %(name)s is a CNAME to %(value)s.", **values)
        return _l("Found: %(name)s points to %(found)s.", **values)
    if finding.state == "missing":
        if finding.type == "CNAME":
            return _l(
                "Missing: %(name)s has no CNAME record yet. Create one pointing to %(value)s.",
                **values,
            )
        return _l(
            "Missing: %(name)s has no %(type)s record yet. Create one with %(value)s.", **values
        )
    if finding.type == "CNAME" and all(_is_ip(value) for value in finding.found):
        return _l(
            "Wrong: %(name)s has addresses (%(found)s) that are not the platform's. Delete"
            " those A/AAAA records and create a CNAME to %(value)s instead.",
            **values,
        )
    if finding.type == "CNAME":
        return _l(
            "Wrong: %(name)s is a CNAME to %(found)s. Change it to point to %(value)s.", **values
        )
    return _l(
        "Wrong: %(name)s points to %(found)s, which is not the platform. Its %(type)s records"
        " must name %(value)s only.",
        **values,
    )


def describe_problem(problem: dns_check.Problem, settings: Settings) -> Text:
    """What stops a certificate later, and how to fix it."""
    found = ", ".join(problem.found)
    if problem.code == "caa":
        ca = settings.acme_caa_identities[0] if settings.acme_caa_identities else ""
        return _l(
            "The CAA records of %(name)s (%(found)s) do not let our certificate authority,"
            " %(ca)s, issue a certificate for this domain. Add a CAA record at %(name)s:"
            ' 0 issue "%(ca)s".',
            name=problem.name,
            found=found,
            ca=ca,
        )
    return _l(
        "%(name)s also has an IPv6 (AAAA) record, %(found)s, that is not the platform's:"
        " visitors over IPv6, and the certificate authority, would go there instead. Delete it.",
        name=problem.name,
        found=found,
    )


def describe_lookup_error() -> Text:
    return _l(
        "DNS gave no answer in time, so nothing could be checked this time. We try again in a"
        " minute."
    )
