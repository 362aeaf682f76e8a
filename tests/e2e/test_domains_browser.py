"""The Domains page in a real browser against a real `payfacile serve` and a real DNS server
(pebble-challtestsrv): the owner connects a domain, reads the records, sets them, verifies
it and sees the portal served on it, then removes it — on a phone and a desktop, in English
and in French. With `PAYFACILE_TEST_SCREENSHOTS=<dir>`, every state is saved there."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from payfacile.platform.config import Settings
from payfacile.platform.passwords import hash_password
from payfacile.tenants import dns_check
from payfacile.tenants.models import Membership, MembershipRole, MerchantUser
from payfacile.tenants.scope import scoped
from tests.challtestsrv import ChallTestSrv
from tests.conftest import unique_host
from tests.e2e.test_dashboard_browser import look, signed_in
from tests.factories import make_store
from tests.platform.test_instances import status

OWNER, PASSWORD = "owner@acme.example", "the owner's long passphrase"
WORDS = {
    "en": {"add": "Add the domain", "verify": "Verify now", "remove": "Remove",
           "confirm": "Remove the domain", "waiting": "Waiting for DNS",
           "connected": "Connected", "removed": "Domain removed",
           "missing": "Missing: there is no TXT record", "wildcard": "wildcard"},
    "fr": {"add": "Ajouter le domaine", "verify": "Vérifier maintenant", "remove": "Supprimer",
           "confirm": "Retirer le domaine", "waiting": "En attente du DNS",
           "connected": "Connecté", "removed": "Domaine retiré",
           "missing": "Manquant : il n’y a pas encore d’enregistrement TXT",
           "wildcard": "joker"},
}  # fmt: skip


@pytest.fixture
def settings(settings: Settings, challtestsrv: ChallTestSrv) -> Settings:
    """The served platform asks the test DNS server."""
    return settings.model_copy(update={"dns_nameservers": [challtestsrv.nameserver]})


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
@pytest.mark.parametrize("language", ["en", "fr"])
async def test_the_owner_connects_a_domain_in_the_browser(
    browser: Browser,
    live_server: int,
    database: Settings,
    challtestsrv: ChallTestSrv,
    language: str,
    phone: bool,
) -> None:
    store = await make_store("acme", name="Acme Coffee")
    owner = await MerchantUser.create(email=OWNER, password_hash=await hash_password(PASSWORD))
    await scoped(store).create(Membership, user_id=owner.id, role=MembershipRole.OWNER)
    central = f"http://payfacile.localhost:{live_server}"
    page = await signed_in(
        browser, f"{central}/dashboard/acme/domains", OWNER, PASSWORD,
        language=language, phone=phone,
    )  # fmt: skip
    words = WORDS[language]
    await look(page, "domains-empty", language, phone=phone)

    await page.locator("#hostname").fill("*.acme.example")
    await page.get_by_role("button", name=words["add"]).click()
    await expect(page.locator("#hostname-error")).to_contain_text(words["wildcard"])
    await look(page, "domains-error", language, phone=phone)

    host = unique_host()
    await page.locator("#hostname").fill(host)
    await page.get_by_role("button", name=words["add"]).click()
    card = page.locator(".domain").first
    await expect(card.locator(".badge").first).to_have_text(words["waiting"])
    await expect(card.locator("td.state").first).to_contain_text(words["missing"])
    await look(page, "domains-pending", language, phone=phone)

    # The merchant copies the records from the page into their DNS.
    for row in await card.locator("table.records tbody tr").all():
        codes = await row.locator("code").all()
        kind, name, value = ["".join((await code.inner_text()).split()) for code in codes]
        if kind == "TXT":
            challtestsrv.set_txt(name, value)
        else:
            assert (kind, name) == ("CNAME", host)
            challtestsrv.set_cname(name, value)
    assert status(live_server, host) == 404
    await card.get_by_role("button", name=f"{words['verify']} {host}").click()
    await expect(page.locator(".domain .badge").first).to_have_text(words["connected"])
    assert status(live_server, host) == 200  # the portal answers on it now
    await look(page, "domains-connected", language, phone=phone)

    await (
        page.locator(".domain").first.get_by_role("link", name=f"{words['remove']} {host}").click()
    )
    await look(page, "domain-remove", language, phone=phone)
    await page.get_by_role("button", name=words["confirm"]).click()
    await expect(page.locator(".notice")).to_contain_text(words["removed"])
    assert status(live_server, host) == 404
    assert dns_check.ownership_name(host) not in await page.content()
    await page.context.close()
