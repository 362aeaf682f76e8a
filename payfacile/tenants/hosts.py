"""Host → store resolution (docs/architecture.md, "Request flow").

Lookups are cached in-process and in Redis. A change to a store or a domain calls
`HostResolver.invalidate`, which fences the Redis entries and publishes on a channel every
instance listens to, so each drops its in-process entries at once. A lookup that read the
database before the change writes neither cache after it (`payfacile.platform.cache`).
Without Redis the in-process entries expire after `Settings.host_cache_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import idna

from payfacile.platform.asgi import ASGIApp, Receive, Scope, Send
from payfacile.platform.cache import LocalCache, Shared
from payfacile.platform.config import Settings
from payfacile.platform.errors import BadHost, NoStoreHere
from payfacile.platform.text import _l
from payfacile.tenants.models import (
    SERVING_DOMAIN_STATUSES,
    WITH_CERTIFICATE,
    Domain,
    DomainStatus,
    Store,
)
from payfacile.tenants.scope import across_stores, scoped

if TYPE_CHECKING:
    from quart import Quart

log = logging.getLogger(__name__)

EXTENSION = "payfacile.hosts"
LISTENER_STOP_SECONDS = 0.5
LISTENER_STOP_ATTEMPTS = 6

LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
INVALIDATION_CHANNEL = "hosts:invalidate"
SHARED_TTL_SECONDS = 300
UNKNOWN_HOST_TTL_SECONDS = 30  # short: made-up hostnames must not pile up in Redis
FENCE_SECONDS = 30  # outlasts any lookup's time between its database read and its cache write
LOCAL_TTL_WITH_REDIS_SECONDS = 30.0
CACHED_STORE_FIELDS = (
    "id",
    "slug",
    "name",
    "status",
    "locale",
    "currency",
    "support_email",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "country",
    "vat_number",
    "brand_color",
    "logo_etag",
    "time_zone",
)


class IpAddressHost(BadHost):
    """A Host that is an IP address (a visitor who typed the server's): stores have names."""

    title = _l("No store at this address")


def normalise_host(raw: str | None) -> str:
    """The canonical form of a Host header: lower-case punycode, no port, no trailing dot."""
    return _normalise((raw or "").strip())


@functools.lru_cache(maxsize=4096)
def _normalise(host: str) -> str:
    # Memoised: IDNA encoding is slow pure Python, and a few hostnames make most requests.
    if not host:
        raise BadHost(_l("This request has no Host header."))
    if host.startswith("["):
        raise IpAddressHost(_l("Stores are not served on IP addresses."))
    name, sep, port = host.rpartition(":")
    if sep:
        if not port.isdigit() or not name:
            raise BadHost(_l("The Host header is not a valid hostname."))
        host = name
    host = host.rstrip(".").lower()
    try:
        host = idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as error:
        raise BadHost(_l("The Host header is not a valid hostname.")) from error
    if len(host) > 253 or not all(LABEL.match(label) for label in host.split(".")):
        raise BadHost(_l("The Host header is not a valid hostname."))
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    raise IpAddressHost(_l("Stores are not served on IP addresses."))


class HostGuard:
    """ASGI middleware: normalise the Host header once, before anything routes on it.

    Werkzeug binds its URL adapter to the Host before any `before_request` runs and raises
    outside every error handler on a name IDNA refuses (`acme.example..` among them). So
    the app only ever sees the canonical Host (its port kept, for the Origin check); one
    that does not normalise is swapped for a placeholder the request flow answers with 400.
    """

    PLACEHOLDER = b"invalid-host.invalid"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in {"http", "websocket"}:
            headers = list(scope.get("headers", []))
            raw = next((value for name, value in headers if name == b"host"), b"")
            try:
                hostname = normalise_host(raw.decode("latin-1"))
            except BadHost as error:
                scope["payfacile.host_error"] = error
                canonical = self.PLACEHOLDER
            else:
                scope["payfacile.host"] = hostname
                canonical = _with_port(hostname, raw)
            if canonical != raw:
                headers = [(n, v) for n, v in headers if n != b"host"]
                headers.append((b"host", canonical))
                scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


def _with_port(hostname: str, raw: bytes) -> bytes:
    """`hostname` with the port `raw` named (a Host that normalised: any port is digits)."""
    _, sep, port = raw.strip().rpartition(b":")
    return hostname.encode() + (b":" + port if sep else b"")


def guarded_host(scope: Mapping[str, Any]) -> str:
    """The Host `HostGuard` normalised for this request; raises the `BadHost` it found."""
    error: BadHost | None = scope.get("payfacile.host_error")
    if error is not None:
        raise error
    hostname: str = scope["payfacile.host"]
    return hostname


@dataclass(frozen=True, slots=True)
class Site:
    """What a hostname serves: the central host, or a store (by subdomain or custom domain)."""

    hostname: str
    kind: Literal["central", "store"]
    store: Store | None = None
    custom_domain: bool = False
    primary_domain: str | None = None  # the store's active primary custom domain, if any
    secure: bool = False  # a custom domain with a certificate: HTTPS only, with HSTS


def _store_to_dict(store: Store) -> dict[str, Any]:
    return {name: getattr(store, name) for name in CACHED_STORE_FIELDS}


def _store_from_dict(values: dict[str, Any]) -> Store:
    store = Store(**values)
    store._saved_in_db = True
    return store


def _encode(site: Site | None) -> str:
    if site is None:
        return json.dumps(None)
    return json.dumps(
        {
            "hostname": site.hostname,
            "kind": site.kind,
            "store": _store_to_dict(site.store) if site.store else None,
            "custom_domain": site.custom_domain,
            "primary_domain": site.primary_domain,
            "secure": site.secure,
        }
    )


def _decode(raw: str | bytes) -> Site | None:
    data = json.loads(raw)
    if data is None:
        return None
    store = _store_from_dict(data["store"]) if data["store"] else None
    return Site(
        hostname=data["hostname"],
        kind=data["kind"],
        store=store,
        custom_domain=data["custom_domain"],
        primary_domain=data["primary_domain"],
        secure=data.get("secure", False),
    )


class HostResolver:
    def __init__(self, settings: Settings, shared: Shared) -> None:
        self.settings = settings
        self.shared = shared
        ttl = LOCAL_TTL_WITH_REDIS_SECONDS if shared.enabled else settings.host_cache_seconds
        self.local: LocalCache[Site | None] = LocalCache(ttl=ttl)
        self._in_flight: dict[str, asyncio.Future[Site | None]] = {}
        # Told of every invalidation this instance applies, its own or another's (None:
        # everything, after a lost subscription): what else caches by hostname follows.
        self.listeners: list[Callable[[list[str] | None], None]] = []

    def store_hostname(self, slug: str) -> str:
        return f"{slug}.{self.settings.platform_domain}"

    async def resolve(self, raw_host: str | None) -> Site:
        """The site for a Host header. Raises `BadHost` (400) or `NoStoreHere` (404)."""
        return await self.resolve_normalised(normalise_host(raw_host))

    async def resolve_normalised(self, hostname: str) -> Site:
        found, site = self.local.get(hostname)
        if not found:
            generation = self.local.generation
            site = await self._lookup_once(hostname)
            if self.local.generation == generation:  # else an invalidation came meanwhile
                self.local.set(hostname, site)
        if site is None:
            raise NoStoreHere(_l("There is no store at %(host)s.", host=hostname))
        return site

    async def _lookup_once(self, hostname: str) -> Site | None:
        """One lookup per hostname at a time: requests that miss together share it, so an
        expiring entry does not send every in-flight request to the database."""
        pending = self._in_flight.get(hostname)
        if pending is None:
            pending = asyncio.ensure_future(self._lookup_shared(hostname))
            self._in_flight[hostname] = pending
            pending.add_done_callback(lambda done: self._done(hostname, done))
        return await asyncio.shield(pending)

    def _done(self, hostname: str, lookup: asyncio.Future[Site | None]) -> None:
        if self._in_flight.get(hostname) is lookup:
            del self._in_flight[hostname]

    def _forget(self, hostname: str) -> None:
        """Drop the in-process entry, and any lookup begun before: nobody joins it now."""
        self.local.discard(hostname)
        self._in_flight.pop(hostname, None)

    async def _lookup_shared(self, hostname: str) -> Site | None:
        cached = await self.shared.get(f"host:{hostname}")
        if cached is not None:
            return _decode(cached)
        site = await self.lookup(hostname)
        ttl = SHARED_TTL_SECONDS if site is not None else UNKNOWN_HOST_TTL_SECONDS
        await self.shared.set_unless_fenced(f"host:{hostname}", _encode(site), ttl=ttl)
        return site

    async def lookup(self, hostname: str) -> Site | None:
        """Resolve from the database, bypassing every cache."""
        central = self.settings.platform_domain
        if hostname == central:
            return Site(hostname=hostname, kind="central")
        if hostname.endswith(f".{central}"):
            slug = hostname[: -len(central) - 1]
            if "." in slug:
                return None
            store = await Store.get_or_none(slug=slug)
            if store is None:
                return None
            return Site(
                hostname=hostname,
                kind="store",
                store=store,
                primary_domain=await self._active_primary(store),
            )
        domain = (
            await across_stores(Domain, reason="host resolution")
            .filter(hostname=hostname, status__in=list(SERVING_DOMAIN_STATUSES))
            .select_related("store")
            .first()
        )
        if domain is None:
            return None
        return Site(
            hostname=hostname,
            kind="store",
            store=domain.store,
            custom_domain=True,
            secure=domain.status in WITH_CERTIFICATE,
        )

    async def _active_primary(self, store: Store) -> str | None:
        domain = (
            await scoped(store)
            .query(Domain)
            .filter(is_primary=True, status=DomainStatus.ACTIVE)
            .first()
        )
        return domain.hostname if domain else None

    async def hostnames_of(self, store: Store) -> list[str]:
        domains = await scoped(store).query(Domain).values_list("hostname", flat=True)
        return [self.store_hostname(store.slug), *(str(name) for name in domains)]

    async def invalidate(self, hostnames: list[str]) -> None:
        """Forget `hostnames` here, in Redis, and (through pub/sub) on every other instance."""
        for hostname in hostnames:
            self._forget(hostname)
        self._tell(hostnames)
        await self.shared.fence(*(f"host:{hostname}" for hostname in hostnames), ttl=FENCE_SECONDS)
        await self.shared.publish(INVALIDATION_CHANNEL, json.dumps(hostnames))

    async def invalidate_store(self, store: Store, *extra_hostnames: str) -> None:
        await self.invalidate([*await self.hostnames_of(store), *extra_hostnames])

    def _on_invalidation(self, message: str) -> None:
        try:
            hostnames = json.loads(message)
        except ValueError:
            self._clear()
            return
        for hostname in hostnames:
            self._forget(str(hostname))
        self._tell([str(hostname) for hostname in hostnames])

    def _clear(self) -> None:
        self.local.clear()
        self._tell(None)

    def _tell(self, hostnames: list[str] | None) -> None:
        for listener in self.listeners:
            listener(hostnames)

    async def listen(self) -> None:
        """Apply other instances' invalidations until cancelled (only with Redis)."""
        await self.shared.listen(
            INVALIDATION_CHANNEL, self._on_invalidation, on_reconnect=self._clear
        )

    def start_listening(self) -> asyncio.Task[None] | None:
        if not self.shared.enabled:
            return None
        return asyncio.create_task(self.listen(), name="host-invalidation")

    @contextlib.asynccontextmanager
    async def listening(self) -> AsyncIterator[None]:
        """Apply other instances' invalidations while inside (only with Redis). On the way out
        the listener is cancelled and awaited, so nothing still reads Redis as it closes."""
        task = self.start_listening()
        try:
            yield
        finally:
            if task is not None:
                await _stop(task)


async def _stop(task: asyncio.Task[None]) -> None:
    """Cancel `task` and wait until it is over, cancelling again should it swallow one
    (a client library may catch a cancellation mid-read); give up, saying so, after a while."""
    for _ in range(LISTENER_STOP_ATTEMPTS):
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=LISTENER_STOP_SECONDS)
        if done:
            with contextlib.suppress(asyncio.CancelledError):
                task.result()
            return
    log.warning("the host-invalidation listener did not stop; leaving it behind")


def resolver() -> HostResolver:
    """This app's host resolver (inside a request or the app context)."""
    from quart import current_app

    return resolver_of(current_app)


def resolver_of(app: Quart) -> HostResolver:
    found: HostResolver = app.extensions[EXTENSION]
    return found
