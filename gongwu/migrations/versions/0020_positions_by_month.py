"""fleet_position partitioned by month on PostgreSQL (issue 26); SQLite keeps its clustered table

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08 03:00:00
"""
from collections.abc import Sequence
from datetime import UTC, datetime

from alembic import op

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = "device_id, fix_ts, lat, lon, speed_kmh, course, ignition, odometer_m, valid, source, attrs"


def upgrade() -> None:
    from fleet import partitions

    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or partitions.is_partitioned(bind):
        return
    op.execute("ALTER TABLE fleet_position RENAME TO fleet_position_single")
    op.execute("ALTER TABLE fleet_position_single RENAME CONSTRAINT pk_fleet_position TO pk_fleet_position_single")
    op.execute(
        "CREATE TABLE fleet_position (LIKE fleet_position_single INCLUDING DEFAULTS) PARTITION BY RANGE (fix_ts)"
    )
    op.execute("ALTER TABLE fleet_position ADD CONSTRAINT pk_fleet_position PRIMARY KEY (device_id, fix_ts)")
    bounds = bind.exec_driver_sql("SELECT min(fix_ts), max(fix_ts) FROM fleet_position_single").one()
    now = datetime.now(UTC).timestamp()
    lo = int(bounds[0]) if bounds[0] is not None else int(now)
    hi = int(bounds[1]) if bounds[1] is not None else int(now)
    first, last = partitions.months_of([lo])[0], partitions.months_of([hi])[0]
    today = partitions.months_of([int(now)])[0]
    ahead = today
    for _ in range(partitions.AHEAD_MONTHS):
        ahead = partitions.next_month(ahead)
    wanted = partitions.months_between(min(first, today), max(last, ahead))
    for month in wanted:
        op.execute(
            f'CREATE TABLE "{partitions.name_of(month)}" PARTITION OF fleet_position '
            f"FOR VALUES FROM ({partitions.month_start(month)}) TO ({partitions.month_start(partitions.next_month(month))})"
        )
    op.execute(f"INSERT INTO fleet_position ({COLUMNS}) SELECT {COLUMNS} FROM fleet_position_single")
    op.execute("DROP TABLE fleet_position_single")


def downgrade() -> None:
    from fleet import partitions

    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or not partitions.is_partitioned(bind):
        return
    op.execute("ALTER TABLE fleet_position RENAME TO fleet_position_months")
    op.execute("ALTER TABLE fleet_position_months RENAME CONSTRAINT pk_fleet_position TO pk_fleet_position_months")
    op.execute("CREATE TABLE fleet_position (LIKE fleet_position_months INCLUDING DEFAULTS)")
    op.execute("ALTER TABLE fleet_position ADD CONSTRAINT pk_fleet_position PRIMARY KEY (device_id, fix_ts)")
    op.execute(f"INSERT INTO fleet_position ({COLUMNS}) SELECT {COLUMNS} FROM fleet_position_months")
    op.execute("DROP TABLE fleet_position_months CASCADE")
