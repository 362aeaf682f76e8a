"""Certificates for custom domains, obtained over ACME (docs/architecture.md, "Custom domain
lifecycle"): the recurring `acme_order` job, one row per verified domain.

Each run, under the row's claim (the per-hostname lock, its lease renewed while it runs):
the permission gate (the domain is connected and verified, re-read after locking), then
either nothing to do (its certificate is not due), or an order: the budgets under the CA's
limits, a pre-flight fetch of our own challenge URL through the hostname, the order in a
thread, the certificate and its sealed key stored, the domain active, every instance told.
A failure is put in words for the merchant and tried again after 1 min, 10 min, 100 min,
then daily; a `rateLimited` after the CA's `Retry-After`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import random
import secrets
from dataclasses import dataclass
from typing import Any

import aiohttp
import dns.exception
import dns.resolver
import requests
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from payfacile.platform.config import Settings
from payfacile.platform.crypto import seal, unseal
from payfacile.platform.errors import NotFound
from payfacile.platform.errors import RateLimited as BudgetSpent
from payfacile.platform.jobs import JobKind, Runtime
from payfacile.platform.ratelimit import RateLimiter
from payfacile.tenants import dns_check
from payfacile.tenants.hosts import HostResolver
from payfacile.tenants.models import WITH_CERTIFICATE, Domain, DomainStatus
from payfacile.tenants.scope import across_stores, scoped
from payfacile.tls import acme_client
from payfacile.tls.acme_client import Challenge, OrderFailed, RateLimited
from payfacile.tls.challenges import PATH, Challenges, ChallengeUnpublished
from payfacile.tls.models import AcmeAccount, AcmeOrder, Certificate
from payfacile.tls.sni import KEY_PURPOSE

log = logging.getLogger(__name__)

ACCOUNT_KEY_PURPOSE = "acme-account-key"
# The permission gate: a certificate is only ever ordered for a domain in one of these.
MAY_ORDER = frozenset(
    {DomainStatus.VERIFIED, DomainStatus.ISSUING, DomainStatus.ACTIVE, DomainStatus.RENEWING}
)
RETRIES = (
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=10),
    dt.timedelta(minutes=100),
    dt.timedelta(days=1),
)
ORDER_DEADLINE = dt.timedelta(minutes=5)  # a whole order, validation and issuance included
PREFLIGHT_SECONDS = 10.0
# Budgets under Let's Encrypt's limits, so that the CA never has to refuse us.
CERTS_PER_REGISTERED_DOMAIN = "45/7days"  # LE: 50 a week
FAILED_VALIDATIONS_PER_HOST = "4/hour"  # LE: 5 an hour
ORDERS_PER_ACCOUNT = "250/3hours"  # LE: 300 in 3 hours
# Each budget: its rate, the limiter's name for it, and the CA's own limit above it.
BUDGETS = {
    "orders": (ORDERS_PER_ACCOUNT, "acme-orders", 300),
    "certificates": (CERTS_PER_REGISTERED_DOMAIN, "acme-certificates", 50),
    "failed validations": (FAILED_VALIDATIONS_PER_HOST, "acme-failed-validations", 5),
}
# What a stored problem code means, for the CLI and the logs (pages put it in words).
PROBLEMS = {
    "preflight": "our own challenge URL did not answer through the hostname",
    "dns": "the CA could not resolve the hostname",
    "caa": "a CAA record forbids the CA",
    "unauthorized": "the CA fetched a wrong answer to its challenge",
    "connection": "the CA could not connect to the hostname",
    "rate_limited": "the CA's rate limit was reached",
    "budget": "the platform's own budget under the CA's limits is spent for now",
    "ca": "the CA refused the order",
    "timeout": "the CA did not finish in time",
    "unavailable": "the CA or the shared store could not be reached",
}
DNS_PROBLEMS = frozenset({"dns", "caa", "unauthorized", "connection"})


async def spend(limiter: RateLimiter, budget: str, subject: str) -> None:
    """Count one against `budget` (a `BUDGETS` name) for `subject`; `RateLimited` when spent."""
    rate, counted_as, _ = BUDGETS[budget]
    await limiter.hit(rate, counted_as, subject)


def retry_after(failures: int) -> dt.timedelta:
    """The wait after the `failures`-th failed order in a row: 1 min, 10 min, 100 min, daily."""
    return RETRIES[min(max(failures, 1), len(RETRIES)) - 1]


def renewal_time(
    not_before: dt.datetime, not_after: dt.datetime, *, spread: bool = False
) -> dt.datetime:
    """When a third of the certificate's lifetime is left (no CA window to follow); with
    `spread`, up to a thirtieth of the lifetime earlier, at random, so that certificates
    issued together are not renewed all in the same minute (ARI windows do this for the
    CAs that offer them)."""
    lifetime = not_after - not_before
    early = lifetime * random.uniform(0, 1 / 30) if spread else dt.timedelta(0)
    return not_after - lifetime / 3 - early


@dataclass(frozen=True)
class Tools:
    """What orders need beside the runtime: the host cache to invalidate (which every
    instance's certificate cache follows), the challenge store and the budgets."""

    hosts: HostResolver
    challenges: Challenges
    limiter: RateLimiter


class Stop(Exception):
    """This order cannot go on: `problem` (a `PROBLEMS` code) and its detail."""

    def __init__(self, problem: str, detail: str, *, retry_at: dt.datetime | None = None) -> None:
        super().__init__(f"{problem}: {detail}")
        self.problem = problem
        self.detail = detail
        self.retry_at = retry_at


async def want_certificates() -> int:
    """A row for every verified domain that has none yet; how many were made.

    Run before each scan of the scheduler, so a domain verified by any process (a request,
    the CLI, a DNS check) is ordered for within a scan, and none is forgotten after a crash."""
    missing = await (
        across_stores(Domain, reason="scheduler")
        .filter(status=DomainStatus.VERIFIED)
        .exclude(id__in=Subquery(across_stores(AcmeOrder, reason="scheduler").values("domain_id")))
        .select_related("store")
    )
    made = 0
    now = dt.datetime.now(dt.UTC)
    for domain in missing:
        try:
            await scoped(domain.store).create(AcmeOrder, domain_id=domain.id, next_attempt_at=now)
        except (IntegrityError, NotFound):
            continue  # another scheduler made it, or the domain went meanwhile
        made += 1
    return made


async def work(tools: Tools, runtime: Runtime, row: AcmeOrder) -> None:
    """One run of a domain's certificate work, under the row's claim."""
    settings = runtime.settings
    domain = await (
        across_stores(Domain, reason="scheduler")
        .filter(id=row.domain_id)
        .select_related("store")
        .first()
    )
    if domain is None or domain.status not in MAY_ORDER:
        # Not connected and verified (any more): nothing is ordered; should it come back to
        # verified, a new row starts afresh.
        await across_stores(AcmeOrder, reason="scheduler").filter(id=row.id).delete()
        return
    now = dt.datetime.now(dt.UTC)
    current = await newest_certificate(domain)
    if current is not None and now < _renew_at(current):
        await _serving(tools, domain, current, row, new=False)
        return
    renewing = current is not None and current.not_after > now
    was_secure = domain.status in WITH_CERTIFICATE
    await _set_status(
        domain,
        DomainStatus.RENEWING if renewing else DomainStatus.ISSUING,
        from_statuses=list(MAY_ORDER),
    )
    if was_secure and domain.status not in WITH_CERTIFICATE:
        # Its certificate ran out unrenewed: served over HTTP again until a new one comes.
        await tools.hosts.invalidate_store(domain.store, domain.hostname)
    try:
        obtained, renew_at = await _order(settings, tools, domain, row)
    except Stop as stopped:
        await _failed(row, domain, stopped)
        return
    certificate = await _store(settings, domain, obtained, renew_at)
    if certificate is None:
        return  # the domain was removed while the CA worked: nothing to keep
    await _serving(tools, domain, certificate, row, new=True)
    await spend(tools.limiter, "certificates", registered(domain.hostname))
    log.info("certificate for %s issued, valid until %s", domain.hostname, certificate.not_after)


async def newest_certificate(domain: Domain) -> Certificate | None:
    return await (
        scoped(domain.store).query(Certificate).filter(domain_id=domain.id).order_by("-id").first()
    )


def _renew_at(certificate: Certificate) -> dt.datetime:
    return certificate.renew_at or renewal_time(certificate.not_before, certificate.not_after)


def registered(hostname: str) -> str:
    """The registered domain `hostname` is under (its budget of certificates is counted there)."""
    return dns_check.registrable_domain(hostname) or hostname


async def _set_status(
    domain: Domain, status: DomainStatus, *, from_statuses: list[DomainStatus]
) -> bool:
    if domain.status == status:
        return True
    moved = await (
        scoped(domain.store)
        .query(Domain)
        .filter(id=domain.id, status__in=from_statuses)
        .update(status=status)
    )
    if moved:
        domain.status = status
    return bool(moved)


async def _serving(
    tools: Tools,
    domain: Domain,
    certificate: Certificate,
    row: AcmeOrder,
    *,
    new: bool,
) -> None:
    """`certificate` (`new`ly stored, or one still good for a domain back to verified)
    serves `domain`: active, every instance told, the next run at its renewal."""
    was = domain.status
    await _set_status(
        domain,
        DomainStatus.ACTIVE,
        from_statuses=[DomainStatus.VERIFIED, DomainStatus.ISSUING, DomainStatus.RENEWING],
    )
    await _mine(row).update(
        state="issued",
        order_url="",
        deadline=None,
        failures=0,
        problem="",
        error="",
        next_attempt_at=_renew_at(certificate),
    )
    if domain.status != was:
        await tools.hosts.invalidate_store(domain.store, domain.hostname)
    elif new:
        await tools.hosts.invalidate([domain.hostname])


def _mine(row: AcmeOrder) -> Any:
    """The row, while this run's claim holds it."""
    return across_stores(AcmeOrder, reason="scheduler").filter(
        id=row.id, claim_token=row.claim_token
    )


async def _failed(row: AcmeOrder, domain: Domain, stopped: Stop) -> None:
    now = dt.datetime.now(dt.UTC)
    failures = row.failures + (0 if stopped.problem in {"rate_limited", "budget"} else 1)
    retry_at = stopped.retry_at or now + retry_after(failures)
    await _mine(row).update(
        state="wanted",
        order_url="",
        deadline=None,
        failures=failures,
        problem=stopped.problem,
        error=stopped.detail[:2000],
        next_attempt_at=retry_at,
    )
    if stopped.problem in DNS_PROBLEMS:
        # The CA saw what our last check did not: check DNS again now, which moves the
        # domain on (dns_moved) if its records really changed.
        await scoped(domain.store).query(Domain).filter(id=domain.id).update(next_attempt_at=now)
    log.warning(
        "certificate for %s not issued (%s: %s); next try at %s",
        domain.hostname,
        stopped.problem,
        stopped.detail,
        retry_at,
    )


async def _order(
    settings: Settings, tools: Tools, domain: Domain, row: AcmeOrder
) -> tuple[Obtained, dt.datetime]:
    """Obtain a certificate for `domain`; raises `Stop` saying why not."""
    hostname = domain.hostname
    await _within_budgets(tools.limiter, hostname)
    await preflight(settings, tools.challenges, hostname)
    key_pem = acme_client.new_certificate_key()
    csr = acme_client.csr_for(hostname, key_pem)
    session = await _session(settings)
    published: list[Challenge] = []
    try:
        await spend(tools.limiter, "orders", settings.acme_directory_url)
        profile = settings.acme_profile
        if profile and not await asyncio.to_thread(session.offers_profile, profile):
            log.warning("the CA offers no profile %r: ordering its default", profile)
            profile = ""
        order, challenges = await asyncio.to_thread(session.new_order, csr, profile=profile)
        deadline = dt.datetime.now(dt.UTC) + ORDER_DEADLINE
        await _mine(row).update(state="ordering", order_url=order.uri or "", deadline=deadline)
        for challenge in challenges:
            await tools.challenges.publish(challenge.token, challenge.key_authorization)
            published.append(challenge)
        try:
            issued = await asyncio.to_thread(session.finish_order, order, challenges, deadline)
        except OrderFailed as failed:
            if failed.code in DNS_PROBLEMS:
                await spend(tools.limiter, "failed validations", hostname)
            raise
        renew_at = await asyncio.to_thread(session.renewal_time, issued.chain_pem)
    except RateLimited as limited:
        raise Stop("rate_limited", limited.detail, retry_at=limited.retry_at) from limited
    except OrderFailed as failed:
        problem = failed.code if failed.code in PROBLEMS else "ca"
        raise Stop(problem, failed.detail or failed.code) from failed
    except BudgetSpent as spent:
        raise Stop("budget", "new orders", retry_at=_in(spent.retry_after)) from spent
    except (ChallengeUnpublished, requests.RequestException, OSError) as error:
        raise Stop("unavailable", str(error)) from error
    finally:
        await tools.challenges.withdraw(*(challenge.token for challenge in published))
        await asyncio.to_thread(session.close)
    return Obtained(issued, key_pem), renew_at or renewal_time(
        issued.not_before, issued.not_after, spread=True
    )


@dataclass(frozen=True)
class Obtained:
    """A certificate from the CA, with the key made for it (in memory only)."""

    issued: acme_client.Issued
    key_pem: bytes


def _in(seconds: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)


async def _within_budgets(limiter: RateLimiter, hostname: str) -> None:
    try:
        for name, subject in (
            ("certificates", registered(hostname)),
            ("failed validations", hostname),
        ):
            rate, counted_as, _ = BUDGETS[name]
            await limiter.check(rate, counted_as, subject)
    except BudgetSpent as spent:
        raise Stop(
            "budget", "certificates or failed validations", retry_at=_in(spent.retry_after)
        ) from spent


async def preflight(settings: Settings, challenges: Challenges, hostname: str) -> None:
    """Fetch our own challenge URL through `hostname` on `ACME_HTTP_PORT`, as the CA will;
    raises `Stop("preflight", …)` saying what went wrong."""
    token = secrets.token_urlsafe(32)
    expected = secrets.token_urlsafe(32)
    try:
        await challenges.publish(token, expected)
    except ChallengeUnpublished as error:
        raise Stop("unavailable", str(error)) from error
    try:
        address = await _address(settings, hostname)
        url = f"http://{_bracketed(address)}:{settings.acme_http_port}{PATH}{token}"
        timeout = aiohttp.ClientTimeout(total=PREFLIGHT_SECONDS)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers={"Host": hostname}, allow_redirects=False) as answer,
        ):
            body = await answer.text()
            if answer.status != 200 or body.strip() != expected:
                raise Stop(
                    "preflight",
                    f"http://{hostname}{PATH}… answered {answer.status}, not our challenge:"
                    " is something else in front of this hostname?",
                )
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        raise Stop(
            "preflight",
            f"http://{hostname}:{settings.acme_http_port} could not be reached at {address}:"
            f" {error or type(error).__name__}",
        ) from error
    finally:
        await challenges.withdraw(token)


