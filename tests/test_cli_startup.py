"""The command line starts without the web stack: what a command does not use, it does not
import (the speed of `payfacile --help` and `stores list`; figures in bench/cli_startup.py)."""

from __future__ import annotations

import json
import subprocess
import sys

from payfacile.platform.config import Settings
from tests.conftest import settings_env
from tests.test_cli import create_store

# Run as the `payfacile` script runs: import the command line, run one command, then report
# what it printed, its exit status and every module it loaded.
RUN = """
import contextlib, io, json, sys
from payfacile.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        status = main(sys.argv[1:])
    except SystemExit as exit:
        status = exit.code
print(json.dumps({"status": status, "out": out.getvalue(), "modules": sorted(sys.modules)}))
"""

SERVING = {"quart", "flask", "hypercorn", "werkzeug", "jinja2", "aiohttp", "PIL", "xhtml2pdf"}


def run(*args: str, env: dict[str, str] | None = None, cwd: str | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", RUN, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found: dict = json.loads(done.stdout)
    found["err"] = done.stderr
    return found


def loaded(modules: list[str], names: set[str]) -> set[str]:
    return {name for name in modules if name.split(".")[0] in names}


def test_help_loads_no_command() -> None:
    found = run("--help")
    assert found["status"] == 0
    assert "stores" in found["out"]
    assert "serve the platform over HTTP" in found["out"]
    heavy = {"tortoise", "redis", "pydantic", "pydantic_settings", *SERVING}
    assert loaded(found["modules"], heavy) == set()
    assert [name for name in found["modules"] if name.startswith("payfacile.")] == ["payfacile.cli"]


def test_a_subcommands_help_loads_no_command() -> None:
    found = run("domains", "add", "--help")
    assert found["status"] == 0
    assert "--store SLUG" in found["out"]
    assert loaded(found["modules"], {"tortoise", "redis", *SERVING}) == set()


def test_stores_list_loads_neither_the_web_stack_nor_the_shared_cache(
    settings: Settings,
) -> None:
    env = settings_env(settings)
    empty = run("stores", "list", env=env, cwd=str(settings.data_dir))
    assert empty["status"] == 0
    assert empty["out"].startswith("No stores yet.")
    assert loaded(empty["modules"], SERVING) == set()

    create_store(settings, "acme")
    listed = run("stores", "list", env=env, cwd=str(settings.data_dir))
    assert listed["status"] == 0
    assert listed["out"].splitlines()[1].split()[:3] == ["acme", "active", "owner@acme.example.com"]
    # Listing changes no host: nothing to invalidate, so no Redis client either.
    assert loaded(listed["modules"], {"redis", *SERVING}) == set()


def test_a_failing_command_says_why_in_english_without_quart(settings: Settings) -> None:
    found = run("stores", "suspend", "nope", env=settings_env(settings), cwd=str(settings.data_dir))
    assert found["status"] == 1
    assert found["err"] == "payfacile: There is no store with the slug “nope”.\n"
    assert loaded(found["modules"], SERVING) == set()
