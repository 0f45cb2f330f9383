"""Positions by month (issue 26): on PostgreSQL a partitioned table whose months are made ahead by the
nightly run and as history comes in, a vehicle-day read from one partition, a fix of an impossible month
refused with a clear error; on SQLite the one clustered table, every call a no-op."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from fleet import partitions
from tests.factories import make_unit, make_vehicle, parked_cars


def test_months_of_fixes_are_china_months() -> None:
    # 2024-06-30 16:00 UTC is 07-01 00:00 in China: July's
    ts = np.array([datetime(2024, 6, 30, 15, 59, tzinfo=UTC).timestamp(),
                   datetime(2024, 6, 30, 16, 0, tzinfo=UTC).timestamp()], dtype=np.int64)  # fmt: skip
    assert partitions.months_of(ts) == [(2024, 6), (2024, 7)]
    assert partitions.month_start((2024, 7)) == int(datetime(2024, 6, 30, 16, tzinfo=UTC).timestamp())
    assert partitions.months_between((2024, 11), (2025, 2)) == [(2024, 11), (2024, 12), (2025, 1), (2025, 2)]


def test_partitions_are_made_ahead_and_for_history(session: Session) -> None:
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        assert not partitions.is_partitioned(conn)
        assert partitions.ensure_ahead(conn, date(2026, 12, 8)) == []
        kind = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'fleet_position'")).scalar()
        assert "WITHOUT ROWID" in kind  # the clustered table
        return
    assert partitions.is_partitioned(conn)
    made = partitions.ensure_ahead(conn, date(2031, 3, 5), months=2)
    assert made == ["fleet_position_p2031_03", "fleet_position_p2031_04", "fleet_position_p2031_05"]
    assert partitions.ensure_ahead(conn, date(2031, 3, 5), months=2) == []  # made once
    have = partitions.existing(conn)
    assert {have[n] for n in made} == {(2031, 3), (2031, 4), (2031, 5)}
    # history: a file of 2019 fixes makes its month as it stores them
    unit = make_unit(session)
    parked_cars(session, [(unit, "晋M·P2019", "P2019")], datetime(2019, 5, 2, 1, tzinfo=UTC), 1, 6)
    assert (2019, 5) in partitions.existing(conn).values()
    # a broken clock: a fix of 1985 cannot have a partition
    with pytest.raises(partitions.PartitionMissing, match="1985"):
        partitions.ensure(conn, [(1985, 1)])


def test_a_vehicle_day_reads_one_partition(session: Session) -> None:
    conn = session.connection()
    unit = make_unit(session)
    parked_cars(session, [(unit, "晋M·P0001", "P0001")], datetime(2024, 5, 30, 1, tzinfo=UTC), 1, 24 * 30)
    make_vehicle(session, unit)
    lo = int(datetime(2024, 6, 1, 16, tzinfo=UTC).timestamp())  # 06-02 in China
    query = (
        "SELECT fix_ts, lat, lon FROM fleet_position "
        f"WHERE device_id = 'P0001' AND fix_ts >= {lo} AND fix_ts < {lo + 86400}"
    )
    if conn.dialect.name != "postgresql":  # one range scan of the clustered key
        plan = " ".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {query}")))
        assert "USING PRIMARY KEY (device_id=? AND fix_ts>? AND fix_ts<?)" in plan, plan
        return
    plan = "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN {query}")))
    scanned = set(re.findall(r" on (fleet_position_p\d{4}_\d{2}) ", plan))
    assert scanned == {"fleet_position_p2024_06"}, plan


def test_the_migration_moves_stored_fixes_into_their_months(fresh_engine: Engine) -> None:
    """0020 on a database with fixes (and back): every fix kept, each month its partition on PostgreSQL."""
    from alembic import command

    from gongwu import migrate

    with fresh_engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0019")
        assert not partitions.is_partitioned(conn)
        june, august = (int(datetime(2024, m, 10, tzinfo=UTC).timestamp()) for m in (6, 8))
        conn.exec_driver_sql(
            "INSERT INTO fleet_position (device_id, fix_ts, lat, lon, speed_kmh, valid, source) VALUES "
            f"('D1', {june}, 376871000, 1127342000, 0, true, 0), "
            f"('D1', {august}, 376871000, 1127342000, 0, true, 0)"
        )
    migrate.upgrade(fresh_engine)
    with fresh_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM fleet_position").scalar() == 2
        if conn.dialect.name == "postgresql":
            months = set(partitions.existing(conn).values())
            assert {(2024, 6), (2024, 7), (2024, 8)} <= months  # the months between, too
            where = (
                conn.exec_driver_sql("SELECT tableoid::regclass::text FROM fleet_position ORDER BY fix_ts")
                .scalars()
                .all()
            )
            assert where == ["fleet_position_p2024_06", "fleet_position_p2024_08"]
