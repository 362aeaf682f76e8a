from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError
from quart.typing import TestClientProtocol as Client

from payfacile.platform.config import Settings
from tests.factories import make_store


def test_embedded_defaults(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    assert settings.env == "development"
    assert settings.database_url == f"sqlite://{tmp_path / 'var' / 'payfacile.sqlite3'}"
    assert settings.redis_url == ""
    assert settings.platform_domain == "payfacile.localhost"
    assert settings.cname_target == "stores.payfacile.localhost"
    assert settings.mail_from == "no-reply@payfacile.localhost"
    assert (settings.public_scheme, settings.public_port) == ("http", 8000)


def test_settings_come_from_payfacile_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYFACILE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PAYFACILE_PLATFORM_DOMAIN", "Shops.Example.")
    monkeypatch.setenv("PAYFACILE_PLATFORM_IPS", "192.0.2.1, 2001:db8::1")
    monkeypatch.setenv("PAYFACILE_TRUSTED_PROXIES", "10.0.0.0/8,127.0.0.1")
    settings = Settings()
    assert settings.platform_domain == "shops.example"
    assert settings.cname_target == "stores.shops.example"
    assert settings.platform_ips == ["192.0.2.1", "2001:db8::1"]
    assert settings.trusted_proxies == ["10.0.0.0/8", "127.0.0.1"]


def test_production_requires_a_secret_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="PAYFACILE_SECRET_KEY is required"):
        Settings(env="production", data_dir=tmp_path)
    settings = Settings(env="production", data_dir=tmp_path, secret_key="new,old")
    assert settings.secret_keys == [b"new", b"old"]
    assert (settings.public_scheme, settings.public_port) == ("https", None)


def test_a_bad_proxy_network_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        Settings(data_dir=tmp_path, trusted_proxies="not-a-network")


def test_development_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).secret_keys
    second = Settings(data_dir=tmp_path).secret_keys
    assert first == second
    assert len(first[0]) >= 32
    mode = stat.S_IMODE((tmp_path / "secret_key").stat().st_mode)
    assert mode == 0o600


CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _language_posts(client: Client, peer: str, forwarded_for: list[str]) -> list[int]:
    host = {"Host": "acme.payfacile.localhost"}
    page = await (await client.get("/portal/login", headers=host)).get_data(as_text=True)
    match = CSRF_INPUT.search(page)
    assert match is not None
    codes = []
    for address in forwarded_for:
        response = await client.post(
            "/language",
            form={"language": "fr", "next": "/portal/", "csrf_token": match.group(1)},
            headers={**host, "X-Forwarded-For": address},
            scope_base={"client": (peer, 40000)},
        )
        codes.append(response.status_code)
    return codes


async def test_forwarded_for_is_believed_only_from_trusted_proxies(
    client: Client, settings: Settings
) -> None:
    await make_store("acme")
    settings.trusted_proxies = ["10.1.0.0/16"]
    # Behind the trusted proxy, each buyer has a budget of their own.
    behind_proxy = await _language_posts(client, "10.1.2.3", [f"198.51.100.{n}" for n in range(40)])
    assert set(behind_proxy) == {303}
    # From anyone else, a forged header does not buy a fresh budget.
    direct = await _language_posts(client, "203.0.113.9", [f"192.0.2.{n}" for n in range(40)])
    assert direct[:30] == [303] * 30
    assert set(direct[30:]) == {429}
