"""The database as a command opens it: the configured one, reachable and at this code's schema revision —
else one line saying what to do (`gongwu init`), and no file left behind by a command that only reads."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.db import check_connection, get_engine, sqlite_file, unit_of_work
from core.errors import NotInitialised
from core.i18n import tr
from core.settings import get_settings, reset_settings

DEMO_FILE = Path("gongwu-demo.db")  # what `gongwu demo` builds in the working directory


def use_demo_if_nothing_else() -> Path | None:
    """With no database configured (no GONGWU_DATABASE_URL in the environment or .env) and no default
    ./gongwu.db yet, a demo database in this folder is the one meant: the commands a newcomer types after
    the quick start work on it. `gongwu init` creates ./gongwu.db, which is used from then on. Returns the
    demo file when it is taken (the whole process then uses it, the server and its jobs included)."""
    settings = get_settings()
    if "database_url" in settings.model_fields_set:
        return None
    default = sqlite_file(settings.database_url)
    if default is None or default.exists() or not DEMO_FILE.is_file():
        return None
    os.environ["GONGWU_DATABASE_URL"] = f"sqlite:///{DEMO_FILE.resolve()}"
    reset_settings()
    print(
        tr(
            f"（未设置 GONGWU_DATABASE_URL，使用本目录的演示数据库 {DEMO_FILE}；"
            f"gongwu init 会新建 {default}）",
            f"(GONGWU_DATABASE_URL is not set: using the demo database {DEMO_FILE} of this folder; "
            f"gongwu init creates {default})",
        ),
        file=sys.stderr,
    )
    return DEMO_FILE


def database() -> Engine:
    """The configured database, ready for work. SQLite would create a missing file on connecting: a
    missing file is refused before any connection is made."""
    use_demo_if_nothing_else()
    url = get_settings().database_url
    engine = get_engine(url)
    path = sqlite_file(engine.url)
    if path is not None and path.parent.is_dir() and not path.exists():
        raise NotInitialised(
            tr(
                f"数据库未初始化，请先运行 gongwu init（数据库文件 {path} 不存在）",
                f"database not initialised: run gongwu init first (no database file {path})",
            )
        )
    if path is not None and path.is_file() and not _has_schema(path):
        raise NotInitialised(
            tr("数据库未初始化，请先运行 gongwu init", "database not initialised: run gongwu init first")
        )
    check_connection(engine)
    from gongwu import migrate

    migrate.require_current(engine)
    return engine


def _has_schema(path: Path) -> bool:
    """Whether an SQLite file holds a migrated schema, looked at read-only: the engine's first connection
    switches the file to WAL, which must not happen to a file that is not ours."""
    import sqlite3

    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'alembic_version'").fetchone()
    except sqlite3.DatabaseError:
        return False  # not an SQLite file at all; check_connection words that
    return found is not None


@contextmanager
def session() -> Iterator[Session]:
    """One command, one transaction on the ready database."""
    with unit_of_work(database()) as s:
        yield s
