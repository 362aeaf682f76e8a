"""The platform watches expiry itself: a certificate running out unrenewed (a sixth of its
lifetime left, renewal having begun at a third) gets its store's owner one email, in the
store's language, saying when and why; a healthy one gets none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from payfacile.platform.config import Settings
from payfacile.platform.crypto import seal
from payfacile.tenants.models import Domain, DomainStatus, Store
from payfacile.tenants.scope import scoped
from payfacile.tls.expiry import warn_of_expiry
from payfacile.tls.models import AcmeOrder, Certificate
from payfacile.tls.sni import KEY_PURPOSE
from tests.factories import make_domain
from tests.tenants.test_domains import owned_store, owner_emails


async def _certificate(settings: Settings, store: Store, domain: Domain, left: timedelta) -> None:
    now = datetime.now(UTC)
    await scoped(store).create(
        Certificate,
        domain_id=domain.id,
        chain_pem="-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----\n",
        key_encrypted=seal(settings, KEY_PURPOSE, b"a key"),
        not_before=now + left - timedelta(days=90),
        not_after=now + left,
        serial="2a",
    )


async def test_an_unrenewed_certificate_is_reported_to_its_owner_once(
    database: Settings,
) -> None:
    store = await owned_store("acme")
    running_out = await make_domain(store, "shop.acme.test", DomainStatus.RENEWING)
    await _certificate(database, store, running_out, left=timedelta(days=9))
    await scoped(store).create(
        AcmeOrder,
        domain_id=running_out.id,
        problem="connection",
        error="Connection refused",
        failures=6,
        next_attempt_at=datetime.now(UTC) + timedelta(days=1),
    )
    healthy = await make_domain(store, "www.acme.test", DomainStatus.ACTIVE)
    await _certificate(database, store, healthy, left=timedelta(days=40))

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
    await _certificate(database, store, domain, left=timedelta(days=5))
    moved = await make_domain(store, "old.cafe.test", DomainStatus.DNS_MOVED)
    await _certificate(database, store, moved, left=timedelta(days=5))

    assert await warn_of_expiry(database) == 1
    [email] = await owner_emails(store)
    assert "boutique.cafe.test" in email.subject
    assert "expire le" in email.text_body
    assert "L’autorité de certification n’a pas pu le délivrer" in email.text_body
