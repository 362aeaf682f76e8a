"""Server-side sessions stored in the database; Redis, when there, caches them.

The cookie holds 32 random bytes; the database and Redis hold only their SHA-256. A Redis
outage costs a database read, never a sign-out. Ending a session fences its cache entry, so
a request that read the row just before cannot cache it again after (`Shared.fence`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from werkzeug.sansio.response import Response

from payfacile.platform.cache import Shared
from payfacile.platform.config import Settings
from payfacile.platform.models import Session, SessionKind
from payfacile.platform.security import cookies_secure

SESSION_LIFETIME = timedelta(days=14)
TOUCH_EVERY = timedelta(minutes=5)
# Short: a session ended while Redis was unreachable lives on in the cache at most this long.
CACHE_TTL_SECONDS = 60


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class SignedIn:
    """The loaded session: who is signed in, for which store, and the session's own data."""

    id_hash: str
    kind: SessionKind
    subject_id: int
    store_id: int | None
    expires_at: datetime
    last_seen_at: datetime
    data: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": self.kind.value,
                "subject_id": self.subject_id,
                "store_id": self.store_id,
                "expires_at": self.expires_at.isoformat(),
                "last_seen_at": self.last_seen_at.isoformat(),
                "data": self.data,
            }
        )

    @classmethod
    def from_json(cls, id_hash: str, raw: bytes) -> SignedIn:
        values = json.loads(raw)
        return cls(
            id_hash=id_hash,
            kind=SessionKind(values["kind"]),
            subject_id=values["subject_id"],
            store_id=values["store_id"],
            expires_at=datetime.fromisoformat(values["expires_at"]),
            last_seen_at=datetime.fromisoformat(values["last_seen_at"]),
            data=values["data"],
        )

    @classmethod
    def from_row(cls, row: Session) -> SignedIn:
        return cls(
            id_hash=row.id_hash,
            kind=SessionKind(row.kind),
            subject_id=row.subject_id,
            store_id=row.store_id,
            expires_at=row.expires_at,
            last_seen_at=row.last_seen_at,
            data=dict(row.data or {}),
        )


class Sessions:
    def __init__(self, settings: Settings, shared: Shared) -> None:
        self.settings = settings
        self.shared = shared

    @property
    def cookie_name(self) -> str:
        # The __Host- prefix makes browsers refuse the cookie unless it is Secure, host-only
        # and for path "/": exactly what production sets.
        return "__Host-pf_session" if self.settings.production else "pf_session"

    async def start(
        self,
        *,
        kind: SessionKind,
        subject_id: int,
        store_id: int | None,
        replacing: str | None = None,
    ) -> str:
        """A new session for a sign-in. The session being replaced (if any) is ended:
        the id always changes at sign-in, so a planted cookie is worth nothing."""
        if replacing:
            await self.end(replacing)
        token = secrets.token_urlsafe(32)
        now = _now()
        await Session.create(
            id_hash=_hash(token),
            kind=kind,
            subject_id=subject_id,
            store_id=store_id,
            data={},
            created_at=now,
            last_seen_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
        return token

    async def load(self, token: str | None, *, store_id: int | None) -> SignedIn | None:
        """The live session for this cookie on this store's host, or None."""
        if not token or len(token) > 128:
            return None
        id_hash = _hash(token)
        cached = await self.shared.get(f"session:{id_hash}")
        if cached is not None:
            session: SignedIn | None = SignedIn.from_json(id_hash, cached)
        else:
            row = await Session.get_or_none(id_hash=id_hash)
            session = SignedIn.from_row(row) if row else None
            if session is not None:
                await self._cache(session)
        if session is None or session.store_id != store_id or session.expires_at <= _now():
            return None
        if _now() - session.last_seen_at > TOUCH_EVERY:
            await self._touch(session)
        return session

    async def _touch(self, session: SignedIn) -> None:
        now = _now()
        session.last_seen_at = now
        session.expires_at = now + SESSION_LIFETIME
        await Session.filter(id_hash=session.id_hash).update(
            last_seen_at=now, expires_at=session.expires_at
        )
        await self._cache(session)

    async def _cache(self, session: SignedIn) -> None:
        await self.shared.set_unless_fenced(
            f"session:{session.id_hash}", session.to_json(), ttl=CACHE_TTL_SECONDS
        )

    async def _uncache(self, hashes: list[str]) -> None:
        await self.shared.fence(*(f"session:{h}" for h in hashes), ttl=CACHE_TTL_SECONDS)

    async def end(self, token: str) -> None:
        id_hash = _hash(token)
        await Session.filter(id_hash=id_hash).delete()
        await self._uncache([id_hash])

    async def end_all(self, *, kind: SessionKind, subject_id: int, keep: str | None = None) -> int:
        """End every session of one person, except `keep` (e.g. after a password change)."""
        query = Session.filter(kind=kind, subject_id=subject_id)
        if keep:
            query = query.exclude(id_hash=_hash(keep))
        hashes = await query.values_list("id_hash", flat=True)
        await Session.filter(id_hash__in=list(hashes)).delete()
        await self._uncache([str(h) for h in hashes])
        return len(hashes)

    def set_cookie(self, response: Response, token: str) -> None:
        response.set_cookie(
            self.cookie_name,
            token,
            max_age=int(SESSION_LIFETIME.total_seconds()),
            path="/",
            secure=cookies_secure(self.settings),
            httponly=True,
            samesite="Lax",
        )

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(
            self.cookie_name,
            path="/",
            secure=cookies_secure(self.settings),
            httponly=True,
            samesite="Lax",
        )
