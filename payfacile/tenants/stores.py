"""Onboarding and managing stores (platform admin work: the CLI, /admin, the API)."""

from __future__ import annotations

import hashlib
import io
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tortoise.transactions import in_transaction

from payfacile.platform import db
from payfacile.platform.accounts import normalise_email
from payfacile.platform.config import Settings
from payfacile.platform.errors import Conflict, InvalidInput, NotFound
from payfacile.platform.mail import queue_email
from payfacile.platform.models import SessionKind
from payfacile.platform.text import _l
from payfacile.platform.urls import central_url
from payfacile.platform.zones import is_zone
from payfacile.tenants import accounts
from payfacile.tenants.models import (
    Membership,
    MembershipRole,
    MerchantUser,
    Store,
    StoreLogo,
    StoreStatus,
)
from payfacile.tenants.scope import across_stores, scoped
from payfacile.tenants.urls import store_url

if TYPE_CHECKING:
    from payfacile.tenants.hosts import HostResolver

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
MAX_NAME = 120


def validate_slug(slug: str, settings: Settings) -> str:
    """A slug is one DNS label (a-z, 0-9, hyphens inside), not reserved. Returns it as stored."""
    slug = (slug or "").strip().lower()
    if not slug:
        raise InvalidInput(_l("Enter a slug: it becomes the store's web address."), field="slug")
    if not SLUG.match(slug):
        raise InvalidInput(
            _l(
                "A slug may hold only letters a–z, digits and inner hyphens, 63 characters at most."
            ),
            field="slug",
        )
    if "--" in slug[2:4] or slug.startswith("xn--"):
        raise InvalidInput(
            _l("A slug may not have two hyphens in 3rd and 4th place."), field="slug"
        )
    if slug in settings.reserved_slugs:
        raise InvalidInput(
            _l("“%(slug)s” is reserved. Choose another slug.", slug=slug), field="slug"
        )
    return slug


def validate_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput(_l("Enter the store's name."), field="name")
    if len(name) > MAX_NAME:
        raise InvalidInput(
            _l("A store name is %(count)s characters at most.", count=MAX_NAME), field="name"
        )
    return name


def validate_time_zone(name: str) -> str:
    """An IANA time zone name as stored, or "" (the store's country's zone)."""
    name = (name or "").strip()
    if name and not is_zone(name):
        raise InvalidInput(
            _l("“%(zone)s” is not a time zone. Use a name like Europe/Paris.", zone=name[:64]),
            field="time_zone",
        )
    return name


async def create_store(
    *,
    settings: Settings,
    hosts: HostResolver,
    name: str,
    slug: str,
    owner_email: str,
    time_zone: str = "",
) -> Store:
    """A new active store with its owner's merchant account (created when new). Its dates
    are shown in `time_zone` (an IANA name), or without one in its country's zone."""
    name = validate_name(name)
    slug = validate_slug(slug, settings)
    owner_email = normalise_email(owner_email, field="owner_email")
    time_zone = validate_time_zone(time_zone)
    taken = _l("The slug “%(slug)s” is taken. Choose another one.", slug=slug)
    # The check answers the usual case; the constraint, a store created at the same moment.
    with db.unique_or_conflict(taken, field="slug"):
        async with in_transaction():
            if await Store.exists(slug=slug):
                raise Conflict(taken, field="slug")
            store = await Store.create(
                name=name, slug=slug, support_email=owner_email, time_zone=time_zone
            )
            owner, _ = await MerchantUser.get_or_create(email=owner_email)
            await scoped(store).create(Membership, user_id=owner.id, role=MembershipRole.OWNER)
            await _welcome_owner(settings, store, owner)
    await hosts.invalidate_store(store)  # a cached "no store here" must not outlive creation
    return store


async def _welcome_owner(settings: Settings, store: Store, owner: MerchantUser) -> None:
    """A new owner gets an invitation to choose a password; a known one, a notice."""
    if owner.password_hash is None:
        await accounts.send_password_link(
            settings, SessionKind.MERCHANT, owner, invitation=True, store=store
        )
        return
    await queue_email(
        settings,
        to=owner.email,
        template="store_added",
        context={
            "store_name": store.name,
            "url": central_url(settings, accounts.MERCHANT_LOGIN),
            "portal_url": await store_url(settings, store, "/portal/"),
        },
    )


async def owner_of(store: Store) -> MerchantUser:
    membership = await scoped(store).query(Membership).filter(role=MembershipRole.OWNER).first()
    if membership is None:
        raise NotFound(_l("This store has no owner."))
    return await MerchantUser.get(id=membership.user_id)


