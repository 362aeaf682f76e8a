"""PostgreSQL connections go back to the pool without a reset query (`db.keep_session`):
one round trip a query, not two. That is safe only while no code leaves anything on a
connection that a reset would undo, which the second test checks in the code."""

from __future__ import annotations

import re

import pytest
from tortoise import connections

from payfacile.platform.config import Settings
from payfacile.portal.models import Customer
from tests.conftest import ON_POSTGRES
from tests.test_architecture import package_modules

# What asyncpg's default reset undoes, as SQL is written here (keywords in capitals):
# session settings, LISTEN, session advisory locks, cursors held past their transaction.
SESSION_STATE = re.compile(
    r"(?:^|[\"'])\s*SET\s+(?!LOCAL\b)(SESSION\s+)?[a-z_.]+\s*(=|TO\b)|\bLISTEN\s+\w"
    r"|pg_advisory_lock\b|pg_try_advisory_lock\b|\bWITH\s+HOLD\b|set_config\(",
    re.MULTILINE,
)


@pytest.mark.skipif(not ON_POSTGRES, reason="asyncpg's pool is PostgreSQL's")
async def test_a_query_costs_one_statement_and_its_connection_goes_back_as_it_is(
    database: Settings,
) -> None:
    client = connections.get("default")
    sent: list[str] = []
    async with client.acquire_connection() as connection:
        connection.add_query_logger(lambda record: sent.append(record.query))
        await connection.fetch("SELECT 1")
    # With asyncpg's default, the release sent "SELECT pg_advisory_unlock_all(); … RESET ALL;"
    assert sent == ["SELECT 1"]
    # And the pool still works for Tortoise's own queries afterwards.
    assert await Customer.all().count() == 0


@pytest.mark.skipif(not ON_POSTGRES, reason="asyncpg's pool is PostgreSQL's")
async def test_a_transaction_left_open_is_still_rolled_back_on_release(database: Settings) -> None:
    client = connections.get("default")
    async with client.acquire_connection() as connection:
        await connection.execute("BEGIN")
        await connection.execute("CREATE TEMP TABLE left_open (id int)")
    async with client.acquire_connection() as connection:
        assert not connection.is_in_transaction()
        found = await connection.fetchval("SELECT to_regclass('pg_temp.left_open') IS NULL")
    assert found is True


def test_no_code_leaves_session_state_on_a_connection() -> None:
    offenders = [
        f"{module}: {match.group(0)!r}"
        for module, path in package_modules().items()
        for match in SESSION_STATE.finditer(path.read_text())
    ]
    assert offenders == []
