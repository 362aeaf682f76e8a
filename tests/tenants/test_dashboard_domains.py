"""The Domains page of a store's dashboard, as its owner uses it against a real DNS server:
connect, read the records, set them, verify, serve, make primary, remove; closed to staff
and to other stores."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from payfacile.platform.config import Settings
from payfacile.tenants import dns_check
from payfacile.tenants.models import Domain, DomainStatus, MembershipRole
from payfacile.tenants.scope import scoped
from tests.challtestsrv import ChallTestSrv
from tests.conftest import unique_host
from tests.factories import make_domain, make_store
from tests.merchants import CENTRAL, merchant, post

PAGE = "/dashboard/acme/domains"


@pytest.fixture
def settings(settings: Settings, challtestsrv: ChallTestSrv) -> Settings:
    return settings.model_copy(
        update={"dns_nameservers": [challtestsrv.nameserver], "platform_ips": ["192.0.2.10"]}
    )


async def page(client: Client, path: str = PAGE) -> str:
    response = await client.get(path.split("#")[0], headers=CENTRAL)  # as a browser asks
    assert response.status_code == 200, path
    return html.unescape(re.sub(r"<wbr>", "", await response.get_data(as_text=True)))


def text_of(body: str) -> str:
    """The page's words, tags stripped, as a reader sees them."""
    return " ".join(re.sub(r"<[^>]+>", " ", body).split())


async def portal_status(client: Client, host: str) -> int:
    return (await client.get("/portal/login", headers={"Host": host})).status_code


async def test_the_owner_connects_verifies_and_removes_a_domain(
    client: Client, settings: Settings, challtestsrv: ChallTestSrv
) -> None:
    store = await make_store("acme", name="Acme Coffee")
    await merchant(client, store, MembershipRole.OWNER, "owner@acme.example")
    empty = text_of(await page(client))
    assert "No domain connected yet" in empty

    host = unique_host()
    added = await post(client, PAGE, {"hostname": f"https://{host.upper()}/"}, page=PAGE)
    assert added.status_code == 303
    domain = await scoped(store).query(Domain).get(hostname=host)
    assert added.headers["Location"] == f"{PAGE}?done=added#domain-{domain.id}"
    shown = text_of(await page(client, added.headers["Location"]))
    assert "Domain added. Create the records below" in shown
    assert "Waiting for DNS" in shown
    token = domain.verification_token
    assert f"Type: TXT Name: _payfacile.{host} Value: {token}" in shown
    assert f"Type: CNAME Name: {host} Value: {settings.cname_target}" in shown
    assert f"Missing: there is no TXT record _payfacile.{host} yet" in shown
    assert "300 seconds" in shown

    challtestsrv.set_txt(dns_check.ownership_name(host), domain.verification_token)
    challtestsrv.set_cname(host, "old-shop.hosted.example")
    checked = await post(client, f"{PAGE}/{domain.id}/verify", {}, page=PAGE)
    assert checked.headers["Location"].startswith(f"{PAGE}?done=waiting")
    shown = text_of(await page(client))
    assert f"Wrong: {host} is a CNAME to old-shop.hosted.example." in shown
    assert await portal_status(client, host) == 404

    challtestsrv.set_cname(host, settings.cname_target)
    checked = await post(client, f"{PAGE}/{domain.id}/verify", {}, page=PAGE)
    assert checked.headers["Location"].startswith(f"{PAGE}?done=verified")
    shown = text_of(await page(client, checked.headers["Location"]))
    assert "Verified: your customer portal now answers on this domain." in shown
    assert "Connected" in shown
    assert f"Found: {host} is a CNAME to {settings.cname_target}." in shown
    assert await portal_status(client, host) == 200

    confirm = text_of(await page(client, f"{PAGE}/{domain.id}/remove"))
    assert f"Remove {host}?" in confirm
    assert "It is your primary domain" in confirm
    assert await portal_status(client, host) == 200  # asking changes nothing
    removed = await post(client, f"{PAGE}/{domain.id}/remove", {}, page=PAGE)
    assert removed.headers["Location"] == f"{PAGE}?done=removed"
    assert not await scoped(store).query(Domain).exists()
    assert await portal_status(client, host) == 404


