"""The certificate for each handshake, chosen by its SNI name from memory.

`serve --https-port` calls `serving_https()` before it starts, then asks `context_for(name)`
in the handshake (`ssl.SSLContext.sni_callback`, which cannot wait for a database): the
cache loads every serving custom domain's newest certificate when the app starts, and
reloads a hostname whenever the host resolver invalidates it, here or (through Redis) on
any instance: a new, renewed or removed certificate is served, or no longer, within the
invalidation's delay. A full reload every `REFRESH_SECONDS` catches what a lost message
missed. A name with no certificate here gets the server's default certificate (and then
the "no store here" page), never another store's.

Keys are decrypted in memory only: `ssl` loads keys from files, so each is written to a
temporary file re-encrypted under a one-time password (`load_cert_chain(password=)`) and
the file is deleted at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import secrets
import ssl
import tempfile
from collections.abc import AsyncIterator

from cryptography.hazmat.primitives import serialization

from payfacile.platform.config import Settings
from payfacile.platform.crypto import unseal
from payfacile.tenants.hosts import HostResolver
from payfacile.tenants.models import SERVING_DOMAIN_STATUSES
from payfacile.tenants.scope import across_stores
from payfacile.tls.models import Certificate

log = logging.getLogger(__name__)

KEY_PURPOSE = "tls-private-key"  # what `crypto.seal` seals certificate keys for
REFRESH_SECONDS = 60.0
LOAD_BATCH = 200  # certificates read at once when many changed


def server_context(chain_pem: str, key_pem: bytes) -> ssl.SSLContext:
    """A server context for one certificate chain and its key, the key never on disk in the
    clear."""
    password = secrets.token_bytes(32)
    key = serialization.load_pem_private_key(key_pem, password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    descriptor, path = tempfile.mkstemp(prefix="payfacile-cert-", suffix=".pem")  # 0600
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(chain_pem.encode() + b"\n" + encrypted)
        context.load_cert_chain(path, password=password)
    finally:
        os.unlink(path)
    return context


async def served(hostnames: list[str] | None, *, reason: str) -> dict[str, int]:
    """Hostname → the id of the certificate it is served with: the newest unexpired one of
    each custom domain that serves (of `hostnames`, or of all). Ids only: a full refresh of
    thousands reads no chain or key."""
    query = across_stores(Certificate, reason=reason).filter(
        not_after__gt=dt.datetime.now(dt.UTC), domain__status__in=list(SERVING_DOMAIN_STATUSES)
    )
    if hostnames is not None:
        query = query.filter(domain__hostname__in=hostnames)
    rows = await query.order_by("id").values_list("id", "domain__hostname")
    return {str(hostname): int(row_id) for row_id, hostname in rows}  # the newest wins


async def opened(
    settings: Settings, ids: list[int], *, reason: str
) -> AsyncIterator[tuple[str, int, str, bytes]]:
    """(hostname, id, chain, key) of the certificates `ids`, their keys unsealed in memory,
    read `LOAD_BATCH` at a time."""
    for start in range(0, len(ids), LOAD_BATCH):
        rows = await (
            across_stores(Certificate, reason=reason)
            .filter(id__in=ids[start : start + LOAD_BATCH])
            .values("id", "domain__hostname", "chain_pem", "key_encrypted")
        )
        for row in rows:
            key_pem = unseal(settings, KEY_PURPOSE, str(row["key_encrypted"]))
            yield str(row["domain__hostname"]), int(row["id"]), str(row["chain_pem"]), key_pem


class CertificateCache:
    def __init__(self, settings: Settings, hosts: HostResolver) -> None:
        self.settings = settings
        self.hosts = hosts
        self.contexts: dict[str, ssl.SSLContext] = {}
        self.loaded: dict[str, int] = {}  # hostname → the certificate id in `contexts`
        self.https = False
        self._reloads: set[asyncio.Task[None]] = set()
        # One reload at a time: each reads the database after the one before it finished,
        # so a slow full refresh can never put back what a later invalidation dropped.
        self._one_at_a_time = asyncio.Lock()

    def serving_https(self) -> None:
        """This process terminates TLS: load certificates when the app starts, follow them."""
        self.https = True

    def context_for(self, server_name: str) -> ssl.SSLContext | None:
        return self.contexts.get(server_name.lower().rstrip("."))

    def sni_callback(
        self, connection: ssl.SSLObject, server_name: str | None, _default: ssl.SSLContext
    ) -> None:
        if server_name:
            chosen = self.context_for(server_name)
            if chosen is not None:
                connection.context = chosen

    def _hosts_changed(self, hostnames: list[str] | None) -> None:
        """The host resolver's invalidation (None: everything): reload those hostnames."""
        task = asyncio.ensure_future(self.reload(hostnames))
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def reload(self, hostnames: list[str] | None = None) -> None:
        """Load the newest certificate of each of `hostnames` (every one when None) whose
        domain serves, and drop those that no longer do."""
        try:
            async with self._one_at_a_time:
                await self._reload(hostnames)
        except Exception:
            log.exception("reloading certificates failed; the next refresh tries again")

    async def _reload(self, hostnames: list[str] | None) -> None:
        newest = await served(hostnames, reason="host resolution")
        for hostname in list(self.contexts) if hostnames is None else hostnames:
            if hostname not in newest:
                self.contexts.pop(hostname, None)
                self.loaded.pop(hostname, None)
        changed = [row_id for name, row_id in newest.items() if self.loaded.get(name) != row_id]
        async for hostname, row_id, chain_pem, key_pem in opened(
            self.settings, changed, reason="host resolution"
        ):
            self.contexts[hostname] = await asyncio.to_thread(server_context, chain_pem, key_pem)
            self.loaded[hostname] = row_id

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """While the app serves: when this process terminates TLS, load every certificate,
        follow the host invalidations, and reload everything every `REFRESH_SECONDS`."""
        if not self.https:
            yield
            return
        await self.reload()
        self.hosts.listeners.append(self._hosts_changed)
        refresher = asyncio.create_task(self._refresh(), name="certificate-refresh")
        try:
            yield
        finally:
            self.hosts.listeners.remove(self._hosts_changed)
            refresher.cancel()
            for task in [refresher, *self._reloads]:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            await self.reload()
