from __future__ import annotations

from pathlib import Path

from tortoise import connections

from payfacile.platform import db
from payfacile.platform.config import Settings
from payfacile.schema import MODEL_MODULES
from tests.conftest import ON_POSTGRES, run_sync


def test_migrations_build_every_table_on_sqlite_in_wal_mode(tmp_path: Path) -> None:
    settings = Settings(env="test", data_dir=tmp_path)
    run_sync(db.migrate(settings, MODEL_MODULES))
    run_sync(db.migrate(settings, MODEL_MODULES))  # again: nothing to do, no error

    async def inspect() -> tuple[set[str], str, list[str]]:
        await db.init_db(settings, MODEL_MODULES)
        try:
            conn = connections.get("default")
            _, tables = await conn.execute_query(
                "SELECT name FROM sqlite_master WHERE type='table'"
            )
            _, mode = await conn.execute_query("PRAGMA journal_mode")
            _, indexes = await conn.execute_query(
                "SELECT sql FROM sqlite_master WHERE type='index' AND tbl_name='order'"
            )
        finally:
            await db.close_db()
        return (
            {row["name"] for row in tables},
            next(iter(dict(mode[0]).values())),
            [row["sql"] or "" for row in indexes],
        )

    tables, mode, order_indexes = run_sync(inspect())
    assert mode == "wal"
    expected = {
        "store",
        "domain",
        "merchant_user",
        "membership",
        "product",
        "customer",
        "order",
        "order_line",
        "payment",
        "invoice",
        "subscription",
        "payment_method",
        "session",
        "token",
        "api_client",
        "access_token",
        "idempotency_key",
        "outbox_email",
        "webhook_endpoint",
        "webhook_event",
        "webhook_delivery",
        "import_run",
        "import_row",
        "certificate",
        "acme_account",
        "acme_order",
        "platform_admin",
    }
    assert expected <= tables
    assert any('"store_id", "customer_id", "placed_at"' in sql for sql in order_indexes)


async def test_the_test_database_is_migrated_on_this_backend(database: Settings) -> None:
    conn = connections.get("default")
    if ON_POSTGRES:
        _, rows = await conn.execute_query(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'order'"
        )
        definitions = " ".join(row["indexdef"] for row in rows)
        assert "store_id, customer_id, placed_at" in definitions
    else:
        _, rows = await conn.execute_query("SELECT count(*) AS n FROM store")
        assert rows[0]["n"] == 0
