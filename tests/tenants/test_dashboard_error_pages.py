"""Error pages inside a store's dashboard keep its header: the store's tabs and Sign out."""

from __future__ import annotations

import pytest
from quart.typing import TestClientProtocol as Client

from payfacile.tenants.models import MembershipRole
from tests.factories import make_store
from tests.merchants import CENTRAL, merchant


def dashboard_chrome(html: str) -> bool:
    """The page has the dashboard's tabs for "acme" and the merchant's Sign out."""
    return (
        'href="/dashboard/acme/orders"' in html
        and 'href="/dashboard/acme/team"' in html
        and 'action="/account/logout"' in html
    )


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        (MembershipRole.STAFF, "/dashboard/acme/settings", 403),  # the owner's page
        (MembershipRole.OWNER, "/dashboard/acme/orders/999999", 404),
    ],
)
async def test_an_error_inside_a_stores_dashboard_keeps_its_header(
    client: Client, role: MembershipRole, path: str, status: int
) -> None:
    store = await make_store("acme", name="Acme Coffee")
    await merchant(client, store, role, "sam@example.com")
    response = await client.get(path, headers=CENTRAL)
    assert response.status_code == status
    html = await response.get_data(as_text=True)
    assert dashboard_chrome(html)
    assert ('href="/dashboard/acme/settings"' in html) is (role == MembershipRole.OWNER)
    assert 'class="button" href="/dashboard/acme/"' in html


async def test_another_stores_dashboard_stays_a_plain_404(client: Client) -> None:
    await make_store("other", name="Other Shop")
    store = await make_store("acme", name="Acme Coffee")
    await merchant(client, store, MembershipRole.OWNER, "olivia@example.com")
    response = await client.get("/dashboard/other/orders", headers=CENTRAL)
    assert response.status_code == 404
    html = await response.get_data(as_text=True)
    assert "Other Shop" not in html
    assert not dashboard_chrome(html)
    assert 'href="/dashboard/acme/' not in html
