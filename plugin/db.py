"""Database engine and sessions: one `Database` per app, sessions as short transactions."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Executable,
    Integer,
    String,
    create_engine,
    event,
    literal_column,
    null,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """The current time, timezone-aware UTC: the only clock domain code reads by default."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in Python, naive UTC in the database (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


log = logging.getLogger(__name__)
T = TypeVar("T")


# A failover or an operator's kill comes in a burst of drops over a second or two; retrying for this long (with
# pauses doubling from 0.1 s) rides it out, and a request still answers well inside a helpdesk's webhook timeout
# (10 s and more). Past it the database is down: the request answers 503 (plugin/web/errors.py).
DISCONNECT_BUDGET_SECONDS = 5.0


def is_disconnect(exc: BaseException) -> bool:
    """The database dropped our connection (restart, failover, pg_terminate_backend): the transaction is gone."""
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def retry_on_disconnect(work: Callable[[], T], what: str) -> T:
    """`work()`, run again while it fails because the connection was dropped, for DISCONNECT_BUDGET_SECONDS.

    Safe because a dropped connection rolled the transaction back; `work` must have done nothing outside the
    database before its commit. SQLAlchemy invalidates the whole pool on a disconnect, so the next try runs on a
    fresh connection.
    """
    deadline, pause, attempt = time.monotonic() + DISCONNECT_BUDGET_SECONDS, 0.1, 1
    while True:
        try:
            return work()
        except DBAPIError as exc:
            if not is_disconnect(exc) or time.monotonic() + pause > deadline:
                raise
            log.warning("database connection dropped during %s (try %d); trying again: %s", what, attempt, exc.orig)
        time.sleep(pause)
        pause, attempt = pause * 2, attempt + 1


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite"):
            self.engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            event.listen(self.engine, "connect", _sqlite_pragmas)
            self.autocommit_engine = self.engine  # unused: SQLite's statement_session is a transaction
        else:
            # No pool_pre_ping: a SELECT 1 before every request was a round trip per request. A connection dropped
            # under a busy pool fails its statement, SQLAlchemy invalidates the pool, and the request or job step is
            # run again on a fresh connection (retry_on_disconnect, plugin/web/edge.py). Only a connection that sat
            # idle in the pool (where a restart or failover goes unnoticed) is pinged at checkout; pool_recycle
            # bounds age.
            self.engine = create_engine(url, pool_recycle=300, pool_size=10, max_overflow=10)
            # Connections that stay in autocommit, for work whose writes are one statement (statement_session): no
            # BEGIN, no COMMIT, and no switching a connection in and out of autocommit. Nothing to reset on return.
            self.autocommit_engine = create_engine(
                url, isolation_level="AUTOCOMMIT", pool_reset_on_return=None, pool_recycle=300, pool_size=10,
                max_overflow=10,
            )  # fmt: skip
            for engine in (self.engine, self.autocommit_engine):
                event.listen(engine, "checkin", _note_checkin)
                event.listen(engine, "checkout", _ping_if_idle)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)

    def dispose(self) -> None:
        """Close every pooled connection (tests, and a process about to fork)."""
        self.engine.dispose()
        if self.autocommit_engine is not self.engine:
            self.autocommit_engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back (nothing half-written) if it raises."""
        session = self.Session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def statement_session(self) -> Iterator[Session]:
        """For work whose writes are one statement: on PostgreSQL every statement commits on its own (autocommit:
        no BEGIN and no COMMIT round trips); on SQLite, where that work takes several statements, one transaction
        for the block, as `session`."""
        if self.engine.dialect.name != "postgresql":
            with self.session() as session:
                yield session
            return
        # Connects only if the block runs a query; run_one's statements take a pooled connection each.
        with self.Session(bind=self.autocommit_engine, info={STATEMENTS: True}) as session:
            yield session
            if session.new or session.dirty or session.deleted:
                session.flush()  # each statement commits on its own (a commit() would begin and end a transaction)

    def transaction(self, work: Callable[[Session], T], *, statements: bool = False) -> T:
        """`work(session)` in one transaction, run again if the connection was dropped under it
        (retry_on_disconnect); the jobs call SMTP and HTTP between transactions, never inside one.

        `statements`: for work whose writes are one statement, a statement_session (on PostgreSQL that statement
        is its own transaction: no BEGIN, no COMMIT)."""

        def once() -> T:
            with self.statement_session() if statements else self.session() as session:
                return work(session)

        return retry_on_disconnect(once, "a job step")


def sql_constant(value: str | int | None) -> ColumnElement:
    """One of our own constants (a status, a reason name, 0) written into the SQL text rather than sent as a
    parameter: the planner matches it to a partial index from the query alone, and each parameter costs the driver
    a few microseconds on every execution. Never for anything a request supplies."""
    if value is None:
        return null()
    if isinstance(value, int):
        return literal_column(str(int(value)), Integer())
    if not _CONSTANT.fullmatch(value):
        raise ValueError(f"not a constant of ours: {value!r}")
    return literal_column(f"'{value}'", String())


_CONSTANT = re.compile(r"[a-z_]{1,40}")


class _Compiled:
    """A Core statement compiled once for PostgreSQL, with its types' conversions, to run on a DBAPI cursor."""

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        self.sql = compiled.string
        self.defaults = {key: bind.effective_value for key, bind in compiled.binds.items() if not bind.required}
        self.to_database = {
            key: convert for key, bind in compiled.binds.items() if (convert := bind.type.bind_processor(dialect))
        }
        self.from_database = [column.type.result_processor(dialect, None) for column in statement.exported_columns]

    def parameters(self, given: dict) -> dict:
        values = {**self.defaults, **given}
        for key, convert in self.to_database.items():
            if key in values:
                values[key] = convert(values[key])
        return values

    def row(self, raw: tuple | None) -> tuple | None:
        if raw is None:
            return None
        converted = zip(raw, self.from_database, strict=True)
        return tuple(value if convert is None else convert(value) for value, convert in converted)


