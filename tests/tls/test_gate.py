"""The permission gate and the order rows, through the scheduler's own scan: a row for each
verified domain only; a domain that is not (or no longer) connected and verified is never
ordered for; one back from dns_moved with its certificate still good is active again at
once, with no order. The CA here is unreachable (a closed port): any order would fail and
say so, so none being tried shows in the rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from quart import Quart

from payfacile.platform.config import Settings
from payfacile.platform.ratelimit import RateLimiter
from payfacile.tenants.hosts import resolver_of
from payfacile.tenants.models import Domain, DomainStatus
from payfacile.tenants.scope import scoped
from payfacile.tls import issuance
from payfacile.tls.challenges import Challenges
from payfacile.tls.models import AcmeOrder, Certificate
from tests.challtestsrv import ChallTestSrv, free_port
from tests.factories import make_certificate, make_domain, make_store
from tests.tenants.test_domains import run_due


async def scan(app: Quart, settings: Settings) -> list[str]:
    """One scheduler scan of the certificate work, each kicked row run in-process."""
    hosts = resolver_of(app)
    tools = issuance.Tools(
        hosts=hosts,
        challenges=Challenges(hosts.shared),
        limiter=RateLimiter("", prefix=settings.redis_prefix),
    )
    return await run_due(settings, issuance.order_job(tools))


@pytest.fixture
def settings(settings: Settings, challtestsrv: ChallTestSrv) -> Settings:
    """A CA on a closed port, and a DNS server holding no record of these domains."""
    return settings.model_copy(
        update={
            "acme_directory_url": f"https://127.0.0.1:{free_port()}/dir",
            "dns_nameservers": [challtestsrv.nameserver],
        }
    )


async def test_only_verified_domains_get_certificate_work(app: Quart, settings: Settings) -> None:
    store = await make_store("acme")
    for status in DomainStatus:
        if status != DomainStatus.REMOVED:
            await make_domain(store, f"{status.value.replace('_', '-')}.acme.test", status)
    await scan(app, settings)
    rows = await scoped(store).query(AcmeOrder).prefetch_related("domain")
    assert [row.domain.hostname for row in rows] == ["verified.acme.test"]


async def test_a_domain_no_longer_verified_is_never_ordered_for(
    app: Quart, settings: Settings
) -> None:
    store = await make_store("acme")
    domain = await make_domain(store, "shop.acme.test", DomainStatus.VERIFIED)
    await issuance.want_certificates()
    # Its DNS moved between the row's making and its run: the gate, re-read under the
    # row's claim, stops it before any ACME call.
    await scoped(store).query(Domain).filter(id=domain.id).update(status=DomainStatus.DNS_MOVED)
    assert await scan(app, settings) == ["done"]
    assert not await scoped(store).query(AcmeOrder).exists()
    assert (await scoped(store).get(Domain, id=domain.id)).status == DomainStatus.DNS_MOVED


async def test_back_from_dns_moved_with_a_good_certificate_it_is_active_without_an_order(
    app: Quart, settings: Settings
) -> None:
    store = await make_store("acme")
    domain = await make_domain(store, "shop.acme.test", DomainStatus.VERIFIED)
    await make_certificate(settings, store, domain.id, expires_in=timedelta(days=60))
    assert await scan(app, settings) == ["done"]
    assert (await scoped(store).get(Domain, id=domain.id)).status == DomainStatus.ACTIVE
    row = await scoped(store).get(AcmeOrder, domain_id=domain.id)
    certificate = await scoped(store).get(Certificate, domain_id=domain.id)
    assert (row.problem, row.next_attempt_at) == ("", certificate.renew_at)


async def test_a_failed_pre_flight_is_a_problem_retried_in_a_minute(
    app: Quart, settings: Settings
) -> None:
    """The pre-flight reaches nothing here (no DNS): the order stops before the CA."""
    store = await make_store("acme")
    domain = await make_domain(store, "shop.acme.test", DomainStatus.VERIFIED)
    assert await scan(app, settings) == ["done"]
    row = await scoped(store).get(AcmeOrder, domain_id=domain.id)
    assert row.problem == "preflight"
    assert row.failures == 1
    assert (await scoped(store).get(Domain, id=domain.id)).status == DomainStatus.ISSUING
    assert await scan(app, settings) == []  # not due again for a minute


async def test_a_certificate_run_out_unrenewed_leaves_the_domain_on_http_again(
    app: Quart, settings: Settings
) -> None:
    store = await make_store("acme")
    domain = await make_domain(store, "shop.acme.test", DomainStatus.ACTIVE)
    await make_certificate(
        settings, store, domain.id, expires_in=timedelta(days=-1)
    )  # expired yesterday
    await scoped(store).create(AcmeOrder, domain_id=domain.id, next_attempt_at=datetime.now(UTC))
    client = app.test_client()
    assert (await client.get("/portal/login", headers={"Host": domain.hostname})).status_code == 301
    assert await scan(app, settings) == ["done"]
    assert (await scoped(store).get(Domain, id=domain.id)).status == DomainStatus.ISSUING
    # No certificate to serve it with: plain HTTP serves again rather than send buyers to
    # a handshake that fails.
    assert (await client.get("/portal/login", headers={"Host": domain.hostname})).status_code == 200
