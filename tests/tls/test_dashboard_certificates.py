"""What the owner reads of each domain's certificate on the Domains page: its expiry and
renewal, that one is on its way, or what went wrong, in words, and when we try again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from quart.typing import TestClientProtocol as Client

from payfacile.platform.config import Settings
from payfacile.tenants.models import DomainStatus, MembershipRole
from payfacile.tenants.scope import scoped
from payfacile.tls.models import AcmeOrder
from tests.factories import make_certificate, make_domain, make_store
from tests.merchants import merchant
from tests.tenants.test_dashboard_domains import PAGE, page, text_of


def section(body: str, domain_id: int) -> str:
    """The words of one domain's card on the page."""
    return text_of(body.split(f'id="domain-{domain_id}"')[1].split("</section>")[0])


async def test_the_owner_sees_expiry_renewal_and_problems_in_words(
    client: Client, settings: Settings
) -> None:
    store = await make_store("acme")
    await merchant(client, store, MembershipRole.OWNER, "owner@acme.example")
    active = await make_domain(store, "shop.acme.test", DomainStatus.ACTIVE)
    await make_certificate(settings, store, active.id, expires_in=timedelta(days=90))
    coming = await make_domain(store, "www.acme.test", DomainStatus.ISSUING)
    retry = datetime(2030, 5, 17, 9, 30, tzinfo=UTC)
    await scoped(store).create(
        AcmeOrder,
        domain_id=coming.id,
        problem="preflight",
        error="http://www.acme.test/.well-known/acme-challenge/… answered 404",
        failures=2,
        next_attempt_at=retry,
    )
    pending = await make_domain(store, "new.acme.test", DomainStatus.PENDING_DNS)

    body = await page(client)
    shop, www, new = (section(body, domain.id) for domain in (active, coming, pending))
    expires = (datetime.now(UTC) + timedelta(days=90)).year
    assert "HTTPS certificate" in shop
    assert "Valid until" in shop
    assert str(expires) in shop
    assert "renewed automatically" in shop
    assert "Being obtained" not in www  # not "under a minute": something went wrong
    assert "We could not reach this domain over HTTP" in www
    assert "We try again on" in www
    assert "2030" in www
    assert "answered 404" in www  # the technical detail, for support
    assert "HTTPS certificate" not in new  # nothing to say before it is verified


async def test_the_same_page_in_french(client: Client, settings: Settings) -> None:
    store = await make_store("acme", locale="fr")
    await merchant(client, store, MembershipRole.OWNER, "owner@acme.example")
    client.set_cookie("payfacile.localhost", "pf_lang", "fr")
    active = await make_domain(store, "shop.acme.test", DomainStatus.ACTIVE)
    await make_certificate(settings, store, active.id, expires_in=timedelta(days=60))
    words = section(await page(client, PAGE), active.id)
    assert "Certificat HTTPS" in words
    assert "Valable jusqu’au" in words
