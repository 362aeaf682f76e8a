"""Custom domains against a real DNS server (pebble-challtestsrv): what a merchant sets, what
the platform finds, and what follows — serving, moving, failing, being taken over."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from payfacile.platform.config import Settings
from payfacile.platform.errors import Conflict, InvalidInput
from payfacile.platform.jobs import JobKind, JobRegistry, Runtime, dispatch_due, run_job
from payfacile.platform.mail import Mailer
from payfacile.platform.models import OutboxEmail
from payfacile.platform.ratelimit import RateLimiter
from payfacile.tenants import dns_check, domains
from payfacile.tenants.hosts import HostResolver, resolver_of
from payfacile.tenants.models import Domain, DomainStatus, MembershipRole, Store
from payfacile.tenants.scope import scoped
from payfacile.tenants.urls import store_url
from tests.challtestsrv import ChallTestSrv
from tests.conftest import ON_POSTGRES, opened, unique_host
from tests.factories import make_store

PLATFORM_V4 = "192.0.2.10"
PLATFORM_V6 = "2001:db8::10"


@pytest.fixture
def settings(settings: Settings, challtestsrv: ChallTestSrv) -> Settings:
    """The test's settings, asking the test DNS server, with addresses for apex domains."""
    return settings.model_copy(
        update={
            "dns_nameservers": [challtestsrv.nameserver],
            "platform_ips": [PLATFORM_V4, PLATFORM_V6],
        }
    )


@pytest.fixture
def limiter(settings: Settings) -> RateLimiter:
    return RateLimiter("", prefix=settings.redis_prefix)  # in-process: no test shares it


async def owned_store(slug: str | None = None) -> Store:
    """A store with an owner, who is emailed about its domains."""
    from payfacile.tenants.models import Membership, MerchantUser

    store = await make_store(slug)
    owner = await MerchantUser.create(email=f"owner@{store.slug}.example.com")
    await scoped(store).create(Membership, user_id=owner.id, role=MembershipRole.OWNER)
    return store


def point_at_platform(dns: ChallTestSrv, settings: Settings, host: str, token: str) -> None:
    dns.set_txt(dns_check.ownership_name(host), token)
    dns.set_cname(host, settings.cname_target)


async def owner_emails(store: Store) -> list[OutboxEmail]:
    return await OutboxEmail.filter(to_address=f"owner@{store.slug}.example.com").order_by("id")


def finding(report: dns_check.Report | None, kind: str) -> dns_check.Finding:
    assert report is not None
    return next(item for item in report.findings if item.type == kind)


