"""Engine and session factory built from settings (never at import time), and the unit-of-work helper:
one command, one request or one job is one transaction, committed or rolled back at its boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlmodel import Session, create_engine

from core.errors import ConfigError
from core.i18n import tr
from core.settings import get_settings

_engines: dict[str, Engine] = {}


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def build_engine(url: str, *, echo: bool = False) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"GONGWU_DATABASE_URL is not a database URL: {url!r}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    elif backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = create_engine(parsed, echo=echo, pool_pre_ping=True)
    else:
        raise ConfigError(
            f"GONGWU_DATABASE_URL uses '{backend}': use sqlite:///FILE or postgresql+psycopg://USER@HOST/DB"
        )
    return engine


def get_engine(url: str | None = None) -> Engine:
    """The process's engine for `url` (default: the configured database), created once."""
    settings = get_settings()
    url = url or settings.database_url
    if url not in _engines:
        _engines[url] = build_engine(url, echo=settings.sql_echo)
    return _engines[url]


def dispose_engines() -> None:
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


def sqlite_file(url: Any) -> Path | None:
    """The file of an SQLite URL (None for another database or an in-memory one)."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if str(parsed.database).startswith("file:"):
        return None
    return Path(parsed.database)


def check_connection(engine: Engine) -> None:
    """Fail with a one-line reason naming the setting when the database cannot be reached."""
    path = sqlite_file(engine.url)
    if path is not None and not path.parent.is_dir():
        url = engine.url.render_as_string(hide_password=True)
        raise ConfigError(
            tr(
                f"GONGWU_DATABASE_URL={url}：文件夹 {path.parent} 不存在，请先建好它或换一个路径",
                f"GONGWU_DATABASE_URL={url}: folder {path.parent} does not exist: "
                "create it or choose another",
            )
        )
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        url = engine.url.render_as_string(hide_password=True)
        raise ConfigError(f"GONGWU_DATABASE_URL={url}: cannot connect ({reason})") from None


def is_postgres(engine_or_session: Engine | Session) -> bool:
    bind = engine_or_session.get_bind() if isinstance(engine_or_session, Session) else engine_or_session
    return bind.dialect.name == "postgresql"


@contextmanager
def unit_of_work(engine: Engine | None = None) -> Iterator[Session]:
    """One transaction: commit when the block ends normally, roll back on any error."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
