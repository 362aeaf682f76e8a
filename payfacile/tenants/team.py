"""A store's team: its owner and the staff the owner invites by email, resends an invitation
to, or removes. Only the owner changes the team (the views check it); everyone on it sees it.

A person with no merchant account gets one and an invitation to choose a password (7 days,
single use: the kernel's invitation token, which a resend voids). A person who already has
a password is added at once and told so, with the sign-in link: there is nothing for them
to accept that the owner's choice has not already settled, and a removal undoes it.
Removing takes effect on the next request: every dashboard page reads the membership anew.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from payfacile.platform import db
from payfacile.platform.accounts import normalise_email
from payfacile.platform.config import Settings
from payfacile.platform.errors import Conflict, InvalidInput, NotAllowed
from payfacile.platform.i18n import language_of
from payfacile.platform.mail import queue_email
from payfacile.platform.models import SessionKind, Token, TokenPurpose
from payfacile.platform.ratelimit import RateLimiter
from payfacile.platform.text import _l
from payfacile.platform.urls import central_url
from payfacile.tenants import accounts
from payfacile.tenants.models import Membership, MembershipRole, MerchantUser, Store
from payfacile.tenants.scope import scoped

INVITATIONS = "20/hour"  # invitations and resends, per store
MAX_TEAM = 100  # members of one store, owner included: the team page shows them all
MAX_NAME = 120


@dataclass(frozen=True)
class TeamMember:
    membership_id: int
    email: str
    name: str
    role: MembershipRole
    active: bool  # has chosen a password
    invited_at: datetime  # the latest invitation's date (or the day they joined)
    link_expired: bool  # invited, and that link is no longer valid

    @property
    def is_owner(self) -> bool:
        return self.role == MembershipRole.OWNER


async def team_of(store: Store) -> list[TeamMember]:
    """The store's owner first, then its staff by email: at most MAX_TEAM, in two queries."""
    memberships = (
        await scoped(store).query(Membership).select_related("user").order_by("id").limit(MAX_TEAM)
    )
    pending = [m.user_id for m in memberships if m.user.password_hash is None]
    sent = {
        row["subject_id"]: row
        for row in await Token.filter(
            purpose=TokenPurpose.INVITATION,
            subject_kind=SessionKind.MERCHANT,
            subject_id__in=pending,
            used_at=None,
        ).values("subject_id", "created_at", "expires_at")
    }
    now = datetime.now(UTC)
    members = [
        TeamMember(
            membership_id=m.id,
            email=m.user.email,
            name=m.user.name,
            role=m.role,
            active=m.user.password_hash is not None,
            invited_at=sent[m.user_id]["created_at"] if m.user_id in sent else m.created_at,
            link_expired=m.user_id in pending
            and (m.user_id not in sent or sent[m.user_id]["expires_at"] <= now),
        )
        for m in memberships
    ]
    return sorted(members, key=lambda member: (not member.is_owner, member.email))


async def invite(
    settings: Settings,
    limiter: RateLimiter,
    store: Store,
    inviter: MerchantUser,
    *,
    email: str,
    name: str = "",
) -> bool:
    """Add `email` to the store's staff and email them; True when they were given a new
    account (an invitation to choose a password), False when they had one (a notice)."""
    email = normalise_email(email)
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        raise InvalidInput(_l("A name is 120 characters at most."), field="name")
    await _count(limiter, store)
    on_team = _l("%(email)s is already on the team.", email=email)
    with db.unique_or_conflict(on_team, field="email"):
        async with in_transaction():
            user, _ = await MerchantUser.get_or_create(email=email, defaults={"name": name})
            if await scoped(store).query(Membership).filter(user_id=user.id).exists():
                raise Conflict(on_team, field="email")
            if await scoped(store).query(Membership).count() >= MAX_TEAM:
                raise InvalidInput(
                    _l("A team has %(count)s members at most.", count=MAX_TEAM), field="email"
                )
            await scoped(store).create(Membership, user_id=user.id, role=MembershipRole.STAFF)
            if user.password_hash is None:
                await _send_invitation(settings, store, inviter, user)
                return True
            await _tell_added(settings, store, inviter, user)
    return False


async def resend(
    settings: Settings,
    limiter: RateLimiter,
    store: Store,
    inviter: MerchantUser,
    membership_id: int,
) -> MerchantUser:
    """A new invitation for a member who has not chosen a password; the earlier link stops.
    Another store's member is a 404."""
    membership = await scoped(store).get(Membership, id=membership_id)
    user = await MerchantUser.get(id=membership.user_id)
    if user.password_hash is not None:
        raise Conflict(
            _l(
                "%(email)s has already chosen a password. They can reset it from the "
                "sign-in page if they have forgotten it.",
                email=user.email,
            )
        )
    await _count(limiter, store)
    async with in_transaction():
        await _send_invitation(settings, store, inviter, user)
    return user


async def remove(store: Store, membership_id: int) -> None:
    """Take a staff member off the team at once. The owner cannot be removed. A member who
    is not (or no longer) on this store's team is left as is: removing twice is harmless,
    and another store's member is neither touched nor revealed."""
    scope = scoped(store)
    if await scope.query(Membership).filter(id=membership_id, role=MembershipRole.OWNER).exists():
        raise NotAllowed(_l("The store's owner cannot be removed from its team."))
    await scope.query(Membership).filter(id=membership_id, role=MembershipRole.STAFF).delete()


async def _count(limiter: RateLimiter, store: Store) -> None:
    await limiter.hit(
        INVITATIONS,
        "dashboard-team-invite",
        str(store.id),
        message=_l("This store sent many invitations within the hour. Try again later."),
    )


def _who(user: MerchantUser) -> str:
    return f"{user.name} ({user.email})" if user.name else user.email


async def _send_invitation(
    settings: Settings, store: Store, inviter: MerchantUser, user: MerchantUser
) -> None:
    await accounts.send_password_link(
        settings,
        SessionKind.MERCHANT,
        user,
        invitation=True,
        store=store,
        template="staff_invitation",
        context={"inviter": _who(inviter)},
    )


async def _tell_added(
    settings: Settings, store: Store, inviter: MerchantUser, user: MerchantUser
) -> None:
    await queue_email(
        settings,
        to=user.email,
        template="staff_added",
        context={
            "store_name": store.name,
            "inviter": _who(inviter),
            "url": central_url(settings, accounts.MERCHANT_LOGIN),
        },
        language=language_of(store.locale),
    )
