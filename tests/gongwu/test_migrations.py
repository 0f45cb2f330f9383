from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from core.db import build_engine
from gongwu import migrate
from gongwu.models import metadata


def test_migrations_match_the_models(engine: Engine) -> None:
    assert migrate.schema_diff(engine) == []
    assert migrate.current_revision(engine) == migrate.head_revision()


def test_upgrade_creates_every_table_and_is_idempotent(tmp_path: Path) -> None:
    eng = build_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    before, after = migrate.upgrade(eng)
    assert before is None and after == migrate.head_revision()
    tables = set(inspect(eng).get_table_names())
    assert set(metadata.tables) <= tables
    assert migrate.upgrade(eng) == (after, after)
    eng.dispose()


def test_upgrade_again_on_the_test_database_changes_nothing(engine: Engine) -> None:
    head = migrate.head_revision()
    tables = sorted(inspect(engine).get_table_names())
    assert migrate.upgrade(engine) == (head, head)
    assert sorted(inspect(engine).get_table_names()) == tables
