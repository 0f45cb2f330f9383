"""One real, migrated database per test session; each test runs inside a transaction that is rolled back.

SQLite (a temporary file) by default; PostgreSQL when GONGWU_TEST_DATABASE_URL names one — as `.ci/run`
does. A named database that cannot be reached fails the run: it is never skipped silently.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from core.db import build_engine, check_connection
from core.settings import Settings, reset_settings


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get("GONGWU_TEST_DATABASE_URL")
    return f"gongwu test database: {url or 'SQLite (temporary file)'}"


@pytest.fixture(scope="session")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("GONGWU_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    from gongwu import migrate

    eng = build_engine(db_url)
    if eng.dialect.name == "sqlite":
        # pysqlite begins transactions lazily and its own way, so a SAVEPOINT can end up outermost and its
        # RELEASE commit for real (SQLAlchemy's documented recipe): a test's transaction must hold
        # whatever a handler commits early (an upload's job) until it is rolled back.
        @event.listens_for(eng, "connect")
        def _no_pysqlite_transactions(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        @event.listens_for(eng, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN")

    check_connection(eng)  # a configured PostgreSQL that is down fails here, loudly
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    conn = engine.connect()
    trans = conn.begin()
    try:
        yield conn
    finally:
        trans.rollback()
        conn.close()


@pytest.fixture
def session(connection: Connection) -> Iterator[Session]:
    """A session whose commits become savepoints inside the test's transaction."""
    with Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False) as s:
        yield s


@pytest.fixture
def app(engine: Engine, session: Session) -> FastAPI:
    """The app on the test's session, so what a test sets up is what the API sees, and all rolls back."""
    from core.api import get_session
    from gongwu.app import create_app

    application = create_app(
        Settings(database_url=str(engine.url.render_as_string(hide_password=False))), engine=engine
    )

    def _session() -> Iterator[Session]:
        # One request, one savepoint: released when it succeeds, rolled back when it fails (as a request's
        # transaction would be), so a failed request never leaves the test's session unusable.
        request = session.begin_nested()
        try:
            yield session
            session.flush()
            if request.is_active:  # a handler that committed early (an upload) ended it already
                request.commit()
        except BaseException:
            if request.is_active:
                request.rollback()
            raise

    application.dependency_overrides[get_session] = _session
    lock = threading.Lock()

    @contextmanager
    def _work() -> Iterator[Session]:
        # The import worker's transactions, on the test's session too (one at a time: it is one session).
        with lock:
            tx = session.begin_nested()
            try:
                yield session
                session.flush()
                tx.commit()
            except BaseException:
                tx.rollback()
                raise

    application.state.open_session = _work
    application.state.imports_inline = True  # queued jobs run as they are queued: one session, one thread
    return application


_users = count(1)


def make_token(session: Session, role: str, *, unit_id: int | None = None, username: str = "") -> str:
    """A user of `role` (no usable password) with an API token; returns the clear token."""
    from accounts.models import ApiToken, User
    from accounts.rules import new_token, token_hash

    user = User(
        username=username or f"t_{role}_{next(_users)}", password_hash="!", role=role, unit_id=unit_id
    )
    session.add(user)
    session.flush()
    assert user.id is not None
    token = new_token()
    session.add(ApiToken(user_id=user.id, name="test", token_hash=token_hash(token)))
    session.flush()
    return token


@pytest.fixture
def client(app: FastAPI, session: Session) -> Iterator[TestClient]:
    """The API as an admin (bearer token of a fresh admin user)."""
    token = make_token(session, "admin", username="test_admin")
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as c:
        yield c


ClientAs = Callable[..., TestClient]


@pytest.fixture
def client_as(app: FastAPI, session: Session) -> ClientAs:
    """`client_as("unit_viewer", unit_id=3)` → a client signed in with that role; `client_as(None)` →
    no credential."""

    def make(role: str | None, *, unit_id: int | None = None) -> TestClient:
        if role is None:
            return TestClient(app)
        token = make_token(session, role, unit_id=unit_id)
        return TestClient(app, headers={"Authorization": f"Bearer {token}"})

    return make


@pytest.fixture
def env_db(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """Point settings (and so the CLI) at the test database for one test."""
    monkeypatch.setenv("GONGWU_DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)
    reset_settings()
    yield db_url
    reset_settings()


@pytest.fixture
def fresh_engine(db_url: str, tmp_path: Path) -> Iterator[Engine]:
    """A database of its own, migrated, for code that commits (the nightly run, servers): a new SQLite
    file, or a new database on the test PostgreSQL server, dropped afterwards."""
    import uuid

    from sqlalchemy.engine import make_url

    from gongwu import migrate

    url = make_url(db_url)
    if url.get_backend_name() != "postgresql":
        eng = build_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
        migrate.upgrade(eng)
        yield eng
        eng.dispose()
        return
    name = f"gongwu_t_{uuid.uuid4().hex[:10]}"
    admin = build_engine(url.set(database="postgres").render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    eng = build_engine(url.set(database=name).render_as_string(hide_password=False))
    try:
        migrate.upgrade(eng)
        yield eng
    finally:
        eng.dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """`settings_env(import_max_rows=5)`: GONGWU_* settings for this test (the cached settings rebuilt)."""
    from core.settings import get_settings

    def set_(**values: object) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"GONGWU_{name.upper()}", str(value))
        get_settings.cache_clear()

    yield set_
    get_settings.cache_clear()


@pytest.fixture(scope="session", autouse=True)
def _uploads_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Import uploads wait in a temporary folder, not in the checkout."""
    os.environ["GONGWU_IMPORT_UPLOAD_DIR"] = str(tmp_path_factory.mktemp("uploads"))
    reset_settings()
    yield
    os.environ.pop("GONGWU_IMPORT_UPLOAD_DIR", None)
