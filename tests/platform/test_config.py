from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
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
    new, old = "n" * 32, "o" * 40
    settings = Settings(env="production", data_dir=tmp_path, secret_key=f"{new},{old}")
    assert settings.secret_keys == [new.encode(), old.encode()]
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


@pytest.mark.parametrize("key", ["x", "a" * 31, f"{'a' * 40},short"])
def test_production_refuses_a_secret_key_under_32_bytes(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValidationError, match="32 bytes or more"):
        Settings(env="production", data_dir=tmp_path, secret_key=key)
    assert Settings(env="production", data_dir=tmp_path, secret_key="k" * 32).secret_keys


def _own_environment() -> dict[str, str]:
    """This process's environment without the caller's PAYFACILE_ settings."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PAYFACILE_") or key.startswith("PAYFACILE_TEST_")
    }


def _payfacile_with(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "payfacile", "migrate"],
        env={**_own_environment(), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ({"PAYFACILE_SECRET_KEY": ""}, "PAYFACILE_SECRET_KEY is required"),
        ({"PAYFACILE_SECRET_KEY": "x"}, "32 bytes or more"),
        ({"PAYFACILE_ENV": "staging"}, "PAYFACILE_ENV: Input should be"),
    ],
)
def test_a_settings_error_names_the_problem_not_the_passwords(
    tmp_path: Path, bad: dict[str, str], says: str
) -> None:
    """`payfacile` with a bad setting says which and why, and never prints the other values:
    the database and SMTP URLs carry passwords."""
    env = {
        "PAYFACILE_ENV": "production",
        "PAYFACILE_DATA_DIR": str(tmp_path),
        "PAYFACILE_SECRET_KEY": "k" * 32,
        "PAYFACILE_DATABASE_URL": "postgres://shop:db-hunter2@127.0.0.1:5432/shop",
        "PAYFACILE_SMTP_URL": "smtp://mailer:smtp-hunter2@127.0.0.1:587",
        **bad,
    }
    result = _payfacile_with(env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("payfacile: invalid settings: ")
    assert says in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


# Runs in a fresh interpreter: an audit hook sees every moment Python opens or chmods the
# secret key file, and records the mode the file has at that moment.
WATCH_SECRET_FILE = """
import os, stat, sys
from pathlib import Path
target = os.path.join(sys.argv[1], "secret_key")
seen = []
def hook(event, args):
    if event in ("open", "os.chmod") and args and str(args[0]) == target:
        if os.path.exists(target):
            seen.append(oct(stat.S_IMODE(os.stat(target).st_mode)))
sys.addaudithook(hook)
os.umask(0o022)
from payfacile.platform.config import Settings
Settings(data_dir=Path(sys.argv[1])).secret_keys
print(" ".join(seen))
"""


def test_the_generated_secret_key_is_never_readable_by_others(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    result = subprocess.run(
        [sys.executable, "-c", WATCH_SECRET_FILE, str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    modes = result.stdout.split()
    assert modes, result.stderr  # the file was seen at least once (when it is read back)
    assert set(modes) == {"0o600"}
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700


def test_the_data_directory_and_sqlite_files_are_private(tmp_path: Path) -> None:
    """A fresh `payfacile migrate` then a write: the directory is 0700 and every SQLite file
    (the database, its -wal and -shm) 0600, even with a permissive umask."""
    data_dir = tmp_path / "var"
    env = _own_environment()
    env.update(PAYFACILE_DATA_DIR=str(data_dir), PAYFACILE_ENV="development")
    for command in (
        ["migrate"],
        [
            "stores",
            "create",
            "--name",
            "Acme",
            "--slug",
            "acme",
            "--owner-email",
            "owner@acme.example",
        ],
    ):
        subprocess.run(
            ["sh", "-c", 'umask 000 && exec "$0" -m payfacile "$@"', sys.executable, *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    sqlite_files = list(data_dir.glob("payfacile.sqlite3*"))
    assert data_dir / "payfacile.sqlite3" in sqlite_files
    for path in sqlite_files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