_compiled: dict[tuple[str, Executable], _Compiled] = {}


STATEMENTS = "statements"  # Session.info key of a statement_session on PostgreSQL: every statement its own transaction


def run_one(session: Session, statement: Executable, params: dict) -> tuple | None:
    """The one row (or None) of a statement that returns at most one. In a statement_session on PostgreSQL, on a
    pooled autocommit connection (the statement is its own transaction) without SQLAlchemy's per-execution work:
    compiled once per process, converted by the column types as SQLAlchemy would. Elsewhere in the session's
    transaction. Errors are SQLAlchemy's, and a dropped connection is invalidated and raised as one
    (DBAPIError.connection_invalidated), so that retry_on_disconnect runs again."""
    if not session.info.get(STATEMENTS) or session.in_transaction():
        row = session.connection().execute(statement, params).first()
        return None if row is None else tuple(row)
    engine = session.get_bind()
    key = (engine.dialect.name, statement)
    compiled = _compiled.get(key) or _compiled.setdefault(key, _Compiled(statement, engine.dialect))
    values = compiled.parameters(params)
    connection = engine.raw_connection()
    if not connection.driver_connection.autocommit:  # its transaction would be rolled back on return to the pool
        connection.close()
        raise RuntimeError("run_one needs an engine in autocommit (Database.autocommit_engine)")
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(compiled.sql, values, binary=True)
            raw = cursor.fetchone()
        finally:
            cursor.close()
    except engine.dialect.loaded_dbapi.Error as exc:
        dropped = engine.dialect.is_disconnect(exc, connection.dbapi_connection, None)
        if dropped:
            connection.invalidate(exc)
            engine.dispose(close=False)  # as SQLAlchemy does on a disconnect: the other pooled ones are suspect too
        raise DBAPIError.instance(
            compiled.sql, values, exc, engine.dialect.loaded_dbapi.Error, connection_invalidated=dropped,
            dialect=engine.dialect,
        ) from exc  # fmt: skip
    finally:
        connection.close()
    return compiled.row(raw)


IDLE_PING_SECONDS = 2.0  # a connection back in the pool longer than this is pinged before it is handed out


def _note_checkin(_dbapi_connection, record) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
    if time.monotonic() - record.info.get("checked_in_at", 0.0) < IDLE_PING_SECONDS:
        return
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
        dbapi_connection.rollback()  # ends the transaction the ping began: the connection may go into autocommit
    except Exception as exc:  # noqa: BLE001 - any failure means this connection is gone
        # The pool discards this connection and checks out another (SQLAlchemy's pessimistic disconnect handling).
        raise DisconnectionError(str(exc)) from exc


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the in-process job thread write while requests read; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
