"""HTTP-01 challenges: published to the shared store with a TTL, so whichever instance the CA
reaches answers; `GET /.well-known/acme-challenge/<token>` on any host (a hostless path)
answers an exact pending token only, and 404 otherwise.

With Redis, the tokens live there (`acme-challenge:{token}`), and publishing fails loudly when
Redis cannot take them: an order must not go to the CA with challenges no instance can
answer. Without Redis, one process serves and works, so they live in its memory.
"""

from __future__ import annotations

import re

from quart import Blueprint, current_app
from quart.typing import ResponseReturnValue
from redis.exceptions import RedisError

from payfacile.platform.cache import LocalCache, Shared

EXTENSION = "acme_challenges"
PATH = "/.well-known/acme-challenge/"
TTL_SECONDS = 15 * 60  # longer than any order's validation takes
TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")  # base64url, as RFC 8555 §8.3 says

blueprint = Blueprint("acme_challenge", __name__)


class ChallengeUnpublished(Exception):
    """The shared store could not take the challenge: no instance could answer it."""


class Challenges:
    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        self.local: LocalCache[str] = LocalCache(ttl=TTL_SECONDS, max_entries=10_000)

    def _key(self, token: str) -> str:
        return f"acme-challenge:{token}"

    async def publish(self, token: str, key_authorization: str) -> None:
        if self.shared.client is None:
            self.local.set(token, key_authorization)
            return
        try:
            await self.shared.client.set(
                self.shared.key(self._key(token)), key_authorization, ex=TTL_SECONDS
            )
        except RedisError as error:
            raise ChallengeUnpublished(f"Redis did not take the challenge: {error}") from error

    async def withdraw(self, *tokens: str) -> None:
        for token in tokens:
            self.local.discard(token)
        await self.shared.delete(*(self._key(token) for token in tokens))

    async def answer(self, token: str) -> str | None:
        if not TOKEN.match(token):
            return None
        if self.shared.client is None:
            return self.local.get(token)[1]
        found = await self.shared.get(self._key(token))
        return found.decode() if found is not None else None


def challenges_of() -> Challenges:
    found: Challenges = current_app.extensions[EXTENSION]
    return found


@blueprint.get(f"{PATH}<token>")
async def challenge(token: str) -> ResponseReturnValue:
    headers = {"Content-Type": "text/plain", "Cache-Control": "no-store"}
    found = await challenges_of().answer(token)
    if found is None:
        return "not found\n", 404, headers
    return found, 200, headers
