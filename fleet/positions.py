"""The one position-ingest path every source writes through (file import, Traccar pull, OsmAnd push,
JT/T 808): screen implausible fixes, de-duplicate per (device, time), insert in bulk, mark the touched
ranges for re-cutting, and keep per-feed counts. Positions move as column arrays, never as ORM objects.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

import numpy as np
from sqlalchemy import bindparam, insert, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from core.settings import get_settings
from core.timeutil import CHINA, utcnow
from fleet.models import COORD_SCALE, POSITION_SOURCES, SPEED_SCALE, RecutRange, Vehicle
from fleet.tripcut import screen_fixes

SOURCE_CODES = {name: code for code, name in POSITION_SOURCES.items()}
COLUMNS = (
    "device_id",
    "fix_ts",
    "lat",
    "lon",
    "speed_kmh",
    "course",
    "ignition",
    "odometer_m",
    "valid",
    "source",
    "attrs",
)
ARRAY_FIELDS = COLUMNS[:9]  # the FixBatch arrays, in order
_PLACEHOLDERS = ", ".join("?" * len(COLUMNS))
# Binary COPY types of the staging table, column by column (the scaled integers of Position).
_PG_TYPES = ("text", "int8", "int4", "int4", "int4", "int4", "int2", "int8", "bool", "int2", "text")


@dataclass
class FixBatch:
    """Column arrays of fixes; `course`/`odometer_m` NaN and `ignition` -1 when unknown."""

    device_id: np.ndarray  # object (str)
    fix_ts: np.ndarray  # int64 epoch seconds UTC
    lat: np.ndarray
    lon: np.ndarray
    speed_kmh: np.ndarray
    course: np.ndarray
    ignition: np.ndarray  # int8
    odometer_m: np.ndarray
    valid: np.ndarray  # bool
    attrs: list[dict[str, Any] | None] | None = None

    def __len__(self) -> int:
        return len(self.fix_ts)

    @classmethod
    def from_records(cls, records: Sequence[dict[str, Any]]) -> FixBatch:
        """From a few dicts (push receivers): keys as in COLUMNS, missing optional ones unknown."""
        if not records:
            return cls.empty()

        def arr(key: str, dtype: Any, default: Any) -> np.ndarray:
            return np.array([default if r.get(key) is None else r[key] for r in records], dtype=dtype)

        attrs = [r.get("attrs") for r in records]
        return cls(
            device_id=np.array([str(r["device_id"]) for r in records], dtype=object),
            fix_ts=arr("fix_ts", np.int64, 0),
            lat=arr("lat", np.float64, np.nan),
            lon=arr("lon", np.float64, np.nan),
            speed_kmh=arr("speed_kmh", np.float64, 0.0),
            course=arr("course", np.float64, np.nan),
            ignition=np.array(
                [-1 if r.get("ignition") is None else int(bool(r["ignition"])) for r in records],
                dtype=np.int8,
            ),
            odometer_m=arr("odometer_m", np.float64, np.nan),
            valid=arr("valid", bool, True),
            attrs=attrs if any(a for a in attrs) else None,
        )

    @classmethod
    def empty(cls) -> FixBatch:
        f = np.empty(0, dtype=np.float64)
        return cls(
            np.empty(0, dtype=object),
            np.empty(0, dtype=np.int64),
            f,
            f,
            f,
            f,
            np.empty(0, dtype=np.int8),
            f,
            np.empty(0, dtype=bool),
        )

    def take(self, idx: np.ndarray) -> FixBatch:
        """The fixes at `idx` (a boolean mask or positions)."""
        idx = np.flatnonzero(idx) if idx.dtype == bool else idx
        arrays = {name: getattr(self, name)[idx] for name in ARRAY_FIELDS}
        return FixBatch(**arrays, attrs=None if self.attrs is None else [self.attrs[i] for i in idx.tolist()])


@dataclass
class DeviceCounts:
    inserted: int = 0
    duplicates: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    last_fix_ts: int | None = None


@dataclass
class IngestResult:
    """What happened to a batch, in total and per device (feeds keep per-device counts from it)."""

    received: int = 0
    devices: dict[str, DeviceCounts] = field(default_factory=dict)
    touched: dict[str, tuple[int, int]] = field(default_factory=dict)  # device -> (from_ts, to_ts) inserted

    @property
    def inserted(self) -> int:
        return sum(d.inserted for d in self.devices.values())

    @property
    def duplicates(self) -> int:
        return sum(d.duplicates for d in self.devices.values())

    @property
    def dropped(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for d in self.devices.values():
            total.update(d.dropped)
        return total

    def merge(self, other: IngestResult) -> None:
        self.received += other.received
        for dev, counts in other.devices.items():
            mine = self.devices.setdefault(dev, DeviceCounts())
            mine.inserted += counts.inserted
            mine.duplicates += counts.duplicates
            mine.dropped.update(counts.dropped)
            if counts.last_fix_ts is not None:
                mine.last_fix_ts = max(mine.last_fix_ts or counts.last_fix_ts, counts.last_fix_ts)
        for dev, (a, b) in other.touched.items():
            old = self.touched.get(dev)
            self.touched[dev] = (min(a, old[0]), max(b, old[1])) if old else (a, b)


def known_devices(session: Session) -> dict[str, Vehicle]:
    """Tracker id → vehicle, for every vehicle with a tracker."""
    rows = session.exec(select(Vehicle).where(col(Vehicle.tracker_id).is_not(None))).all()
    return {v.tracker_id: v for v in rows if v.tracker_id}


def ingest_fixes(
    session: Session,
    batch: FixBatch,
    source: str,
    *,
    vehicles: dict[str, Vehicle] | None = None,
    now: datetime | None = None,
) -> IngestResult:
    """Screen, de-duplicate, store and mark for re-cutting, in the caller's transaction. Fixes of devices
    that are no vehicle's tracker are dropped as `unknown_device` (callers that must refuse them check
    `known_devices` first)."""
    result = IngestResult(received=len(batch))
    if not len(batch):
        return result
    settings = get_settings()
    now_ts = int((now or utcnow()).timestamp())
    vehicles = vehicles if vehicles is not None else known_devices(session)
    code = SOURCE_CODES[source]

    dev = batch.device_id.astype(str)
    order = np.lexsort((batch.fix_ts, dev))
    batch = batch.take(order)
    devices, starts = np.unique(dev[order], return_index=True)
    bounds = [*starts.tolist(), len(batch)]
    conn = session.connection()
    is_pg = conn.dialect.name == "postgresql"
    prev = _previous_fixes(conn, {d: int(batch.fix_ts[bounds[i]]) for i, d in enumerate(devices.tolist())})

    kept: dict[str, FixBatch] = {}
    for i, device in enumerate(devices.tolist()):
        part = batch.take(np.arange(bounds[i], bounds[i + 1]))
        counts = result.devices.setdefault(device, DeviceCounts())
        vehicle = vehicles.get(device)
        if vehicle is None:
            counts.dropped["unknown_device"] += len(part)
            continue
        # twice in the batch: keep the first
        first = np.ones(len(part), dtype=bool)
        first[1:] = part.fix_ts[1:] != part.fix_ts[:-1]
        counts.duplicates += int((~first).sum())
        part = part.take(first)
        keep, dropped = _screen(part, prev.get(device), vehicle, now_ts, settings.service_area)
        counts.dropped.update({k: v for k, v in dropped.items() if v})
        if keep.any():
            kept[device] = part.take(keep)

    raw = conn.connection.driver_connection
    inserted = _insert_pg(raw, kept, code) if is_pg else _insert_sqlite(raw, kept, code)
    for device, part in kept.items():
        counts = result.devices[device]
        n_new, first_ts, last_ts = inserted.get(device, (0, 0, 0))
        counts.inserted += n_new
        counts.duplicates += len(part) - n_new
        counts.last_fix_ts = int(part.fix_ts[-1])
        if n_new:
            result.touched[device] = (first_ts, last_ts)
    _mark_for_recut(conn, result.touched)
    return result


def _mark_for_recut(conn: Connection, touched: dict[str, tuple[int, int]]) -> None:
    """Widen each device's pending range (one row per device) or add it: a feed that sends every few
    seconds must not leave a row per batch behind for the nightly run to read."""
    if not touched:
        return
    table = RecutRange.__table__  # type: ignore[attr-defined]
    devices = list(touched)
    pending: dict[str, tuple[int, int, int]] = {}
    for i in range(0, len(devices), 500):
        rows = conn.execute(
            select(table.c.id, table.c.device_id, table.c.from_ts, table.c.to_ts).where(
                table.c.device_id.in_(devices[i : i + 500])
            )
        ).all()
        pending.update({d: (rid, a, b) for rid, d, a, b in rows})
    widen, new = [], []
    for device, (a, b) in touched.items():
        if device in pending:
            rid, old_a, old_b = pending[device]
            if a < old_a or b > old_b:
                widen.append({"rid": rid, "from_ts": min(a, old_a), "to_ts": max(b, old_b)})
        else:
            new.append({"device_id": device, "from_ts": a, "to_ts": b, "created_at": utcnow()})
    if widen:
        conn.execute(
            update(table)
            .where(table.c.id == bindparam("rid"))
            .values(from_ts=bindparam("from_ts"), to_ts=bindparam("to_ts")),
            widen,
        )
    if new:
        conn.execute(insert(table), new)


def _screen(
    part: FixBatch,
    prev: tuple[int, float, float, float] | None,
    vehicle: Vehicle,
    now_ts: int,
    area: tuple[float, float, float, float],
) -> tuple[np.ndarray, dict[str, int]]:
    """DESIGN §3's implausible fixes. The last stored fix before the batch is put in front, so that a jump
    at the batch's edge (a push receiver's single fix) is judged too; it was screened when it came, so if
    the rules would now drop it, the batch is judged on its own instead."""
    not_before = None
    if vehicle.acquired_on is not None:
        not_before = int(datetime.combine(vehicle.acquired_on, time(0), CHINA).timestamp())
    kw: dict[str, Any] = {"now_ts": now_ts, "bbox": tuple(area), "not_before_ts": not_before}
    if prev is not None:
        arrays = [
            np.concatenate(([p], a))
            for p, a in zip(prev, (part.fix_ts, part.lat, part.lon, part.speed_kmh), strict=True)
        ]
        keep, dropped = screen_fixes(*arrays, **kw)
        if keep[0]:
            return keep[1:], dropped
    return screen_fixes(part.fix_ts, part.lat, part.lon, part.speed_kmh, **kw)


def _previous_fixes(conn: Connection, first_ts: dict[str, int]) -> dict[str, tuple[int, float, float, float]]:
    """For each device, its last stored valid fix before the batch's first: one statement on PostgreSQL
    (a lateral join), one cheap index probe per device on SQLite."""
    raw = conn.connection.driver_connection
    assert raw is not None
    out: dict[str, tuple[int, float, float, float]] = {}
    if not first_ts:
        return out
    if conn.dialect.name == "postgresql":
        rows = raw.execute(
            "SELECT d.device_id, p.fix_ts, p.lat, p.lon, p.speed_kmh "
            "FROM unnest(%s::text[], %s::bigint[]) AS d(device_id, before_ts) "
            "CROSS JOIN LATERAL (SELECT fix_ts, lat, lon, speed_kmh FROM fleet_position q "
            "WHERE q.device_id = d.device_id AND q.fix_ts < d.before_ts AND q.valid "
            "ORDER BY q.fix_ts DESC LIMIT 1) p",
            (list(first_ts), list(first_ts.values())),
        ).fetchall()
    else:
        cur = raw.cursor()
        rows = []
        for device, before in first_ts.items():
            cur.execute(
                "SELECT ?, fix_ts, lat, lon, speed_kmh FROM fleet_position "
                "WHERE device_id = ? AND fix_ts < ? AND valid ORDER BY fix_ts DESC LIMIT 1",
                (device, device, before),
            )
            rows.extend(cur.fetchall())
        cur.close()
    for device, ts, lat, lon, speed in rows:
        out[device] = (int(ts), lat / COORD_SCALE, lon / COORD_SCALE, speed / SPEED_SCALE)
    return out


def _rows(device: str, part: FixBatch, code: int, *, with_attrs: bool = True) -> Iterable[tuple[Any, ...]]:
    """DB-ready tuples: coordinates, speed and course scaled to the stored integers (see Position)."""
    n = len(part)
    lat = np.rint(part.lat * COORD_SCALE).astype(np.int64).tolist()
    lon = np.rint(part.lon * COORD_SCALE).astype(np.int64).tolist()
    speed = np.rint(part.speed_kmh * SPEED_SCALE).astype(np.int64).tolist()
    course = np.where(np.isnan(part.course), -1, np.rint(part.course)).astype(np.int64).tolist()
    course = [None if c < 0 else c for c in course] if min(course, default=0) < 0 else course
    ign = part.ignition.tolist()
    ign = [None if g < 0 else g for g in ign] if min(ign, default=0) < 0 else ign
    odo_known = ~np.isnan(part.odometer_m)
    odo = np.rint(np.where(odo_known, part.odometer_m, 0)).astype(np.int64).tolist()
    if not odo_known.all():
        odo = [o if k else None for o, k in zip(odo, odo_known.tolist(), strict=True)]
    cols: list[Any] = [
        [device] * n,
        part.fix_ts.tolist(),
        lat,
        lon,
        speed,
        course,
        ign,
        odo,
        part.valid.tolist(),
    ]
    if with_attrs:
        attrs = [None if a is None else json.dumps(a, ensure_ascii=False) for a in part.attrs or [None] * n]
        cols += [[code] * n, attrs]
    return zip(*cols, strict=True)


def _insert_sqlite(raw: Any, kept: dict[str, FixBatch], code: int) -> dict[str, tuple[int, int, int]]:
    """INSERT OR IGNORE device by device; the change counter tells how many of each were new. Returns
    device -> (new rows, first, last time of the device's part)."""
    out = {}
    full = f"INSERT OR IGNORE INTO fleet_position ({', '.join(COLUMNS)}) VALUES ({_PLACEHOLDERS})"
    # Without attributes (the usual case) the source is a literal: fewer parameters per row is faster.
    lean = (
        f"INSERT OR IGNORE INTO fleet_position ({', '.join(COLUMNS[:-1])}) "
        f"VALUES ({', '.join('?' * (len(COLUMNS) - 2))}, {int(code)})"
    )
    for device, part in kept.items():
        before = raw.total_changes
        if part.attrs is None:
            raw.executemany(lean, _rows(device, part, code, with_attrs=False))
        else:
            raw.executemany(full, _rows(device, part, code))
        n = int(raw.total_changes - before)
        if n:
            out[device] = (n, int(part.fix_ts[0]), int(part.fix_ts[-1]))
    return out


def _insert_pg(raw: Any, kept: dict[str, FixBatch], code: int) -> dict[str, tuple[int, int, int]]:
    """One binary COPY of the whole batch into a staging table, one INSERT … ON CONFLICT DO NOTHING, and
    what was new counted per device from its RETURNING."""
    with raw.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS tmp_position (device_id text, fix_ts bigint, lat integer, "
            "lon integer, speed_kmh integer, course integer, ignition smallint, odometer_m bigint, "
            "valid boolean, source smallint, attrs text) ON COMMIT DELETE ROWS"
        )
        cur.execute("DELETE FROM tmp_position")
        with cur.copy(f"COPY tmp_position ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(list(_PG_TYPES))
            for device, part in kept.items():
                for row in _rows(device, part, code):
                    copy.write_row(row)
        cur.execute(
            f"WITH new AS (INSERT INTO fleet_position ({', '.join(COLUMNS)}) "
            f"SELECT {', '.join(COLUMNS[:-1])}, attrs::json FROM tmp_position ON CONFLICT DO NOTHING "
            "RETURNING device_id, fix_ts) SELECT device_id, count(*), min(fix_ts), max(fix_ts) FROM new "
            "GROUP BY device_id"
        )
        return {d: (int(n), int(a), int(b)) for d, n, a, b in cur.fetchall()}
