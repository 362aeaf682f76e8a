"""Tortoise set-up: one config built from the settings, init/close, migrations.

The model modules come from the caller (`payfacile.schema.MODEL_MODULES` lists every part's):
the kernel names none of them.
"""

from __future__ import annotations

import contextlib
import os
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.exceptions import IntegrityError, MultipleObjectsReturned
from tortoise.migrations.api import migrate as tortoise_migrate
from tortoise.models import Model
from tortoise.queryset import QuerySet, ValuesQuery

from payfacile.platform.config import Settings, make_private_dir
from payfacile.platform.errors import Conflict
from payfacile.platform.text import Message

if TYPE_CHECKING:
    from asyncpg import Connection

M = TypeVar("M", bound=Model)

MIGRATIONS = "payfacile.migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Every id column is an `IntField`: PostgreSQL's `integer`. A value from outside beyond it
# is no row of ours (PostgreSQL refuses to compare it; SQLite past 64 bits, too).
MAX_ID = 2**31 - 1


def database_url(settings: Settings) -> str:
    url = settings.database_url
    if url.startswith("sqlite://") and "busy_timeout" not in url:
        separator = "&" if "?" in url else "?"
        url = f"{url}{separator}busy_timeout={SQLITE_BUSY_TIMEOUT_MS}"
    return url