async def _address(settings: Settings, hostname: str) -> str:
    resolver = dns_check.make_resolver(settings)
    for rdtype in ("A", "AAAA"):
        try:
            answer = await resolver.resolve(hostname, rdtype)
        except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
            continue
        except dns.exception.DNSException as error:
            raise Stop("preflight", f"{hostname} could not be resolved: {error}") from error
        for record in answer:
            return str(record.address)
    raise Stop("preflight", f"{hostname} has no address (A or AAAA record) in DNS")


def _bracketed(address: str) -> str:
    return f"[{address}]" if ":" in address else address


async def _session(settings: Settings) -> acme_client.Session:
    """A conversation with the CA under the platform's one account, registered once."""
    account = await _account(settings)
    key_pem = unseal(settings, ACCOUNT_KEY_PURPOSE, account.key_encrypted)
    try:
        session = await asyncio.to_thread(
            acme_client.Session,
            settings.acme_directory_url,
            key_pem,
            ca_bundle=settings.acme_ca_bundle,
            uri=account.uri,
        )
        if not account.uri:
            uri = await asyncio.to_thread(session.register, settings.acme_email)
            await AcmeAccount.filter(id=account.id).update(uri=uri)
            session.net.account = acme_client.messages.RegistrationResource(
                body=acme_client.messages.Registration(), uri=uri
            )
    except (requests.RequestException, OSError) as error:
        raise Stop("unavailable", f"the CA could not be reached: {error}") from error
    except acme_client.messages.Error as error:
        raise Stop("ca", error.detail or str(error)) from error
    return session


