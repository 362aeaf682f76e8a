"""The account machinery every kind of account shares: admins, merchants and buyers.

A part says where its accounts live with a `Directory`; sign-in, choosing a password with an
emailed link and asking for a reset work the same on any of them. No answer reveals whether
an account exists: a failed sign-in and a reset request for an unknown address look exactly
like those for a known one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from email_validator import EmailNotValidError, validate_email
from tortoise.transactions import in_transaction

from payfacile.platform import tokens
from payfacile.platform.errors import InvalidInput
from payfacile.platform.models import SessionKind, TokenPurpose
from payfacile.platform.passwords import check_new_password, hash_password, verify_password
from payfacile.platform.text import _l

if TYPE_CHECKING:
    from payfacile.platform.ratelimit import RateLimiter

SIGN_IN_ATTEMPTS = "10/15minutes"
RESET_REQUESTS = "5/hour"


class Account(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def email(self) -> str: ...

    password_hash: str | None


class Directory(Protocol):
    """Where one kind of account lives: admins, merchants, or one store's buyers."""

    @property
    def kind(self) -> SessionKind: ...
    @property
    def store_id(self) -> int | None: ...

    async def find(self, email: str) -> Account | None: ...
    async def get(self, account_id: int) -> Account | None: ...
    async def save_password(self, account_id: int, password_hash: str) -> None: ...


def normalise_email(email: str, *, field: str = "email") -> str:
    """The address as stored (lower case, normalised); `InvalidInput` on `field` if invalid."""
    try:
        checked = validate_email((email or "").strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidInput(
            _l("Enter a valid email address, like name@example.com."), field=field
        ) from error
    return checked.normalized.lower()


async def count_reset_request(
    limiter: RateLimiter, directory: Directory, email: str, *, client: str
) -> None:
    """Count a reset request per client and per address (`RateLimited` past the limit).

    Known or not, the address costs the same here: the caller answers at once and looks the
    account up after the answer (`account_pages.after_the_answer`)."""
    email = email.strip().lower()
    realm = f"{directory.kind.value}:{directory.store_id or ''}"
    await limiter.hit(RESET_REQUESTS, "reset", realm, client)
    await limiter.hit(RESET_REQUESTS, "reset-account", realm, email)


async def set_password(
    directory: Directory, raw_token: str, *, invitation: bool, password: str, confirm: str
) -> Account:
    """Choose a password with an emailed link; the link is used up."""
    purpose = TokenPurpose.INVITATION if invitation else TokenPurpose.PASSWORD_RESET
    kind, store_id = directory.kind, directory.store_id
    token = await tokens.peek(raw_token, purpose=purpose, subject_kind=kind, store_id=store_id)
    account = await directory.get(token.subject_id)
    if account is None:
        raise tokens.TokenUnusable(_l("This link is not valid."), reason="unknown")
    check_new_password(password, confirm, email=account.email)
    hashed = await hash_password(password)
    async with in_transaction():
        await tokens.consume(raw_token, purpose=purpose, subject_kind=kind, store_id=store_id)
        await directory.save_password(account.id, hashed)
    account.password_hash = hashed
    return account


async def authenticate(
    limiter: RateLimiter, directory: Directory, email: str, password: str, *, client: str
) -> Account:
    """The account for these credentials, or `InvalidInput` that names neither part.

    Every attempt is counted before the password is checked, in one atomic hit per limit:
    10 attempts in 15 minutes per account (a success clears it) or per client address lock
    sign-in with a 429, however many guesses arrive at once.
    """
    email = (email or "").strip().lower()
    realm = f"{directory.kind.value}:{directory.store_id or ''}"
    await limiter.hit(SIGN_IN_ATTEMPTS, "sign-in-client", realm, client)
    await limiter.hit(SIGN_IN_ATTEMPTS, "sign-in-account", realm, email)
    account = await directory.find(email) if email else None
    if await verify_password(account.password_hash if account else None, password or ""):
        assert account is not None
        await limiter.clear(SIGN_IN_ATTEMPTS, "sign-in-account", realm, email)
        return account
    raise InvalidInput(_l("That email and password do not match an account."), field="email")
