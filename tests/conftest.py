"""One real, migrated database per test session; each test runs inside a transaction that is rolled back.

SQLite (a temporary file) by default; PostgreSQL when GONGWU_TEST_DATABASE_URL names one — as `.ci/run`
does. A named database that cannot be reached fails the run: it is never skipped silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
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
def client(engine: Engine, session: Session) -> Iterator[TestClient]:
    """The API on the test's session, so what a test sets up is what the API sees, and all rolls back."""
    from core.api import get_session
    from gongwu.app import create_app

    app = create_app(
        Settings(database_url=str(engine.url.render_as_string(hide_password=False))), engine=engine
    )

    def _session() -> Iterator[Session]:
        yield session
        session.flush()

    app.dependency_overrides[get_session] = _session
    with TestClient(app) as c:
        yield c


@pytest.fixture
def env_db(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """Point settings (and so the CLI) at the test database for one test."""
    monkeypatch.setenv("GONGWU_DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)
    reset_settings()
    yield db_url
    reset_settings()
