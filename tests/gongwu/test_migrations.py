from __future__ import annotations

from pathlib import Path

import pytest
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


def test_0007_rebuilds_the_order_table_keeping_what_points_at_it(tmp_path: Path) -> None:
    """fleet_order is rebuilt on SQLite (vehicle_id becomes nullable) while trips, flags, approvals and
    expenses reference its rows: every row and reference survives, and the keys still hold."""
    from alembic import command
    from sqlalchemy import text

    eng = build_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with eng.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), "0006")
    with eng.begin() as conn:
        for sql in (
            "INSERT INTO core_unit (id, name, kind, created_at)"
            " VALUES (1, '甲局', 'department', '2026-01-01')",
            "INSERT INTO fleet_vehicle (id, plate, unit_id, model, status, created_at, updated_at)"
            " VALUES (1, '晋M·A0001', 1, '', 'in_service', '2026-01-01', '2026-01-01')",
            "INSERT INTO fleet_order (id, order_no, vehicle_id, unit_id, applicant, driver, purpose,"
            " destination, planned_start_at, planned_end_at, status, created_at, updated_at)"
            " VALUES (7, 'O-7', 1, 1, '', '', '开会', '县城', '2026-01-02 01:00:00',"
            " '2026-01-02 04:00:00', 'approved', '2026-01-01', '2026-01-01')",
            "INSERT INTO fleet_trip (id, vehicle_id, device_id, start_at, end_at, service_day,"
            " start_lat, start_lon, end_lat, end_lon, distance_m, duration_s, max_speed_kmh,"
            " avg_speed_kmh, order_id) VALUES (3, 1, 'D1', '2026-01-02 01:10:00',"
            " '2026-01-02 02:00:00', '2026-01-02', 1, 1, 1, 1, 1000, 3000, 50, 20, 7)",
            "INSERT INTO fleet_expense (id, order_id, tolls_fen, meal_allowance_fen, fuel_fen, other_fen)"
            " VALUES (1, 7, 100, 0, 0, 0)",
            "INSERT INTO fleet_order_approval (id, order_id, level, decision, actor, at, comment)"
            " VALUES (1, 7, 1, 'approved', 'a', '2026-01-01', '')",
        ):
            conn.execute(text(sql))
    migrate.upgrade(eng)
    with eng.connect() as conn:
        assert conn.execute(text("SELECT id, order_no, vehicle_id FROM fleet_order")).all() == [(7, "O-7", 1)]
        assert conn.execute(text("SELECT order_id FROM fleet_trip")).scalar() == 7
        assert conn.execute(text("SELECT order_id FROM fleet_expense")).scalar() == 7
        assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
        conn.execute(text("UPDATE fleet_order SET vehicle_id = NULL WHERE id = 7"))  # now allowed
    assert migrate.schema_diff(eng) == []
    eng.dispose()


def test_a_migration_that_would_leave_a_dangling_key_changes_nothing(tmp_path: Path) -> None:
    """SQLite: a key that points nowhere after the rebuild fails the upgrade, and all of it is undone —
    no new table, the revision as it was — so the next `gongwu init` can try again."""
    from alembic import command
    from sqlalchemy import inspect, text

    eng = build_engine(f"sqlite:///{tmp_path / 'broken.db'}")
    with eng.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), "0006")
    with eng.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.execute(
            text(
                "INSERT INTO fleet_expense (id, order_id, tolls_fen, meal_allowance_fen, fuel_fen, other_fen)"
                " VALUES (1, 404, 0, 0, 0, 0)"  # an expense of an order that is not there
            )
        )
        conn.commit()
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
    with pytest.raises(RuntimeError, match="dangling"):
        migrate.upgrade(eng)
    assert migrate.current_revision(eng) == "0006"
    assert "fleet_flag_reply" not in inspect(eng).get_table_names()
    eng.dispose()


def test_0008_keeps_a_stored_course_in_degrees(tmp_path: Path) -> None:
    """Courses stored as whole degrees read back the same once the column holds tenths."""
    from alembic import command
    from sqlmodel import Session, select

    from fleet.models import Position

    eng = build_engine(f"sqlite:///{tmp_path / 'course.db'}")
    with eng.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), "0007")
        conn.exec_driver_sql(
            "INSERT INTO fleet_position (device_id, fix_ts, lat, lon, speed_kmh, course, valid, source)"
            " VALUES ('D1', 1, 376871000, 1127342000, 0, 270, 1, 0),"
            " ('D1', 2, 376871000, 1127342000, 0, NULL, 1, 0)"
        )
    migrate.upgrade(eng)
    with Session(eng) as s:
        assert [p.course for p in s.exec(select(Position).order_by(Position.fix_ts)).all()] == [270.0, None]
    eng.dispose()