@pytest.mark.parametrize(
    ("hostname", "says"),
    [
        ("", "Enter a hostname"),
        ("*.acme.example", "A wildcard cannot be connected"),
        ("acme.payfacile.localhost", "is the platform's own"),
        ("192.0.2.1", "not an IP address"),
    ],
)
async def test_a_bad_hostname_is_refused_beside_the_field_and_nothing_is_stored(
    client: Client, hostname: str, says: str
) -> None:
    store = await make_store("acme")
    await merchant(client, store, MembershipRole.OWNER, "owner@acme.example")
    refused = await post(client, PAGE, {"hostname": hostname}, page=PAGE)
    assert refused.status_code == 422
    body = html.unescape(await refused.get_data(as_text=True))
    assert 'aria-invalid="true"' in body
    error = re.search(r'<p class="field__error" id="hostname-error">([^<]*)</p>', body)
    assert error is not None
    assert says in error.group(1)
    assert "Nothing was changed" in body
    assert not await scoped(store).query(Domain).exists()


async def test_a_hostname_another_store_holds_is_refused_saying_so(
    client: Client, settings: Settings
) -> None:
    store, other = await make_store("acme"), await make_store("bravo")
    host = unique_host()
    await make_domain(other, host, DomainStatus.VERIFIED)
    await merchant(client, store, MembershipRole.OWNER, "owner@acme.example")
    refused = await post(client, PAGE, {"hostname": host}, page=PAGE)
    assert refused.status_code == 409
    assert "is connected to another store" in html.unescape(await refused.get_data(as_text=True))
    assert not await scoped(store).query(Domain).exists()


async def test_the_primary_domain_is_chosen_on_the_page(client: Client, settings: Settings) -> None:
    store = await make_store("acme")
    first = await make_domain(store, unique_host("www"), is_primary=True)
    second = await make_domain(store, unique_host("shop"))
    await merchant(client, store, MembershipRole.OWNER, "owner@acme.example")
    made = await post(client, f"{PAGE}/{second.id}/primary", {}, page=PAGE)
    assert made.headers["Location"] == f"{PAGE}?done=primary#domain-{second.id}"
    listed = await scoped(store).query(Domain).order_by("id").values_list("is_primary", flat=True)
    assert listed == [False, True]
    shown = await page(client)
    assert shown.index(second.hostname) < shown.index(first.hostname)  # the primary first
    assert f"{PAGE}/{first.id}/primary" in shown
    assert f"{PAGE}/{second.id}/primary" not in shown


async def test_a_moved_domain_says_when_it_will_be_removed(client: Client) -> None:
    store = await make_store("acme")
    moved = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    await make_domain(store, unique_host(), DomainStatus.DNS_MOVED, moved_at=moved)
    await merchant(client, store, MembershipRole.OWNER, "owner@acme.example")
    shown = text_of(await page(client))
    assert "DNS points elsewhere" in shown
    assert "removed from your store on 9 Mar 2026" in shown


async def test_staff_see_no_domains_tab_and_change_nothing(
    app: Quart, client: Client, settings: Settings
) -> None:
    store = await make_store("acme")
    domain = await make_domain(store, unique_host(), DomainStatus.VERIFIED, is_primary=True)
    await merchant(client, store, MembershipRole.STAFF, "staff@acme.example")
    home = await page(client, "/dashboard/acme/")
    assert PAGE not in home
    for method, path in (
        ("GET", PAGE),
        ("POST", PAGE),
        ("POST", f"{PAGE}/{domain.id}/verify"),
        ("POST", f"{PAGE}/{domain.id}/primary"),
        ("GET", f"{PAGE}/{domain.id}/remove"),
        ("POST", f"{PAGE}/{domain.id}/remove"),
    ):
        if method == "GET":
            response = await client.get(path, headers=CENTRAL)
        else:
            response = await post(client, path, {"hostname": unique_host()}, page="/dashboard/")
        assert response.status_code == 403, (method, path)
    assert await scoped(store).query(Domain).count() == 1
    assert (await scoped(store).get(Domain, id=domain.id)).status == DomainStatus.VERIFIED


async def test_another_stores_domain_is_a_404(client: Client, settings: Settings) -> None:
    store, other = await make_store("acme"), await make_store("bravo")
    theirs = await make_domain(other, unique_host(), DomainStatus.VERIFIED)
    await merchant(client, store, MembershipRole.OWNER, "owner@acme.example")
    for path in (f"{PAGE}/{theirs.id}/verify", f"{PAGE}/{theirs.id}/primary"):
        assert (await post(client, path, {}, page=PAGE)).status_code == 404
    assert (await client.get(f"{PAGE}/{theirs.id}/remove", headers=CENTRAL)).status_code == 404
    assert (await post(client, f"{PAGE}/{theirs.id}/remove", {}, page=PAGE)).status_code == 404
    assert await scoped(other).query(Domain).filter(id=theirs.id).exists()
    assert theirs.hostname not in await page(client)
