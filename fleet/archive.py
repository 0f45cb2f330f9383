"""Positions archived by month (issue 26): `gongwu archive positions --before YYYY-MM` writes each whole China
month older than that to a Parquet file (one a month, with a SHA-256 manifest beside them), checks the file
against the rows, then drops the month — DETACH and DROP of its partition on PostgreSQL, one DELETE on
SQLite. Trips, stops and flags stay. `gongwu import positions FILE.parquet` brings a month back exactly as
it was stored (no second screening: these fixes passed it once) and re-cuts it, so the trips come out the
same; a re-cut that reaches an archived month leaves it alone and says so (fleet/trips.py).

The file holds the stored integers (1e-7 degree, 0.1 km/h, 0.1 degree), so nothing is rounded twice."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text
from sqlmodel import Session, col, delete, select

from core import audit
from core.errors import UsageError, ValidationFailed
from core.i18n import tr
from core.timeutil import utcnow
from fleet import partitions
from fleet.models import PositionArchive, RecutRange
from fleet.partitions import Month

COLUMNS = (
    "device_id", "fix_ts", "lat", "lon", "speed_kmh", "course", "ignition", "odometer_m", "valid", "source",
    "attrs",
)  # fmt: skip
BATCH = 200_000  # rows read from the database and written to the file at a time
MANIFEST = "manifest.json"


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("device_id", pa.string()), ("fix_ts", pa.int64()), ("lat", pa.int32()), ("lon", pa.int32()),
            ("speed_kmh", pa.int32()), ("course", pa.int32()), ("ignition", pa.int16()),
            ("odometer_m", pa.int64()), ("valid", pa.bool_()), ("source", pa.int16()), ("attrs", pa.string()),
        ],
        metadata={"gongwu": "fleet_position", "units": "lat/lon 1e-7 degree, speed 0.1 km/h, course 0.1 deg"},
    )  # fmt: skip


def parse_month(raw: str) -> Month:
    try:
        y, m = (int(x) for x in raw.strip().split("-"))
        date(y, m, 1)
    except ValueError:
        raise UsageError(
            tr(f"--before {raw}: 月份格式应为 YYYY-MM", f"--before {raw}: a month is YYYY-MM")
        ) from None
    return (y, m)


def label(month: Month) -> str:
    return f"{month[0]:04d}-{month[1]:02d}"


@dataclass
class Archived:
    month: str
    rows: int
    file: str
    sha256: str


def months_to_archive(conn: Connection, before: Month) -> list[Month]:
    """The whole months before `before` that hold fixes (their partitions, on PostgreSQL)."""
    if partitions.is_partitioned(conn):
        found = sorted(m for m in partitions.existing(conn).values() if m < before)
        return [m for m in found if _count(conn, m) > 0]
    lo = conn.execute(text("SELECT min(fix_ts) FROM fleet_position")).scalar()
    if lo is None:
        return []
    first = partitions.months_of([int(lo)])[0]
    return [m for m in partitions.months_between(first, before) if m < before and _count(conn, m) > 0]


def _count(conn: Connection, month: Month) -> int:
    lo, hi = partitions.month_start(month), partitions.month_start(partitions.next_month(month))
    found = conn.execute(
        text("SELECT count(*) FROM fleet_position WHERE fix_ts >= :lo AND fix_ts < :hi"), {"lo": lo, "hi": hi}
    ).scalar()
    return int(found or 0)


def archive_before(session: Session, before: Month, folder: Path, actor: str, today: date) -> list[Archived]:
    """Archive every whole month before `before` (which may not be later than this month), oldest first,
    each in the caller's transaction: file written and checked, then the month removed and recorded."""
    check_before(before, today)
    check_folder(folder)
    conn = session.connection()
    return [archive_month(session, month, folder, actor) for month in months_to_archive(conn, before)]


def check_before(before: Month, today: date) -> None:
    if before > (today.year, today.month):
        raise ValidationFailed(
            tr(
                f"--before {label(before)} 晚于本月：只能归档已经结束的月份",
                f"--before {label(before)} is after this month: only months that are over can be archived",
            )
        )