async def resend_owner_invitation(settings: Settings, store: Store) -> MerchantUser:
    """A fresh invitation for an owner who has not chosen a password; the old link stops."""
    owner = await owner_of(store)
    if owner.password_hash is not None:
        raise Conflict(
            _l(
                "%(email)s has already chosen a password. They can reset it from the "
                "sign-in page if they have forgotten it.",
                email=owner.email,
            )
        )
    async with in_transaction():
        await accounts.send_password_link(
            settings, SessionKind.MERCHANT, owner, invitation=True, store=store
        )
    return owner


async def get_store(slug: str) -> Store:
    store = await Store.get_or_none(slug=(slug or "").strip().lower())
    if store is None:
        raise NotFound(_l("There is no store with the slug “%(slug)s”.", slug=slug))
    return store


async def list_stores() -> list[tuple[Store, MerchantUser | None]]:
    """Every store, oldest first, with its owner."""
    stores = await Store.all().order_by("id")
    memberships = (
        await across_stores(Membership, reason="platform admin")
        .filter(role=MembershipRole.OWNER)
        .select_related("user")
        .order_by("id")
    )
    owners: dict[int, MerchantUser] = {}
    for membership in memberships:
        owners.setdefault(membership.store_id, membership.user)
    return [(store, owners.get(store.id)) for store in stores]


async def set_status(store: Store, status: StoreStatus, *, hosts: HostResolver) -> Store:
    await Store.filter(id=store.id).update(status=status)
    store.status = status
    await hosts.invalidate_store(store)
    return store


def new_verification_token() -> str:
    return secrets.token_hex(16)


LOGO_TYPES = {b"\x89PNG\r\n\x1a\n": ("image/png", "PNG"), b"\xff\xd8\xff": ("image/jpeg", "JPEG")}
MAX_LOGO_BYTES = 512 * 1024
LOGO_PIXELS = (16, 2000)  # each side, smallest and largest: shown about 40 px high


@dataclass(frozen=True)
class Logo:
    """Logo bytes that passed `check_logo`."""

    data: bytes
    content_type: str

    @property
    def etag(self) -> str:
        return hashlib.sha256(self.data).hexdigest()[:32]


def check_logo(data: bytes) -> Logo:
    """A PNG or JPEG by its bytes' signature and its own decoder (never by a file's name),
    512 KB at most, 16 to 2,000 pixels a side. `InvalidInput` on the `logo` field."""
    found = next((kind for magic, kind in LOGO_TYPES.items() if data.startswith(magic)), None)
    if found is None:
        raise InvalidInput(_l("A logo must be a PNG or JPEG image."), field="logo")
    if len(data) > MAX_LOGO_BYTES:
        raise InvalidInput(_l("A logo is 512 KB at most."), field="logo")
    content_type, image_format = found
    from PIL import Image  # here, not above: the command line lists stores without it

    try:
        with Image.open(io.BytesIO(data), formats=[image_format]) as image:
            size = image.size
            image.verify()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise InvalidInput(
            _l("This image is damaged or not really a PNG or JPEG. Export it again."),
            field="logo",
        ) from error
    smallest, largest = LOGO_PIXELS
    if not all(smallest <= side <= largest for side in size):
        raise InvalidInput(
            _l(
                "A logo is %(smallest)s to %(largest)s pixels wide and high; this one is "
                "%(width)s × %(height)s.",
                smallest=smallest,
                largest=largest,
                width=size[0],
                height=size[1],
            ),
            field="logo",
        )
    return Logo(data=data, content_type=content_type)


async def set_logo(store: Store, data: bytes, *, hosts: HostResolver) -> None:
    """Replace the store's logo (see `check_logo`): pages, emails and PDFs use it."""
    logo = check_logo(data)
    async with in_transaction():
        await write_logo(store, logo)
    await hosts.invalidate_store(store)


async def write_logo(store: Store, logo: Logo | None) -> None:
    """Replace the store's logo, or remove it (None). Call inside a transaction, then
    invalidate the store's hosts. Invoices keep the logo they were issued with."""
    scope = scoped(store)
    await scope.query(StoreLogo).delete()
    if logo is not None:
        await scope.create(
            StoreLogo, content_type=logo.content_type, data=logo.data, etag=logo.etag
        )
    store.logo_etag = logo.etag if logo is not None else ""
    await Store.filter(id=store.id).update(logo_etag=store.logo_etag)
