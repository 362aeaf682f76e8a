"""The `payfacile` command, run as a user runs it: a separate process on the test's database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from payfacile.platform.config import Settings
from tests.conftest import settings_env


def payfacile(
    settings: Settings, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "payfacile", *args],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd or settings.data_dir,
        check=False,
    )


def create_store(
    settings: Settings, slug: str, *, name: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`payfacile stores create` for `slug`, owned by owner@{slug}.example.com; must succeed."""
    created = payfacile(
        settings,
        "stores",
        "create",
        "--name",
        name or f"{slug.title()} Shop",
        "--slug",
        slug,
        "--owner-email",
        f"owner@{slug}.example.com",
    )
    assert created.returncode == 0, created.stderr
    return created


def test_store_lifecycle_from_the_cli(settings: Settings) -> None:
    created = create_store(settings, "acme", name="Acme Coffee")
    assert "http://acme.payfacile.localhost:8000/portal/" in created.stdout

    listed = payfacile(settings, "stores", "list")
    assert listed.returncode == 0
    row = next(line for line in listed.stdout.splitlines() if line.startswith("acme "))
    assert row.split()[:3] == ["acme", "active", "owner@acme.example.com"]

    suspended = payfacile(settings, "stores", "suspend", "acme")
    assert suspended.returncode == 0
    assert "now suspended" in suspended.stdout
    listed = payfacile(settings, "stores", "list")
    assert "acme   suspended" in listed.stdout or " suspended " in listed.stdout

    again = payfacile(settings, "stores", "suspend", "acme")
    assert "already suspended" in again.stdout

    reactivated = payfacile(settings, "stores", "reactivate", "acme")
    assert "now active" in reactivated.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--slug", "www"], "reserved"),
        (["--slug", "bad_slug"], "letters a–z"),
        (["--slug", "fine", "--owner-email", "nope"], "valid email"),
        (["--slug", "fine", "--time-zone", "Mars/Olympus"], "“Mars/Olympus” is not a time zone"),
    ],
)
def test_bad_input_gets_a_clear_message_and_creates_nothing(
    settings: Settings, args: list[str], message: str
) -> None:
    values = {"--name": "Shop", "--owner-email": "owner@example.com"}
    values.update(dict(zip(args[::2], args[1::2], strict=True)))
    flat = [item for pair in values.items() for item in pair]
    if "--slug" not in values:
        flat += ["--slug", "fine"]
    result = payfacile(settings, "stores", "create", *flat)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "No stores yet" in payfacile(settings, "stores", "list").stdout


def test_unknown_store_is_a_clear_error(settings: Settings) -> None:
    result = payfacile(settings, "stores", "suspend", "ghost")
    assert result.returncode == 1
    assert "no store with the slug “ghost”" in result.stderr


def test_usage_errors_exit_2(settings: Settings) -> None:
    result = payfacile(settings, "serve", "--port", "99999")
    assert result.returncode == 2
    assert "port" in result.stderr


def test_migrate_shows_progress_and_is_idempotent(settings: Settings, tmp_path: Path) -> None:
    fresh = settings.model_copy(update={"database_url": f"sqlite://{tmp_path / 'fresh.sqlite3'}"})
    if not settings.database_url.startswith("sqlite"):
        fresh = settings  # the PostgreSQL test database is already migrated
    first = payfacile(fresh, "migrate")
    assert first.returncode == 0, first.stderr
    assert "Database is up to date." in first.stdout
    if fresh is not settings:
        assert "applying models.0001_initial … done" in first.stdout
    second = payfacile(fresh, "migrate")
    assert second.returncode == 0
    assert "applying" not in second.stdout


def test_python_dash_m_and_the_console_script_agree(settings: Settings) -> None:
    script = Path(sys.executable).with_name("payfacile")
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0
    for command in ("serve", "migrate", "demo", "stores"):
        assert command in result.stdout