async def _account(settings: Settings) -> AcmeAccount:
    """The account row for the CA's directory, made with a new key the first time. Two
    processes making it at once: the unique directory keeps one, and both use its key (so
    the CA sees one account)."""
    found = await AcmeAccount.get_or_none(directory_url=settings.acme_directory_url)
    if found is not None:
        return found
    key = seal(settings, ACCOUNT_KEY_PURPOSE, acme_client.new_account_key())
    with contextlib.suppress(IntegrityError, OperationalError):
        return await AcmeAccount.create(
            directory_url=settings.acme_directory_url, key_encrypted=key
        )
    return await AcmeAccount.get(directory_url=settings.acme_directory_url)


async def _store(
    settings: Settings, domain: Domain, obtained: Obtained, renew_at: dt.datetime
) -> Certificate | None:
    """Keep the new certificate, its key sealed, and forget the ones it replaces (their keys
    with them). None if the domain is gone."""
    try:
        async with in_transaction():
            if not await scoped(domain.store).query(Domain).filter(id=domain.id).exists():
                return None
            certificate = await scoped(domain.store).create(
                Certificate,
                domain_id=domain.id,
                chain_pem=obtained.issued.chain_pem,
                key_encrypted=seal(settings, KEY_PURPOSE, obtained.key_pem),
                not_before=obtained.issued.not_before,
                not_after=obtained.issued.not_after,
                renew_at=renew_at,
                serial=obtained.issued.serial,
            )
            await (
                scoped(domain.store)
                .query(Certificate)
                .filter(domain_id=domain.id)
                .exclude(id=certificate.id)
                .delete()
            )
    except IntegrityError:
        return None  # removed between the check and the insert
    return certificate


def order_job(tools: Tools) -> JobKind:
    return JobKind(
        name="acme_order",
        rows=functools.partial(across_stores, AcmeOrder, reason="scheduler"),
        handler=functools.partial(work, tools),
        lease=dt.timedelta(seconds=30),
        time_limit=ORDER_DEADLINE + dt.timedelta(minutes=1),
        max_attempts=20,
        recurring=True,
        seed=want_certificates,
    )
