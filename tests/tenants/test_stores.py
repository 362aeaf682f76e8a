from __future__ import annotations

import pytest

from payfacile.platform.config import Settings
from payfacile.platform.errors import Conflict, InvalidInput
from payfacile.tenants import stores
from payfacile.tenants.hosts import HostResolver
from payfacile.tenants.models import Membership, MembershipRole, MerchantUser, Store
from payfacile.tenants.scope import scoped


@pytest.mark.parametrize(
    ("slug", "stored"),
    [("acme", "acme"), ("Acme-Coffee", "acme-coffee"), ("a", "a"), ("b2b-shop-42", "b2b-shop-42")],
)
def test_good_slugs(settings: Settings, slug: str, stored: str) -> None:
    assert stores.validate_slug(slug, settings) == stored


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("", "Enter a slug"),
        ("-acme", "letters a–z"),
        ("acme-", "letters a–z"),
        ("ac_me", "letters a–z"),
        ("acme.shop", "letters a–z"),
        ("café", "letters a–z"),
        ("a" * 64, "63 characters"),
        ("xn--bcher-kva", "two hyphens"),
        ("ab--cd", "two hyphens"),
        ("www", "reserved"),
        ("admin", "reserved"),
        ("api", "reserved"),
        ("app", "reserved"),
        ("mail", "reserved"),
        ("static", "reserved"),
        ("stores", "reserved"),
    ],
)
def test_bad_slugs_are_refused_with_a_reason(settings: Settings, slug: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        stores.validate_slug(slug, settings)
    assert caught.value.field == "slug"


def test_the_cname_targets_first_label_is_reserved(tmp_path: object) -> None:
    settings = Settings(env="test", cname_target="edge.payfacile.example")
    with pytest.raises(InvalidInput, match="reserved"):
        stores.validate_slug("edge", settings)


async def test_create_store_makes_the_owner(settings: Settings, hosts: HostResolver) -> None:
    store = await stores.create_store(
        settings=settings,
        hosts=hosts,
        name="  Acme   Coffee ",
        slug="Acme",
        owner_email="Owner@Acme.example.com",
    )
    assert (store.slug, store.name) == ("acme", "Acme Coffee")
    membership = await scoped(store).get(Membership, role=MembershipRole.OWNER)
    owner = await MerchantUser.get(id=membership.user_id)
    assert owner.email == "owner@acme.example.com"
    assert owner.password_hash is None


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"name": "", "slug": "ok", "owner_email": "a@example.com"}, "name"),
        ({"name": "x" * 121, "slug": "ok", "owner_email": "a@example.com"}, "name"),
        ({"name": "Shop", "slug": "www", "owner_email": "a@example.com"}, "slug"),
        ({"name": "Shop", "slug": "ok", "owner_email": "not-an-email"}, "owner_email"),
        ({"name": "Shop", "slug": "ok", "owner_email": "a@@example.com"}, "owner_email"),
    ],
)
async def test_bad_input_creates_nothing(
    settings: Settings, hosts: HostResolver, fields: dict[str, str], error_field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await stores.create_store(settings=settings, hosts=hosts, **fields)
    assert caught.value.field == error_field
    assert await Store.all().count() == 0
    assert await MerchantUser.all().count() == 0


async def test_a_taken_slug_is_a_conflict(settings: Settings, hosts: HostResolver) -> None:
    await stores.create_store(
        settings=settings, hosts=hosts, name="One", slug="shop", owner_email="a@example.com"
    )
    with pytest.raises(Conflict, match="taken"):
        await stores.create_store(
            settings=settings, hosts=hosts, name="Two", slug="SHOP", owner_email="b@example.com"
        )
    assert await Store.all().count() == 1
    assert not await MerchantUser.exists(email="b@example.com")


async def test_list_stores_shows_owners(settings: Settings, hosts: HostResolver) -> None:
    for slug in ("one", "two"):
        await stores.create_store(
            settings=settings,
            hosts=hosts,
            name=slug.title(),
            slug=slug,
            owner_email=f"{slug}@example.com",
        )
    rows = await stores.list_stores()
    assert [(store.slug, owner.email if owner else None) for store, owner in rows] == [
        ("one", "one@example.com"),
        ("two", "two@example.com"),
    ]
