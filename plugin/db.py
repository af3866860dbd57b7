"""Database engine and sessions: one `Database` per app, sessions as short transactions."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import DateTime, create_engine, event
from sqlalchemy.exc import DBAPIError
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


def is_disconnect(exc: BaseException) -> bool:
    """The database dropped our connection (restart, failover, pg_terminate_backend): the transaction is gone."""
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite"):
            self.engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            # pool_pre_ping: a connection the server dropped (restart, failover, pg_terminate_backend) is replaced
            # transparently at checkout instead of failing one request per pooled connection. It costs one
            # round trip per checkout (well under a millisecond on a local network); pool_recycle bounds age.
            self.engine = create_engine(url, pool_pre_ping=True, pool_recycle=300, pool_size=10, max_overflow=10)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)

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

    def transaction(self, work: Callable[[Session], T]) -> T:
        """`work(session)` in one transaction, run a second time if the connection was dropped under it.

        Safe because a dropped connection means the first transaction rolled back; `work` must do nothing
        outside the database (the jobs call SMTP and HTTP between transactions, never inside one).
        """
        try:
            with self.session() as session:
                return work(session)
        except DBAPIError as exc:
            if not is_disconnect(exc):
                raise
            log.warning("database connection dropped; retrying the transaction once: %s", exc.orig)
        with self.session() as session:
            return work(session)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the in-process job thread write while requests read; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
