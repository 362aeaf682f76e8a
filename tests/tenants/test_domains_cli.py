"""Custom domains as a new user meets them: `payfacile domains …` in its own process, the
records it prints set in a real DNS server, and every running instance serving the result."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from payfacile.platform import db
from payfacile.platform.config import Settings
from payfacile.schema import MODEL_MODULES
from payfacile.tenants.models import Domain
from tests.challtestsrv import ChallTestSrv
from tests.conftest import run_sync, unique_host
from tests.platform.test_instances import server, status, wait_for
from tests.platform.test_jobs import start_payfacile, stop_all
from tests.test_cli import create_store, payfacile

RECORD = re.compile(r"^ {4}(\S+)\.  (TXT|CNAME|A|AAAA)  (\S+)$", re.MULTILINE)


@pytest.fixture
def settings(settings: Settings, challtestsrv: ChallTestSrv) -> Settings:
    return settings.model_copy(update={"dns_nameservers": [challtestsrv.nameserver]})


def set_printed_records(dns: ChallTestSrv, printed: str) -> list[tuple[str, str, str]]:
    """Create, in the DNS server, the records `domains add` told the merchant to create."""
    records = RECORD.findall(printed)
    for name, kind, value in records:
        {"TXT": dns.set_txt, "CNAME": dns.set_cname, "A": dns.add_a}[kind](name, value)
    return records


async def _due_now(settings: Settings, hostname: str) -> None:
    await db.init_db(settings, MODEL_MODULES)
    try:
        await Domain.filter(hostname=hostname).update(next_attempt_at=datetime.now(UTC))
    finally:
        await db.close_db()


def added_with_its_records(settings: Settings, dns: ChallTestSrv) -> str:
    """A new store's hostname, added from the CLI, its printed records set in DNS."""
    create_store(settings, "acme")
    host = unique_host()
    set_printed_records(dns, domains(settings, "add", "--store", "acme", host).stdout)
    return host


def domains(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return payfacile(settings, "domains", *args)


def test_the_records_domains_add_prints_verify_once_set(
    settings: Settings, challtestsrv: ChallTestSrv
) -> None:
    create_store(settings, "acme")
    host = unique_host()
    added = domains(settings, "add", "--store", "acme", host)
    assert added.returncode == 0, added.stderr
    assert f"{host}: Waiting for DNS, primary" in added.stdout
    assert "Missing: there is no TXT record" in added.stdout
    assert f"payfacile domains verify {host}" in added.stdout
    records = set_printed_records(challtestsrv, added.stdout)
    assert [kind for _, kind, _ in records] == ["TXT", "CNAME"]

    verified = domains(settings, "verify", host)
    assert verified.returncode == 0, verified.stderr
    assert f"{host}: Connected, primary" in verified.stdout
    assert "Found: the TXT record" in verified.stdout
    listed = domains(settings, "list", "--store", "acme")
    assert listed.stdout.split()[:3] == [host, "acme", "verified"]

    removed = domains(settings, "remove", host)
    assert removed.returncode == 0, removed.stderr
    assert domains(settings, "list").stdout.strip() == "No custom domains."


def test_a_bad_hostname_is_a_clear_error_and_adds_nothing(settings: Settings) -> None:
    create_store(settings, "acme")
    refused = domains(settings, "add", "--store", "acme", "*.shop.example.com")
    assert refused.returncode == 1
    assert "wildcard cannot be connected" in refused.stderr
    unknown = domains(settings, "verify", "nobody.example.com")
    assert unknown.returncode == 1
    assert "No store has connected nobody.example.com" in unknown.stderr
    assert domains(settings, "list").stdout.strip() == "No custom domains."


@pytest.mark.postgres_redis
def test_a_domain_verified_from_the_cli_is_served_by_every_instance_within_a_second(
    settings: Settings, challtestsrv: ChallTestSrv, tmp_path: Path
) -> None:
    host = added_with_its_records(settings, challtestsrv)
    with server(settings, tmp_path) as (first, _), server(settings, tmp_path) as (second, _):
        for port in (first, second):
            assert status(port, host) == 404  # cached as "no store here" in both

        assert domains(settings, "verify", host).returncode == 0
        for port in (first, second):
            wait_for(lambda port=port: status(port, host) == 200, within=1.0)

        assert domains(settings, "remove", host).returncode == 0
        for port in (first, second):
            wait_for(lambda port=port: status(port, host) == 404, within=1.0)


@pytest.mark.postgres_redis
def test_the_scheduler_and_a_worker_verify_a_domain_in_the_background(
    settings: Settings, challtestsrv: ChallTestSrv, tmp_path: Path
) -> None:
    host = added_with_its_records(settings, challtestsrv)
    with server(settings, tmp_path, env={"PAYFACILE_SCHEDULER_INTERVAL": "0.2"}) as (port, _):
        assert status(port, host) == 404
        background = [
            start_payfacile(settings, "scheduler", log=tmp_path / "scheduler.log"),
            start_payfacile(settings, "worker", log=tmp_path / "worker.log"),
        ]
        try:
            run_sync(_due_now(settings, host))  # rather than wait the minute until its check
            wait_for(lambda: status(port, host) == 200, within=30.0)
        finally:
            stop_all(background)
    listed = domains(settings, "list")
    assert listed.stdout.split()[:3] == [host, "acme", "verified"]
