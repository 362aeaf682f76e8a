"""The platform watches expiry itself (Let's Encrypt no longer emails about it): a sweep
finds the served certificates with less than a sixth of their lifetime left — renewal
began at a third, so renewing has failed for a while — and tells the store's owner once,
with the last problem in words, and logs an error for the operator."""

from __future__ import annotations

import datetime as dt
import logging

from payfacile.platform.config import Settings
from payfacile.platform.i18n import date, language_of
from payfacile.tenants import domains
from payfacile.tenants.models import SERVING_DOMAIN_STATUSES, DomainStatus
from payfacile.tenants.scope import across_stores, scoped
from payfacile.tls.models import AcmeOrder, Certificate
from payfacile.tls.status import problem_words

log = logging.getLogger(__name__)

LONGEST_WATCHED = dt.timedelta(days=400)  # longer than any lifetime a CA still issues


def warning_due(certificate: Certificate, now: dt.datetime) -> bool:
    lifetime = certificate.not_after - certificate.not_before
    return certificate.not_after - now < lifetime / 6


async def warn_of_expiry(settings: Settings) -> int:
    """Tell the owners of certificates running out unrenewed; how many were told."""
    now = dt.datetime.now(dt.UTC)
    candidates = await (
        across_stores(Certificate, reason="scheduler")
        .filter(
            expiry_warned_at=None,
            not_after__lt=now + LONGEST_WATCHED / 6,
            domain__status__in=[
                status for status in SERVING_DOMAIN_STATUSES if status != DomainStatus.DNS_MOVED
            ],  # a moved domain is not renewed, and its owner was told why
        )
        .select_related("domain__store")
    )
    told = 0
    for certificate in candidates:
        if not warning_due(certificate, now):
            continue
        claimed = await (
            scoped(certificate.domain.store)
            .query(Certificate)
            .filter(id=certificate.id, expiry_warned_at=None)
            .update(expiry_warned_at=now)
        )
        if not claimed:
            continue  # another scheduler told them
        order = await (
            scoped(certificate.domain.store)
            .query(AcmeOrder)
            .filter(domain_id=certificate.domain_id)
            .first()
        )
        problem = problem_words(order.problem if order else "", settings)
        log.error(
            "the certificate of %s expires on %s and is not renewed yet (%s: %s)",
            certificate.domain.hostname,
            certificate.not_after,
            order.problem if order else "no order",
            order.error if order else "",
        )
        store = certificate.domain.store
        language = language_of(store.locale)
        await domains.tell_owner(
            settings,
            store,
            certificate.domain.hostname,
            "expiring",
            date=date(certificate.not_after, language, store.zone),
            problem=problem.in_language(language),
        )
        told += 1
    return told