# Hostname hygiene ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Shop.Example.COM", "shop.example.com"),
        ("https://shop.example.com/portal/", "shop.example.com"),
        ("shop.example.com.", "shop.example.com"),
        ("boutique.café.fr", "boutique.xn--caf-dma.fr"),
    ],
)
def test_a_hostname_is_kept_as_lower_case_punycode(
    settings: Settings, raw: str, expected: str
) -> None:
    assert domains.validate_hostname(raw, settings) == expected


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("", "Enter a hostname"),
        ("*.example.com", "wildcard"),
        ("192.0.2.1", "not an IP address"),
        ("[2001:db8::1]", "not an IP address"),
        ("shop", "whole hostname"),
        ("shop..example.com", "not a valid hostname"),
        ("-shop.example.com", "not a valid hostname"),
        ("sh_op.example.com", "not a valid hostname"),
        ("a" * 64 + ".example.com", "not a valid hostname"),
        (".".join(["abcdefghij"] * 23) + ".com", "at most 253 characters"),
        ("payfacile.localhost", "platform's own"),
        ("acme.payfacile.localhost", "platform's own"),
        ("stores.payfacile.localhost", "platform's own"),
        ("shop.localhost", "cannot be reached from the internet"),
        ("co.uk", "public suffix"),
    ],
)
def test_a_bad_hostname_is_refused_saying_why(settings: Settings, raw: str, says: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        domains.validate_hostname(raw, settings)
    assert says in str(refused.value.message)


def test_an_apex_needs_the_platforms_addresses(settings: Settings) -> None:
    assert domains.validate_hostname("example.com", settings) == "example.com"
    without = settings.model_copy(update={"platform_ips": []})
    with pytest.raises(InvalidInput) as refused:
        domains.validate_hostname("example.com", without)
    message = str(refused.value.message)
    assert "cannot point here with a CNAME" in message
    assert "www.example.com" in message


# The records to create -----------------------------------------------------------------


def test_a_subdomain_needs_a_txt_and_a_cname_an_apex_a_and_aaaa(settings: Settings) -> None:
    sub = dns_check.expected_records("shop.example.com", "tok", settings)
    assert [(r.type, r.name, r.value) for r in sub] == [
        ("TXT", "_payfacile.shop.example.com", "tok"),
        ("CNAME", "shop.example.com", settings.cname_target),
    ]
    apex = dns_check.expected_records("example.co.uk", "tok", settings)
    assert [(r.type, r.name, r.value) for r in apex] == [
        ("TXT", "_payfacile.example.co.uk", "tok"),
        ("A", "example.co.uk", PLATFORM_V4),
        ("AAAA", "example.co.uk", PLATFORM_V6),
    ]


# Verification, record by record --------------------------------------------------------


async def test_without_its_txt_record_a_domain_waits_and_says_why(
    database: Settings, hosts: HostResolver, limiter: RateLimiter, challtestsrv: ChallTestSrv
) -> None:
    store = await owned_store()
    host = unique_host()
    challtestsrv.set_cname(host, database.cname_target)
    added = await domains.add(database, hosts, limiter, store, host)
    domain = await domains.domain_of(store, added.domain.id)
    assert domain.status == DomainStatus.PENDING_DNS
    report = dns_check.Report.from_json(domain.report)
    txt = finding(report, "TXT")
    assert txt.state == "missing"
    assert "Missing: there is no TXT record _payfacile." in str(domains.describe_finding(txt))
    assert finding(report, "CNAME").state == "found"
    assert domain.next_attempt_at is not None
    wait = domain.next_attempt_at - datetime.now(UTC)
    assert timedelta(seconds=50) < wait <= timedelta(minutes=1)
    assert domain.is_primary  # its first domain


async def test_a_cname_to_elsewhere_is_reported_with_what_was_found(
    database: Settings, hosts: HostResolver, limiter: RateLimiter, challtestsrv: ChallTestSrv
) -> None:
    store = await owned_store()
    host = unique_host()
    token = await domains.store_token(store)
    challtestsrv.set_txt(dns_check.ownership_name(host), token)
    challtestsrv.set_cname(host, "old-shop.hosted.example")
    added = await domains.add(database, hosts, limiter, store, host)
    domain = await domains.domain_of(store, added.domain.id)
    assert domain.status == DomainStatus.PENDING_DNS
    cname = finding(dns_check.Report.from_json(domain.report), "CNAME")
    assert (cname.state, cname.found) == ("wrong", ["old-shop.hosted.example"])
    said = str(domains.describe_finding(cname))
    assert "old-shop.hosted.example" in said
    assert database.cname_target in said


async def test_right_records_verify_and_the_domain_serves_at_once(
    app: Quart, client: Client, settings: Settings, challtestsrv: ChallTestSrv, limiter: RateLimiter
) -> None:
    hosts = resolver_of(app)
    store = await owned_store("acme")
    host = unique_host()
    assert (await client.get("/portal/login", headers={"Host": host})).status_code == 404
    added = await domains.add(settings, hosts, limiter, store, host)
    assert added.domain.status == DomainStatus.PENDING_DNS
    point_at_platform(challtestsrv, settings, host, added.domain.verification_token)

    domain = await domains.check_now(settings, hosts, limiter, store, added.domain)

    assert domain.status == DomainStatus.VERIFIED
    assert domain.verified_at is not None
    # The cached "no store here" is gone: the portal answers on the domain right away.
    page = await client.get("/portal/login", headers={"Host": host})
    assert page.status_code == 200
    assert store.name in await page.get_data(as_text=True)
    # Emails link to it now (over HTTP, as this platform serves it until it has a certificate).
    assert await store_url(settings, store, "/portal/") == f"http://{host}:8000/portal/"


async def test_an_apex_verifies_on_its_a_and_aaaa_records(
    database: Settings, hosts: HostResolver, limiter: RateLimiter, challtestsrv: ChallTestSrv
) -> None:
    store = await owned_store()
    apex = unique_host().split(".", 1)[1]
    token = await domains.store_token(store)
    challtestsrv.set_txt(dns_check.ownership_name(apex), token)
    challtestsrv.add_a(apex, PLATFORM_V4)
    added = await domains.add(database, hosts, limiter, store, apex)
    assert added.domain.status == DomainStatus.VERIFIED  # AAAA is optional while absent

    challtestsrv.add_aaaa(apex, "2001:db8::99")
    domain = await domains.check_now(database, hosts, limiter, store, added.domain)
    aaaa = finding(dns_check.Report.from_json(domain.report), "AAAA")
    assert (aaaa.state, aaaa.found) == ("wrong", ["2001:db8::99"])
    assert domain.status == DomainStatus.DNS_MOVED  # a wrong address sends some visitors away


async def test_a_caa_record_forbidding_the_ca_and_a_stray_aaaa_are_reported(
    database: Settings, hosts: HostResolver, limiter: RateLimiter, challtestsrv: ChallTestSrv
) -> None:
    store = await owned_store()
    host = unique_host()
    registered = host.split(".", 1)[1]
    token = await domains.store_token(store)
    challtestsrv.set_txt(dns_check.ownership_name(host), token)
    challtestsrv.add_a(host, PLATFORM_V4)  # routed by address, no CNAME
    challtestsrv.add_aaaa(host, "2001:db8::bad")
    challtestsrv.add_caa(registered, "digicert.com")  # up the tree, as RFC 8659 climbs

    added = await domains.add(database, hosts, limiter, store, host)
    domain = await domains.domain_of(store, added.domain.id)
    report = dns_check.Report.from_json(domain.report)
    assert report is not None
    problems = {problem.code: problem for problem in report.problems}
    assert problems["caa"].name == registered
    assert problems["caa"].found == ["issue digicert.com"]
    assert problems["stray_aaaa"].found == ["2001:db8::bad"]
    caa_said = str(domains.describe_problem(problems["caa"], database))
    assert 'issue "letsencrypt.org"' in caa_said
    assert "Delete it" in str(domains.describe_problem(problems["stray_aaaa"], database))

    # Allowing the CA clears the CAA problem.
    challtestsrv.clear_caa(registered)
    challtestsrv.add_caa(registered, "letsencrypt.org; validationmethods=http-01")
    domain = await domains.check_now(database, hosts, limiter, store, domain)
    report = dns_check.Report.from_json(domain.report)
    assert report is not None
    assert [problem.code for problem in report.problems] == ["stray_aaaa"]


async def test_a_dns_server_that_does_not_answer_changes_nothing(
    database: Settings, hosts: HostResolver, limiter: RateLimiter, challtestsrv: ChallTestSrv
) -> None:
    store = await owned_store()
    host = unique_host()
    added = await domains.add(database, hosts, limiter, store, host)
    await (
        scoped(store).query(Domain).filter(id=added.domain.id).update(status=DomainStatus.VERIFIED)
    )
    silent = database.model_copy(update={"dns_nameservers": ["127.0.0.1:9"]})  # discard port
    domain = await domains.domain_of(store, added.domain.id)
    domain = await domains.check_now(silent, hosts, limiter, store, domain)
    assert domain.status == DomainStatus.VERIFIED  # not "moved" on no answer
    report = dns_check.Report.from_json(domain.report)
    assert report is not None
    assert report.lookup_error


# Moving away, failing, removing --------------------------------------------------------


async def test_records_removed_later_move_the_domain_then_remove_it(
    app: Quart, client: Client, settings: Settings, challtestsrv: ChallTestSrv, limiter: RateLimiter
) -> None:
    hosts = resolver_of(app)
    store = await owned_store()
    host = unique_host()
    token = await domains.store_token(store)
    point_at_platform(challtestsrv, settings, host, token)
    added = await domains.add(settings, hosts, limiter, store, host)
    assert added.domain.status == DomainStatus.VERIFIED

    challtestsrv.clear_cname(host)
    domain = await domains.check_now(settings, hosts, limiter, store, added.domain)
    assert domain.status == DomainStatus.DNS_MOVED
    assert domain.moved_at is not None
    moved = await owner_emails(store)
    assert [row.subject for row in moved] == [f"{host} no longer points to your store"]
    assert "7 days" in opened(moved[0]).text_body
    # Still served meanwhile: visitors whose DNS has not caught up are not cut off.
    assert (await client.get("/portal/login", headers={"Host": host})).status_code == 200

    # Seven days on, still pointing away: removed, the owner told, and no longer served.
    await (
        scoped(store)
        .query(Domain)
        .filter(id=domain.id)
        .update(moved_at=datetime.now(UTC) - timedelta(days=7, minutes=1))
    )
    domain = await domains.domain_of(store, domain.id)
    report = await dns_check.check(host, token, settings)
    assert await domains.apply(settings, hosts, store, domain, report, scheduled=True) == (
        DomainStatus.REMOVED
    )
    assert not await scoped(store).query(Domain).filter(hostname=host).exists()
    assert (await owner_emails(store))[-1].subject == f"{host} was removed from {store.name}"
    assert (await client.get("/portal/login", headers={"Host": host})).status_code == 404


async def test_a_moved_domain_whose_records_come_back_is_connected_again(
    database: Settings, hosts: HostResolver, limiter: RateLimiter, challtestsrv: ChallTestSrv
) -> None:
    store = await owned_store()
    host = unique_host()
    point_at_platform(challtestsrv, database, host, await domains.store_token(store))
    added = await domains.add(database, hosts, limiter, store, host)
    challtestsrv.set_cname(host, "elsewhere.example")
    domain = await domains.check_now(database, hosts, limiter, store, added.domain)
    assert domain.status == DomainStatus.DNS_MOVED
    challtestsrv.set_cname(host, database.cname_target)
    domain = await domains.check_now(database, hosts, limiter, store, domain)
    assert (domain.status, domain.moved_at) == (DomainStatus.VERIFIED, None)


async def test_removing_a_domain_stops_serving_it_at_once(
    app: Quart, client: Client, settings: Settings, challtestsrv: ChallTestSrv, limiter: RateLimiter
) -> None:
    hosts = resolver_of(app)
    store = await owned_store()
    host = unique_host()
    point_at_platform(challtestsrv, settings, host, await domains.store_token(store))
    added = await domains.add(settings, hosts, limiter, store, host)
    assert (await client.get("/portal/login", headers={"Host": host})).status_code == 200
    await domains.remove(settings, hosts, store, added.domain)
    assert (await client.get("/portal/login", headers={"Host": host})).status_code == 404


# Who holds a hostname ------------------------------------------------------------------


async def test_a_hostname_another_store_proved_is_refused(
    database: Settings, hosts: HostResolver, limiter: RateLimiter, challtestsrv: ChallTestSrv
) -> None:
    first, second = await owned_store(), await owned_store()
    host = unique_host()
    point_at_platform(challtestsrv, database, host, await domains.store_token(first))
    await domains.add(database, hosts, limiter, first, host)
    with pytest.raises(Conflict) as refused:
        await domains.add(database, hosts, limiter, second, host)
    assert "connected to another store" in str(refused.value.message)
    assert not await scoped(second).query(Domain).exists()
    with pytest.raises(Conflict) as again:
        await domains.add(database, hosts, limiter, first, host.upper())
    assert "connected to this store already" in str(again.value.message)


async def test_a_proven_claim_beats_an_unproven_one_and_the_loser_is_told(
    database: Settings, hosts: HostResolver, limiter: RateLimiter, challtestsrv: ChallTestSrv
) -> None:
    squatter, owner = await owned_store(), await owned_store()
    host = unique_host()
    claimed = await domains.add(database, hosts, limiter, squatter, host)
    assert claimed.domain.status == DomainStatus.PENDING_DNS

    # Without proof, the real owner is told how to prove it, and nothing changes.
    token = await domains.store_token(owner)
    with pytest.raises(Conflict) as refused:
        await domains.add(database, hosts, limiter, owner, host)
    message = str(refused.value.message)
    assert "without proving it owns it" in message
    assert token in message
    assert dns_check.ownership_name(host) in message
    assert await scoped(squatter).query(Domain).filter(hostname=host).exists()

    point_at_platform(challtestsrv, database, host, token)
    won = await domains.add(database, hosts, limiter, owner, host)
    assert won.took_over
    assert won.domain.status == DomainStatus.VERIFIED
    assert not await scoped(squatter).query(Domain).exists()
    told = await owner_emails(squatter)
    assert [row.subject for row in told] == [f"Your claim on {host} was withdrawn"]


@pytest.mark.skipif(not ON_POSTGRES, reason="a race of two connections needs PostgreSQL")
async def test_two_stores_adding_one_hostname_at_once_one_gets_it(
    database: Settings, hosts: HostResolver, challtestsrv: ChallTestSrv, limiter: RateLimiter
) -> None:
    stores = [await owned_store() for _ in range(6)]
    host = unique_host()

    async def claim(store: Store) -> str:
        try:
            await domains.add(database, hosts, limiter, store, host)
        except Conflict:
            return "refused"
        return "added"

    outcomes = await asyncio.gather(*(claim(store) for store in stores))
    assert sorted(outcomes) == ["added"] + ["refused"] * 5
    assert await Domain.filter(hostname=host).count() == 1


# The schedule ---------------------------------------------------------------------------


def test_checks_back_off_from_every_minute_to_every_four_hours() -> None:
    assert domains.pending_interval(timedelta(0)) == timedelta(minutes=1)
    assert domains.pending_interval(timedelta(minutes=4)) == timedelta(minutes=1)
    assert domains.pending_interval(timedelta(hours=1)) == timedelta(minutes=12)
    assert domains.pending_interval(timedelta(days=3)) == timedelta(hours=4)


async def run_due(settings: Settings, kind: JobKind) -> list[str]:
    """One scheduler scan of `kind`, each row it hands out run by an in-process worker: what
    happened to each."""
    jobs = JobRegistry()
    jobs.add_kind(kind)
    runtime = Runtime(
        settings=settings, mailer=Mailer(settings), jobs=jobs, slots=asyncio.Semaphore(4)
    )
    kicked: list[tuple[str, int, str]] = []

    async def kick(kind: str, row_id: int, token: str) -> None:
        kicked.append((kind, row_id, token))

    await dispatch_due(kick, jobs)
    return list(await asyncio.gather(*(run_job(runtime, *job) for job in kicked)))


async def run_due_checks(app: Quart, settings: Settings) -> int:
    """One scheduler scan handing the due domain checks to an in-process worker."""
    outcomes = await run_due(settings, domains.check_job(resolver_of(app)))
    assert set(outcomes) <= {"done"}, outcomes
    return len(outcomes)


async def test_the_scheduler_verifies_a_domain_once_its_records_appear(
    app: Quart, client: Client, settings: Settings, challtestsrv: ChallTestSrv, limiter: RateLimiter
) -> None:
    store = await owned_store()
    host = unique_host()
    added = await domains.add(settings, resolver_of(app), limiter, store, host)
    assert await run_due_checks(app, settings) == 0  # not due for a minute

    point_at_platform(challtestsrv, settings, host, added.domain.verification_token)
    await Domain.filter(id=added.domain.id).update(next_attempt_at=datetime.now(UTC))
    assert await run_due_checks(app, settings) == 1

    domain = await domains.domain_of(store, added.domain.id)
    assert domain.status == DomainStatus.VERIFIED
    assert (domain.attempts, domain.claim_token, domain.done_at) == (0, "", None)
    assert domain.next_attempt_at is not None
    assert domain.next_attempt_at - datetime.now(UTC) > timedelta(minutes=55)  # hourly now
    assert (await client.get("/portal/login", headers={"Host": host})).status_code == 200
    emails = await owner_emails(store)
    assert [row.subject for row in emails] == [f"{host} is connected to {store.name}"]


async def test_a_domain_still_pending_after_seven_days_fails_and_the_owner_is_emailed(
    app: Quart, settings: Settings, challtestsrv: ChallTestSrv, limiter: RateLimiter
) -> None:
    store = await owned_store()
    host = unique_host()
    added = await domains.add(settings, resolver_of(app), limiter, store, host)
    week_ago = datetime.now(UTC) - timedelta(days=7, minutes=1)
    await Domain.filter(id=added.domain.id).update(
        pending_since=week_ago, next_attempt_at=datetime.now(UTC)
    )
    assert await run_due_checks(app, settings) == 1
    domain = await domains.domain_of(store, added.domain.id)
    assert (domain.status, domain.next_attempt_at) == (DomainStatus.FAILED, None)
    emails = await owner_emails(store)
    assert [row.subject for row in emails] == [f"We could not verify {host}"]
    assert "Verify now" in opened(emails[0]).text_body
    assert await run_due_checks(app, settings) == 0  # no more checks

    # "Verify now" starts it over.
    domain = await domains.check_now(settings, resolver_of(app), limiter, store, domain)
    assert domain.status == DomainStatus.PENDING_DNS
    assert domain.pending_since is not None
    assert domain.pending_since > week_ago


# Primary, links, the TLS terminator's question -----------------------------------------


async def test_the_primary_domain_is_the_one_emails_link_to_once_it_serves(
    database: Settings, hosts: HostResolver, limiter: RateLimiter, challtestsrv: ChallTestSrv
) -> None:
    store = await owned_store()
    first, second = unique_host("www"), unique_host("shop")
    token = await domains.store_token(store)
    point_at_platform(challtestsrv, database, second, token)
    one = await domains.add(database, hosts, limiter, store, first)  # pending: primary anyway
    two = await domains.add(database, hosts, limiter, store, second)
    assert (one.domain.is_primary, two.domain.is_primary) == (True, False)
    platform_link = f"http://{store.slug}.payfacile.localhost:8000/portal/"
    assert await store_url(database, store, "/portal/") == platform_link  # not serving yet

    await domains.make_primary(hosts, store, two.domain)
    listed = await domains.domains_of(store)
    assert [(d.hostname, d.is_primary) for d in listed] == [(second, True), (first, False)]
    assert await store_url(database, store, "/portal/") == f"http://{second}:8000/portal/"
    # Over HTTPS, only once it has a certificate (part 2).
    https = database.model_copy(update={"public_scheme": "https", "public_port": None})
    assert await store_url(https, store, "/portal/") == (
        f"https://{store.slug}.payfacile.localhost/portal/"
    )


async def test_the_tls_terminator_may_ask_only_for_verified_domains(
    app: Quart, client: Client, settings: Settings, challtestsrv: ChallTestSrv, limiter: RateLimiter
) -> None:
    hosts = resolver_of(app)
    store = await owned_store("acme")
    verified, pending = unique_host("www"), unique_host("shop")
    point_at_platform(challtestsrv, settings, verified, await domains.store_token(store))
    await domains.add(settings, hosts, limiter, store, verified)
    await domains.add(settings, hosts, limiter, store, pending)

    async def ask(domain: str, host: str = "payfacile.localhost") -> int:
        path = f"/.well-known/payfacile/tls-allowed?domain={domain}"
        return (await client.get(path, headers={"Host": host})).status_code

    # Answered from the host cache: the DNS server's records do not matter any more.
    challtestsrv.clear_txt(dns_check.ownership_name(verified))
    challtestsrv.clear_cname(verified)
    assert await ask(verified) == 200
    assert await ask(verified.upper()) == 200
    assert await ask(pending) == 404
    assert await ask("nobody.example") == 404
    assert await ask("acme.payfacile.localhost") == 404  # the platform's own certificate
    assert await ask("payfacile.localhost") == 404
    assert await ask("") == 404
    assert await ask("bad..name") == 404
    assert await ask(verified, host=verified) == 404  # not on a store's host
    assert await ask(verified, host="127.0.0.1:8000") == 200  # by address, as Caddy asks
    assert await ask(pending, host="127.0.0.1:8000") == 404


async def test_verify_now_is_rate_limited_per_domain(
    database: Settings, hosts: HostResolver, limiter: RateLimiter, challtestsrv: ChallTestSrv
) -> None:
    from payfacile.platform.errors import RateLimited

    store = await owned_store()
    added = await domains.add(database, hosts, limiter, store, unique_host())
    limit = int(re.match(r"\d+", domains.CHECKS).group())  # type: ignore[union-attr]
    for _ in range(limit):
        await domains.check_now(database, hosts, limiter, store, added.domain)
    with pytest.raises(RateLimited):
        await domains.check_now(database, hosts, limiter, store, added.domain)