def check_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        raise UsageError(
            tr(
                f"--to {folder}: 无法建立归档目录（已有同名文件或没有权限）",
                f"--to {folder}: cannot make the folder (a file of that name, or no permission)",
            )
        ) from None


def _rows(conn: Connection, month: Month) -> Iterator[list[tuple[Any, ...]]]:
    lo, hi = partitions.month_start(month), partitions.month_start(partitions.next_month(month))
    query = text(
        f"SELECT {', '.join(COLUMNS)} FROM fleet_position WHERE fix_ts >= :lo AND fix_ts < :hi "
        "ORDER BY device_id, fix_ts"
    ).execution_options(stream_results=True, yield_per=BATCH)  # this statement's, not the connection's
    result = conn.execute(query, {"lo": lo, "hi": hi})
    while chunk := result.fetchmany(BATCH):
        yield [tuple(r) for r in chunk]


def _table(rows: Sequence[tuple[Any, ...]]) -> Any:
    import pyarrow as pa

    columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [() for _ in COLUMNS]
    data = {name: list(values) for name, values in zip(COLUMNS, columns, strict=True)}
    data["valid"] = [bool(v) for v in data["valid"]]
    data["attrs"] = [
        None if a is None else a if isinstance(a, str) else json.dumps(a, ensure_ascii=False)
        for a in data["attrs"]
    ]
    return pa.Table.from_pydict(data, schema=_schema())


def archive_month(session: Session, month: Month, folder: Path, actor: str) -> Archived:
    """One month: written, synced and read back whole before a row goes; in the caller's transaction (the
    command gives each month its own, so the table is locked for one month at a time)."""
    import pyarrow.parquet as pq

    conn = session.connection()
    name = f"positions-{label(month)}.parquet"
    path = folder / name
    if path.exists():  # never over a file already written: it may be the only copy of the month
        raise ValidationFailed(
            tr(
                f"{path} 已存在：该月已归档过；先用 gongwu import positions {name} 导回，或换一个 --to 目录",
                f"{path} exists: the month was archived before; import it back first "
                f"(gongwu import positions {name}) or choose another --to folder",
            )
        )
    if partitions.is_partitioned(conn):  # no writer may add a fix to the month between read and drop
        conn.execute(text(f'LOCK TABLE "{partitions.name_of(month)}" IN SHARE MODE'))
    partial = path.with_suffix(".parquet.part")
    rows = ts_sum = 0
    with pq.ParquetWriter(partial, _schema(), compression="zstd") as writer:
        for chunk in _rows(conn, month):
            writer.write_table(_table(chunk))
            rows += len(chunk)
            ts_sum += sum(r[1] for r in chunk)
    _sync(partial)
    back = pq.read_table(partial, columns=["fix_ts"]).column("fix_ts")
    if len(back) != rows or int(back.to_numpy().sum()) != ts_sum:  # read back whole before a row goes
        partial.unlink(missing_ok=True)
        raise ValidationFailed(
            tr(
                f"{name}: 读回的定位与数据库不符，未删除任何定位",
                f"{name}: the file read back differs; nothing removed",
            )
        )
    partial.replace(path)
    _sync(folder)
    digest = _sha256(path)
    _manifest(folder, label(month), {"file": name, "rows": rows, "sha256": digest})
    lo, hi = partitions.month_start(month), partitions.month_start(partitions.next_month(month))
    if partitions.is_partitioned(conn):
        part = partitions.name_of(month)
        conn.execute(text(f'ALTER TABLE fleet_position DETACH PARTITION "{part}"'))
        conn.execute(text(f'DROP TABLE "{part}"'))
    else:
        conn.execute(
            text("DELETE FROM fleet_position WHERE fix_ts >= :lo AND fix_ts < :hi"), {"lo": lo, "hi": hi}
        )
    record = session.get(PositionArchive, label(month)) or PositionArchive(
        month=label(month), from_ts=lo, to_ts=hi, rows=0, file="", sha256=""
    )
    record.rows, record.file, record.sha256 = rows, str(path.resolve()), digest
    record.archived_by, record.archived_at = actor, utcnow()
    session.add(record)
    audit.record(
        session, actor=actor, action="positions.archive", entity="fleet_position", entity_id=label(month),
        after={"rows": rows, "file": str(path), "sha256": digest},
    )  # fmt: skip
    session.flush()
    return Archived(label(month), rows, str(path), digest)


