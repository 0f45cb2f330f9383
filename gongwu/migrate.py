"""Running the Alembic migrations from code (`gongwu init`) and checking them against the models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from core.errors import NotInitialised
from core.i18n import tr
from gongwu.models import metadata

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Any = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def require_current(engine: Engine) -> None:
    """Refuse a database without the schema, or with another revision than this code's (one line, what
    to do): a command or a server on it would fail on its first query."""
    current, head = current_revision(engine), head_revision()
    if current is None:
        raise NotInitialised(
            tr("数据库未初始化，请先运行 gongwu init", "database not initialised: run gongwu init first")
        )
    if current != head:
        raise NotInitialised(
            tr(
                f"数据库结构版本 {current} 与本程序的 {head} 不一致，请运行 gongwu init 升级",
                f"database schema is at revision {current}, this gongwu needs {head}: run gongwu init",
            )
        )


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Upgrade to head; returns (revision before, revision after). Idempotent."""
    before = current_revision(engine)
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            # SQLite alters a table by rebuilding it (copy, drop, rename). With foreign keys on, the drop
            # deletes the rows that trips, flags and approvals point at and the commit fails; SQLite's own
            # procedure turns them off (outside the transaction) and checks every key before the commit.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():
                raw: Any = conn.connection.dbapi_connection
                if sqlite and not raw.in_transaction:
                    # pysqlite begins only before a data change, so each CREATE would commit at once: one
                    # transaction for the whole upgrade, undone whole if it fails
                    conn.exec_driver_sql("BEGIN")
                command.upgrade(alembic_config(conn), "head")
                if sqlite and (broken := conn.exec_driver_sql("PRAGMA foreign_key_check").all()):
                    raise RuntimeError(f"migration left dangling foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
    return before, current_revision(engine)


def schema_diff(engine: Engine) -> list[Any]:
    """What autogenerate would still change: empty when migrations and models agree."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object})
        return list(compare_metadata(ctx, metadata))


# Tables other libraries own (APScheduler's job store) are not ours to migrate.
FOREIGN_TABLES = {"scheduler_apjob"}


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Not ours to compare: other libraries' tables, and fleet_position's monthly partitions on PostgreSQL
    (fleet/partitions.py makes them; the model is the partitioned table itself)."""
    if type_ == "table" and name and name.startswith("fleet_position_p") and reflected and compare_to is None:
        return False
    return not (type_ == "table" and name in FOREIGN_TABLES)
