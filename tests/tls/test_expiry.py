"""The platform watches expiry itself: a certificate running out unrenewed (a sixth of its
lifetime left, renewal having begun at a third) gets its store's owner one email, in the
store's language, saying when and why; a healthy one gets none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from payfacile.platform.config import Settings
from payfacile.tenants.models import DomainStatus, Store
from payfacile.tenants.scope import scoped
from payfacile.tls.expiry import warn_of_expiry
from payfacile.tls.models import AcmeOrder
from tests.factories import make_certificate, make_domain
from tests.tenants.test_domains import owned_store, owner_emails


async def test_an_unrenewed_certificate_is_reported_to_its_owner_once(
    database: Settings,
) -> None:
    store = await owned_store("acme")
    running_out = await make_domain(store, "shop.acme.test", DomainStatus.RENEWING)
    await make_certificate(database, store, running_out.id, expires_in=timedelta(days=9))
    await scoped(store).create(
        AcmeOrder,
        domain_id=running_out.id,
        problem="connection",
        error="Connection refused",
        failures=6,
        next_attempt_at=datetime.now(UTC) + timedelta(days=1),
    )
    healthy = await make_domain(store, "www.acme.test", DomainStatus.ACTIVE)
    await make_certificate(database, store, healthy.id, expires_in=timedelta(days=40))

    assert await warn_of_expiry(database) == 1
    assert await warn_of_expiry(database) == 0  # once, not at every sweep
    [email] = await owner_emails(store)
    assert email.subject == "The HTTPS certificate of shop.acme.test expires soon"
    assert "could not connect to this domain" in email.text_body
    expires = (datetime.now(UTC) + timedelta(days=9)).strftime("%Y")
    assert expires in email.text_body


async def test_the_email_speaks_the_stores_language_and_moved_domains_are_left_alone(
    database: Settings,
) -> None:
    store = await owned_store("cafe")
    await Store.filter(id=store.id).update(locale="fr")
    store = await Store.get(id=store.id)
    domain = await make_domain(store, "boutique.cafe.test", DomainStatus.ACTIVE)
    await make_certificate(database, store, domain.id, expires_in=timedelta(days=5))
    moved = await make_domain(store, "old.cafe.test", DomainStatus.DNS_MOVED)
    await make_certificate(database, store, moved.id, expires_in=timedelta(days=5))

    assert await warn_of_expiry(database) == 1
    [email] = await owner_emails(store)
    assert "boutique.cafe.test" in email.subject
    assert "expire le" in email.text_body
    assert "L’autorité de certification n’a pas pu le délivrer" in email.text_body