def _sync(path: Path) -> None:
    """On disk before the month leaves the database (a folder: its entries)."""
    import os

    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _manifest(folder: Path, month: str, entry: dict[str, Any]) -> None:
    path = folder / MANIFEST
    found = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    found[month] = entry
    partial = path.with_suffix(".json.part")
    partial.write_text(
        json.dumps(dict(sorted(found.items())), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    partial.replace(path)


def is_parquet(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(4) == b"PAR1"


@dataclass
class Restored:
    read: int
    inserted: int
    months: list[str]


def open_parquet(path: Path) -> Any:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception:  # pyarrow's own errors (ArrowInvalid, OSError): a file it cannot read
        raise ValidationFailed(
            tr(f"{path.name}: 不是可读的 Parquet 文件", f"{path.name}: not a readable Parquet file")
        ) from None


def restore(session: Session, path: Path, actor: str) -> Restored:
    """Bring an archived file back: its rows as stored (those already there are kept), its months' partitions
    made, the archive records of its months removed, and the range of each device marked to be re-cut."""
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow's own errors: not a Parquet file we can read
        raise ValidationFailed(
            tr(
                f"{path.name}: 不是可读的 Parquet 文件 ({exc})",
                f"{path.name}: not a readable Parquet file ({exc})",
            )
        ) from None
    missing = [c for c in COLUMNS if c not in file.schema_arrow.names]
    if missing:
        raise ValidationFailed(
            tr(f"{path.name}: 不是 gongwu 归档的定位文件，缺少列 {', '.join(missing)}",
               f"{path.name}: not a positions archive of gongwu; missing columns {', '.join(missing)}")
        )  # fmt: skip
    conn = session.connection()
    pg = conn.dialect.name == "postgresql"
    values = ", ".join(f"CAST(:{c} AS JSON)" if c == "attrs" and pg else f":{c}" for c in COLUMNS)
    insert = text(
        f"INSERT INTO fleet_position ({', '.join(COLUMNS)}) VALUES ({values}) ON CONFLICT DO NOTHING"
    )
    read = inserted = 0
    spans: dict[str, tuple[int, int]] = {}
    months: set[Month] = set()
    for batch in file.iter_batches(batch_size=50_000):
        rows = batch.to_pylist()
        read += len(rows)
        ts = [r["fix_ts"] for r in rows]
        found = set(partitions.months_of(ts))
        partitions.ensure(conn, found)
        months |= found
        done = conn.execute(insert, rows).rowcount
        inserted += done if done is not None and done >= 0 else 0
        for r in rows:
            lo, hi = spans.get(r["device_id"], (r["fix_ts"], r["fix_ts"]))
            spans[r["device_id"]] = (min(lo, r["fix_ts"]), max(hi, r["fix_ts"]))
    session.add_all(RecutRange(device_id=d, from_ts=lo, to_ts=hi + 1) for d, (lo, hi) in spans.items())
    labels = sorted(label(m) for m in months)
    session.exec(delete(PositionArchive).where(col(PositionArchive.month).in_(labels)))  # type: ignore[call-overload]
    audit.record(
        session, actor=actor, action="positions.restore", entity="fleet_position", entity_id=",".join(labels),
        after={"file": path.name, "read": read, "inserted": inserted},
    )  # fmt: skip
    session.flush()
    return Restored(read, inserted, labels)


def archived_spans(session: Session) -> list[tuple[int, int, str]]:
    """(from, to, month) of every archived month, oldest first."""
    rows = session.exec(select(PositionArchive).order_by(col(PositionArchive.from_ts))).all()
    return [(r.from_ts, r.to_ts, r.month) for r in rows]
