"""fleet_position by month on PostgreSQL (issue 26): a table partitioned by range of fix time, one partition
per China month (`fleet_position_p2026_12`), so a vehicle-day reads one or two partitions and a month
leaves by DETACH and DROP once archived. The nightly run makes the coming months ahead; an import of
history makes its months as it stores them. SQLite keeps its one clustered table: every call is a no-op.

Partition bounds are China midnights of the 1st in epoch seconds (fix_ts is UTC epoch seconds), so an
archived month is a China month, as the reports count it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta, timezone

import numpy as np
from sqlalchemy import Connection, text

from core.errors import GongwuError
from core.i18n import tr
from core.timeutil import CHINA

TABLE = "fleet_position"
AHEAD_MONTHS = 3  # the nightly run keeps this month and the next three ready
EARLIEST = (1990, 1)  # before GPS week rollovers and Beidou: a fix older than this is an error, not history
MAX_AHEAD = 12  # a fix more than a year ahead of today is a broken clock


class PartitionMissing(GongwuError):
    """A fix whose month no partition exists for and none may be made."""


Month = tuple[int, int]


UTC8 = timezone(timedelta(hours=8))  # China time without 1986–91's summer time: months_of counts +8 too


def month_start(month: Month) -> int:
    """The epoch second of the 1st of `month`, 00:00 China time (UTC+8)."""
    return int(datetime.combine(date(month[0], month[1], 1), time(0), UTC8).timestamp())


def next_month(month: Month) -> Month:
    y, m = month
    return (y + 1, 1) if m == 12 else (y, m + 1)


def name_of(month: Month) -> str:
    return f"{TABLE}_p{month[0]:04d}_{month[1]:02d}"


def months_of(fix_ts: np.ndarray | Sequence[int]) -> list[Month]:
    """The China months the fixes fall in, in order (vectorised: one pass over a batch of fixes)."""
    if len(fix_ts) == 0:
        return []
    local = (np.asarray(fix_ts, dtype=np.int64) + 8 * 3600).astype("datetime64[s]").astype("datetime64[M]")
    out = []
    for m in np.unique(local).astype(int).tolist():  # months since 1970-01
        out.append((1970 + m // 12, m % 12 + 1))
    return out


def months_between(first: Month, last: Month) -> list[Month]:
    out, m = [], first
    while m <= last:
        out.append(m)
        m = next_month(m)
    return out


def is_partitioned(conn: Connection) -> bool:
    """Whether fleet_position is a partitioned table (PostgreSQL after migration 0020)."""
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.execute(text("SELECT relkind FROM pg_class WHERE relname = :t AND relkind IN ('p', 'r')"),
                        {"t": TABLE}).scalar()  # fmt: skip
    return kind == "p"


def existing(conn: Connection) -> dict[str, Month]:
    """The partitions there are, by name, with their month."""
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :t"
        ),
        {"t": TABLE},
    ).all()
    out = {}
    for (name,) in rows:
        tail = name.removeprefix(f"{TABLE}_p")
        if len(tail) == 7 and tail[4] == "_" and tail.replace("_", "").isdigit():
            out[name] = (int(tail[:4]), int(tail[5:]))
    return out


def ensure(conn: Connection, months: Iterable[Month], today: date | None = None) -> list[str]:
    """Make the partitions of `months` that are missing (in the caller's transaction: a partition made is
    there for the rows that follow), refusing a month before 1990 or more than a year ahead of today with a
    clear error instead of a row PostgreSQL cannot place. Returns the partitions made."""
    wanted = sorted(set(months))
    if not wanted or not is_partitioned(conn):
        return []
    have = set(existing(conn).values())
    missing = [m for m in wanted if m not in have]
    if not missing:
        return []
    today = today or datetime.now(CHINA).date()
    limit = (today.year, today.month)
    for _ in range(MAX_AHEAD):
        limit = next_month(limit)
    made = []
    for month in missing:
        if month < EARLIEST or month > limit:
            raise PartitionMissing(
                tr(
                    f"定位时间在 {month[0]}年{month[1]}月，超出可建分区的范围 "
                    f"(1990年1月 至 {limit[0]}年{limit[1]}月)：请检查终端时钟或文件的时间列",
                    f"a fix in {month[0]}-{month[1]:02d} is outside the months a partition can be made for "
                    f"(1990-01 to {limit[0]}-{limit[1]:02d}): check the tracker's clock or the file's "
                    "time column",
                )
            )
        # one maker at a time: two imports of the same month must not race for the name
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('fleet_position_partitions'))"))
        conn.execute(
            text(
                f'CREATE TABLE IF NOT EXISTS "{name_of(month)}" PARTITION OF {TABLE} '
                f"FOR VALUES FROM ({month_start(month)}) TO ({month_start(next_month(month))})"
            )
        )
        made.append(name_of(month))
    return made


def ensure_ahead(conn: Connection, today: date, months: int = AHEAD_MONTHS) -> list[str]:
    """This month and the next `months`, made ahead by the nightly run so live fixes never wait for one."""
    first = (today.year, today.month)
    last = first
    for _ in range(months):
        last = next_month(last)
    return ensure(conn, months_between(first, last), today)
