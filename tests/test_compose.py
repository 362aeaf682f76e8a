"""compose.yml stays valid for Debian's docker-compose (1.29.2).

`docker-compose config` only reads and interpolates the file, so no Docker engine is needed.
Each run gets an empty `--env-file`, so a developer's `.env` at the repo root cannot hide a
missing variable, and the PAYFACILE_/POSTGRES_/COMPOSE_ variables of the caller's shell are
dropped for the same reason.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "compose.yml"
REQUIRED = {
    "POSTGRES_PASSWORD": "pg-secret",
    "PAYFACILE_SECRET_KEY": "test-secret-key",
    "PAYFACILE_SMTP_URL": "smtp://mailer.example:25",
}
APP_SERVICES = ("web", "scheduler", "worker", "migrate")
HEALTHCHECKED = ("web", "postgres", "redis")


def _docker_compose() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        reason = "docker-compose (Debian package docker-compose) not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: .ci/run must `apt-get install docker-compose`")
        pytest.skip(reason)
    return path


def _run_config(
    tmp_path: Path, *args: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PAYFACILE_", "POSTGRES_", "COMPOSE_"))
    }
    return subprocess.run(
        [
            _docker_compose(),
            "--env-file",
            str(empty_env_file),
            "-f",
            str(COMPOSE_FILE),
            "config",
            *args,
        ],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _services_from_text(output: str) -> dict[str, str]:
    """Split `docker-compose config` output into the text of each service (no PyYAML)."""
    services: dict[str, list[str]] = {}
    current: list[str] | None = None
    in_services = False
    for line in output.splitlines():
        if not line.startswith(" "):
            in_services = line == "services:"
            current = None
        elif in_services and line.startswith("  ") and not line.startswith("   "):
            current = services.setdefault(line.strip().rstrip(":"), [])
        elif current is not None:
            current.append(line)
    return {name: "\n".join(lines) for name, lines in services.items()}


def test_compose_config_is_valid(tmp_path: Path) -> None:
    result = _run_config(tmp_path, "-q", env=REQUIRED)
    assert result.returncode == 0, result.stderr


def test_compose_config_requires_postgres_password(tmp_path: Path) -> None:
    env = {key: value for key, value in REQUIRED.items() if key != "POSTGRES_PASSWORD"}
    result = _run_config(tmp_path, "-q", env=env)
    assert result.returncode != 0
    # 1.29.2: "Missing mandatory value ... in service "postgres": set POSTGRES_PASSWORD"
    assert result.stderr.strip().endswith(": set POSTGRES_PASSWORD"), result.stderr


def test_compose_services_are_production_and_healthchecked(tmp_path: Path) -> None:
    result = _run_config(tmp_path, env=REQUIRED)
    assert result.returncode == 0, result.stderr
    try:
        import yaml
    except ImportError:
        services = _services_from_text(result.stdout)
        for name in APP_SERVICES:
            assert "PAYFACILE_ENV: production" in services[name], name
        for name in HEALTHCHECKED:
            assert "    healthcheck:" in services[name], name
        return
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    for name in APP_SERVICES:
        assert services[name]["environment"]["PAYFACILE_ENV"] == "production", name
    for name in HEALTHCHECKED:
        assert services[name]["healthcheck"]["test"], name
    assert services["web"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }
    assert services["migrate"]["restart"] == "no"
