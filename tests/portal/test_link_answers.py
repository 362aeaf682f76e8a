"""Asking for a sign-in or reset link answers at once, the same for any address: the lookup,
the token and the email are written after the answer, exactly once."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from payfacile.platform.config import Settings
from payfacile.platform.models import OutboxEmail, Token
from tests.conftest import ON_POSTGRES, work_after_answers
from tests.portal.test_auth import ACME, CSRF, acme_with_buyer, comparable

# A bound on a hang, not a measure: the old code waited on the locked table.
HANG = 60
CENTRAL = "payfacile.localhost"


@asynccontextmanager
async def token_table_locked(settings: Settings) -> AsyncIterator[None]:
    """Another connection holds the token table (PostgreSQL) or the database (SQLite) for
    writing: reads go on, a write waits until the block ends."""
    if ON_POSTGRES:
        dsn = settings.database_url.replace("postgres://", "postgresql://", 1)
        connection = await asyncpg.connect(dsn)
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute("LOCK TABLE token IN EXCLUSIVE MODE")
        try:
            yield
        finally:
            await transaction.rollback()
            await connection.close()
        return
    path = settings.database_url.removeprefix("sqlite://").split("?", 1)[0]
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


async def ask(
    client: Client, path: str, field: str, address: str, *, page: str, host: str = ACME["Host"]
) -> tuple[int, str]:
    """Post the form on `page` for `address`: the status and the page, the address masked."""
    html = await (await client.get(page, headers={"Host": host})).get_data(as_text=True)
    match = CSRF.search(html)
    assert match is not None
    form = {field: address, "csrf_token": match.group(1)}
    response = await asyncio.wait_for(client.post(path, form=form, headers={"Host": host}), HANG)
    answer = await response.get_data(as_text=True)
    return response.status_code, comparable(answer.replace(address, "ADDRESS"))


@pytest.mark.parametrize(
    ("path", "field", "purpose"),
    [
        ("/portal/login/link", "link_email", "sign_in"),
        ("/portal/forgot-password", "email", "password_reset"),
    ],
)
async def test_the_answer_does_not_wait_for_the_link_and_is_the_same_for_any_address(
    app: Quart, client: Client, settings: Settings, path: str, field: str, purpose: str
) -> None:
    await acme_with_buyer()
    async with token_table_locked(settings):
        page = path if "forgot" in path else "/portal/login"
        known = await ask(client, path, field, "camille@example.com", page=page)
        unknown = await ask(client, path, field, "ghost@example.com", page=page)
        assert known[0] == unknown[0] == 200
        assert known[1] == unknown[1]
    await work_after_answers(app)
    assert await OutboxEmail.filter(to_address="camille@example.com").count() == 1
    assert await Token.filter(purpose=purpose).count() == 1
    assert not await OutboxEmail.filter(to_address="ghost@example.com").exists()


async def test_a_central_reset_request_does_not_wait_either(
    app: Quart, client: Client, settings: Settings
) -> None:
    from payfacile.tenants.accounts import create_admin

    await create_admin(settings, "admin@example.com")
    forgot = "/admin/forgot-password"
    async with token_table_locked(settings):
        known = await ask(client, forgot, "email", "admin@example.com", page=forgot, host=CENTRAL)
        unknown = await ask(
            client, forgot, "email", "nobody@example.com", page=forgot, host=CENTRAL
        )
        assert known[0] == unknown[0] == 200
        assert known[1] == unknown[1]
    await work_after_answers(app)
    assert await Token.filter(purpose="password_reset").count() == 1
    assert not await OutboxEmail.filter(to_address="nobody@example.com").exists()