def tortoise_config(settings: Settings, modules: Sequence[str]) -> dict[str, Any]:
    return {
        "connections": {"default": connection_config(settings)},
        "apps": {
            "models": {
                "models": list(modules),
                "default_connection": "default",
                "migrations": MIGRATIONS,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def connection_config(settings: Settings) -> dict[str, Any]:
    """The database's connection, from its URL; on PostgreSQL, a pool that hands back a
    connection without a reset query (`keep_session`)."""
    config = expand_db_url(database_url(settings))
    if config["engine"] == "tortoise.backends.asyncpg":
        config["credentials"]["reset"] = keep_session
    return config


async def keep_session(connection: Connection) -> None:
    """What asyncpg's pool runs on a connection handed back, besides its own rollback of a
    transaction left open: nothing. Its default sends `SELECT pg_advisory_unlock_all(); CLOSE
    ALL; UNLISTEN *; RESET ALL` after every query Tortoise runs outside a transaction, one more
    round trip each time (about 0.14 ms of CPU and 0.2 ms of waiting a query). None of it has
    anything to undo here: no code takes session advisory locks, keeps a cursor past its
    transaction, LISTENs on this pool or SETs a session setting (`test_db_pool` checks the
    code for the last three, and that a release sends nothing)."""


@dataclass(frozen=True)
class _Compiled:
    model: type[Model]
    sql: str
    params: list[Any]
    slots: list[tuple[int, int]]  # (place among the parameters, which value)
    # `.values()` queries: each column Tortoise turns into Python, with how (an enum, a
    # zone-aware moment…), exactly as its ValuesQuery does after running
    converters: list[tuple[str, Callable[[Any], Any]]] | None


class Statement(Generic[M]):
    """A SELECT that Tortoise builds once; each run only puts its values in.

    pypika builds the same SQL text every time a page asks the same question: 0.14 ms of the
    0.36 ms a lookup by id costs, 0.37 ms of the 0.8 ms the first page of the order list
    costs. `build` gets one marker per value, of the kinds `kinds` names (`int` or `str`),
    and returns the query (a QuerySet, or its `.values(...)`) with each marker where its
    value goes, once or more; the SQL and the places of the values are kept. `one` and
    `rows` run it on the connection Tortoise would use (a transaction's, inside one) and
    make the model, or the values, from the rows as Tortoise's own code does. Markers no
    real value can be: ints below -2**62, strings holding a NUL."""

    def __init__(self, build: Callable[..., QuerySet[M] | ValuesQuery[Any]], *kinds: type) -> None:
        if any(kind not in (int, str) for kind in kinds):
            raise TypeError("a Statement's values are ints or strings")
        self._build = build
        self._kinds = kinds
        self._compiled: _Compiled | None = None

    def _compile(self) -> _Compiled:
        markers: list[Any] = [
            -(2**62) - index if kind is int else f"\x00{index}"
            for index, kind in enumerate(self._kinds)
        ]
        query = self._build(*markers)
        query.sql()  # builds query.query
        sql, params = query.query.get_parameterized_sql()
        slots = [
            (position, markers.index(value))
            for position, value in enumerate(params)
            if type(value) in (int, str) and value in markers
        ]
        if {index for _, index in slots} != set(range(len(markers))):
            raise ValueError(f"each value must appear in the statement: {sql}")
        converters = None
        if isinstance(query, ValuesQuery):
            converters = [
                (alias, convert)
                for alias, name in query._fields_for_select.items()
                for convert in [query.resolve_to_python_value(query.model, name)]
                if not isinstance(convert, types.LambdaType)  # as ValuesQuery._execute
            ]
        self._compiled = _Compiled(query.model, sql, list(params), slots, converters)
        return self._compiled

    async def _run(self, values: tuple[Any, ...]) -> tuple[_Compiled, list[dict[str, Any]]]:
        compiled = self._compiled or self._compile()
        filled = list(compiled.params)
        for position, index in compiled.slots:
            filled[position] = values[index]
        rows = await compiled.model._meta.db.execute_query_dict(compiled.sql, filled)
        return compiled, rows

    async def one(self, *values: Any) -> M | None:
        """The model these values find, or None; `MultipleObjectsReturned` if there are two."""
        compiled, rows = await self._run(values)
        if len(rows) > 1:
            raise MultipleObjectsReturned(compiled.model)
        return cast(M, compiled.model._init_from_db(**rows[0])) if rows else None

    async def rows(self, *values: Any) -> list[dict[str, Any]]:
        """The rows of a `.values(...)` statement, as Tortoise would give them."""
        compiled, rows = await self._run(values)
        if compiled.converters is None:
            raise TypeError("rows() is for a statement built with .values(...)")
        for row in rows:
            for alias, convert in compiled.converters:
                row[alias] = convert(row[alias])
        return rows


def is_id(value: int) -> bool:
    """Whether `value` fits an id column (and so may name a row)."""
    return 0 < value <= MAX_ID


def id_in(text: str) -> int | None:
    """The id a link's parameter holds (`?after=42`), or None if it holds none that fits."""
    try:
        value = int(text[:12])
    except ValueError:
        return None
    return value if is_id(value) else None


@contextlib.contextmanager
def unique_or_conflict(message: Message, *, field: str | None = None) -> Iterator[None]:
    """Turn a unique constraint refusing a write inside into a `Conflict` with `message`.

    A check before the write cannot see a row another request commits in between; the
    constraint can. Wrap the whole transaction, so that the error arrives after its rollback.
    """
    try:
        yield
    except IntegrityError as error:
        raise Conflict(message, field=field) from error


def is_sqlite(settings: Settings) -> bool:
    return settings.database_url.startswith("sqlite")


def private_sqlite_file(settings: Settings) -> None:
    """The data directory at 0700 and the database file at 0600 before SQLite opens it
    (SQLite gives its -wal and -shm files the database file's mode)."""
    make_private_dir(settings.data_dir)
    path = settings.database_url.removeprefix("sqlite://").split("?", 1)[0]
    if not path or path == ":memory:":
        return
    Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)


async def init_db(settings: Settings, modules: Sequence[str]) -> None:
    if is_sqlite(settings):
        private_sqlite_file(settings)
    await Tortoise.init(config=tortoise_config(settings, modules), _enable_global_fallback=True)


async def close_db() -> None:
    await Tortoise.close_connections()


async def ping_db() -> None:
    await connections.get("default").execute_query("SELECT 1")


async def migrate(
    settings: Settings,
    modules: Sequence[str],
    *,
    progress: Callable[[str, str, str], object] | None = None,
) -> None:
    """Apply every migration not yet applied (idempotent)."""
    if is_sqlite(settings):
        private_sqlite_file(settings)
    try:
        await tortoise_migrate(config=tortoise_config(settings, modules), progress=progress)
    finally:
        await Tortoise.close_connections()
