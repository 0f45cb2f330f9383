"""The one position-ingest path every source writes through (file import, Traccar pull, OsmAnd push,
JT/T 808): screen implausible fixes, de-duplicate per (device, time), insert in bulk, mark the touched
ranges for re-cutting, and keep per-feed counts. Positions move as column arrays, never as ORM objects.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

import numpy as np
import psycopg
from sqlalchemy import insert
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from core.settings import get_settings
from core.timeutil import CHINA, utcnow
from fleet import partitions
from fleet.models import COORD_SCALE, COURSE_SCALE, POSITION_SOURCES, SPEED_SCALE, RecutRange, Vehicle
from fleet.tripcut import DROP_REASONS, NO_BOUND, reason_counts, screen_fixes_many

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


def known_devices(session: Session) -> dict[str, Vehicle]:
    """Tracker id → vehicle for every tracker with an assignment history: the car that holds it now, else
    the last one that did. A known tracker's fixes are stored whenever they were taken — those of a time in
    which no car held it are kept and attributed once it is assigned."""
    from fleet import trackers

    rows = session.exec(select(Vehicle).where(col(Vehicle.tracker_id).is_not(None))).all()
    found = {v.tracker_id: v for v in rows if v.tracker_id}
    latest: dict[str, tuple[int, int]] = {}
    for a in trackers.rows(session):
        if a.device not in found and a.start >= latest.get(a.device, (-1, 0))[0]:
            latest[a.device] = (a.start, a.vehicle)
    if latest:
        by_id = {
            v.id: v
            for v in session.exec(
                select(Vehicle).where(col(Vehicle.id).in_({vid for _, vid in latest.values()}))
            ).all()
        }
        found.update({d: by_id[vid] for d, (_, vid) in latest.items() if vid in by_id})
    return found


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
    `known_devices` first).

    Every step works on the whole batch's arrays: push feeds bring hundreds of devices with one fix each,
    where a loop per device would cost more than the fixes. Python visits a device only to look up its
    vehicle and to fill in its counts."""
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
    # a course is an angle: 360.5 and -90 are 0.5 and 270 (and a wild one cannot overflow the column)
    with np.errstate(invalid="ignore"):
        batch.course = np.where(np.isfinite(batch.course), np.mod(batch.course, 360.0), np.nan)
    dev = dev[order]
    n = len(batch)
    dev_start = np.ones(n, dtype=bool)
    dev_start[1:] = dev[1:] != dev[:-1]
    starts = np.flatnonzero(dev_start)
    dev_of = np.cumsum(dev_start) - 1  # each fix's device, an index into `names`
    names: list[str] = dev[starts].tolist()
    counts = [DeviceCounts() for _ in names]
    result.devices = dict(zip(names, counts, strict=True))
    found = [vehicles.get(d) for d in names]
    known = np.fromiter((v is not None for v in found), dtype=bool, count=len(names))
    if not known.all():
        sizes = np.diff(np.append(starts, n))
        for i in np.flatnonzero(~known).tolist():
            counts[i].dropped["unknown_device"] += int(sizes[i])
    kd = np.flatnonzero(known)  # the devices that go on; `part_dev` etc. index into this
    if not len(kd):
        return result

    # Twice in the batch: keep the first (an unknown device's fixes all count as unknown, above).
    first = dev_start.copy()
    first[1:] |= batch.fix_ts[1:] != batch.fix_ts[:-1]
    first &= known[dev_of]
    for i, k in _per_group(dev_of[known[dev_of] & ~first], len(names)):
        counts[i].duplicates += k
    part = batch if first.all() else batch.take(first)
    part_of = dev_of[first]  # index into `names`
    part_dev = (np.cumsum(known) - 1)[part_of]  # index into `kd`
    part_starts = np.flatnonzero(dev_start[first])  # every known device keeps its first fix

    conn = session.connection()
    kd_list = kd.tolist()
    keep, reason = _screen(
        part,
        part_starts,
        _previous_fixes(conn, [names[i] for i in kd_list], part.fix_ts[part_starts]),
        _not_before([found[i] for i in kd_list]),
        now_ts,
        settings.service_area,
    )
    per_dev = reason_counts(reason, part_starts)
    for j in np.flatnonzero(per_dev.any(axis=1)).tolist():
        counts[kd_list[j]].dropped.update(
            {r: v for r, v in zip(DROP_REASONS, per_dev[j].tolist(), strict=True) if v}
        )
    if not keep.any():
        return result

    kept = part if keep.all() else part.take(keep)
    kept_dev = part_dev[keep]
    kept_names: list[str] = np.array(names, dtype=object)[part_of[keep]].tolist()  # shared str objects
    raw = conn.connection.driver_connection
    groups = len(kd)
    if conn.dialect.name == "postgresql":
        # the months of the batch have their partitions (history comes in for months long past)
        partitions.ensure(conn, partitions.months_of(kept.fix_ts))
        n_new, lo, hi = _insert_pg(raw, kept_names, kept, kept_dev, groups, code)
    else:
        n_new, lo, hi = _insert_sqlite(raw, kept_names, kept, kept_dev, groups, code)
    size = np.bincount(kept_dev, minlength=groups)
    last = _first_last(kept_dev, kept.fix_ts, groups)[1]
    for j, size_j, new_j, last_j, lo_j, hi_j in zip(
        *(a.tolist() for a in (np.flatnonzero(size), *(x[size > 0] for x in (size, n_new, last, lo, hi)))),
        strict=True,
    ):
        c = counts[kd_list[j]]
        c.inserted += new_j
        c.duplicates += size_j - new_j
        c.last_fix_ts = last_j
        if new_j:
            result.touched[names[kd_list[j]]] = (lo_j, hi_j)
    _mark_for_recut(conn, result.touched)
    return result


def _per_group(group: np.ndarray, groups: int) -> Iterable[tuple[int, int]]:
    """(group, count) of the groups that occur in `group` (an index per item)."""
    if not len(group):
        return []
    tally = np.bincount(group, minlength=groups)
    hit = np.flatnonzero(tally)
    return zip(hit.tolist(), tally[hit].tolist(), strict=True)


def _mark_for_recut(conn: Connection, touched: dict[str, tuple[int, int]]) -> None:
    """Widen each device's pending range (one row per device) or add it: a feed that sends every few
    seconds must not leave a row per batch behind for the nightly run to read. Looked up and widened
    through the driver: SQLAlchemy's compilation of a 500-name IN costs more than the statement."""
    if not touched:
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    devices = list(touched)
    pending: dict[str, tuple[int, int, int]] = {}
    cur = raw.cursor()
    if conn.dialect.name == "postgresql":
        cur.execute(
            "SELECT id, device_id, from_ts, to_ts FROM fleet_recut_range WHERE device_id = ANY(%s)",
            (devices,),
        )
        pending.update({d: (rid, a, b) for rid, d, a, b in cur.fetchall()})
    else:
        for i in range(0, len(devices), 900):
            chunk = devices[i : i + 900]
            cur.execute(
                "SELECT id, device_id, from_ts, to_ts FROM fleet_recut_range "
                f"WHERE device_id IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            pending.update({d: (rid, a, b) for rid, d, a, b in cur.fetchall()})
    widen, new = [], []
    for device, (a, b) in touched.items():
        if device in pending:
            rid, old_a, old_b = pending[device]
            if a < old_a or b > old_b:
                widen.append((min(a, old_a), max(b, old_b), rid))
        else:
            new.append({"device_id": device, "from_ts": a, "to_ts": b, "created_at": utcnow()})
    if widen and conn.dialect.name == "postgresql":  # psycopg's executemany is a round trip per row
        cur.execute(
            "UPDATE fleet_recut_range r SET from_ts = w.a, to_ts = w.b "
            "FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS w(a, b, id) WHERE r.id = w.id",
            [list(c) for c in zip(*widen, strict=True)],
        )
    elif widen:
        cur.executemany("UPDATE fleet_recut_range SET from_ts = ?, to_ts = ? WHERE id = ?", widen)
    cur.close()
    if new:
        conn.execute(insert(RecutRange.__table__), new)  # type: ignore[attr-defined]


Prev = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # has, fix_ts, lat, lon, speed


def _screen(
    part: FixBatch,
    starts: np.ndarray,
    prev: Prev,
    not_before: np.ndarray,
    now_ts: int,
    area: tuple[float, float, float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """DESIGN §3's implausible fixes of every device at once: (keep, reason code) per fix. Each device's
    last stored fix before the batch is put in front of its fixes, so that a jump at the batch's edge (a
    push receiver's single fix) is judged too; it was screened when it came, so if the rules would now
    drop it, that device's fixes are judged on their own instead."""
    kw: dict[str, Any] = {"now_ts": now_ts, "bbox": tuple(area), "not_before_ts": not_before}
    cols = (part.fix_ts, part.lat, part.lon, part.speed_kmh)
    has = prev[0]
    with_prev = np.flatnonzero(has)
    if not len(with_prev):
        return screen_fixes_many(part.fix_ts, part.lat, part.lon, part.speed_kmh, starts, **kw)
    t, lat, lon, speed = (
        np.insert(c, starts[with_prev], p[with_prev]) for c, p in zip(cols, prev[1:], strict=True)
    )
    joined_starts = starts + np.cumsum(has) - has
    at = joined_starts[with_prev]
    keep, reason = screen_fixes_many(t, lat, lon, speed, joined_starts, **kw)
    own = np.ones(len(keep), dtype=bool)
    own[at] = False
    redo = with_prev[~keep[at]]
    keep, reason = keep[own], reason[own]
    if len(redo):
        sizes = np.diff(np.append(starts, len(part)))
        fixes = np.repeat(np.isin(np.arange(len(starts)), redo), sizes)
        redo_starts = np.concatenate(([0], np.cumsum(sizes[redo])[:-1]))
        kw["not_before_ts"] = not_before[redo]
        t, lat, lon, speed = (c[fixes] for c in cols)
        keep[fixes], reason[fixes] = screen_fixes_many(t, lat, lon, speed, redo_starts, **kw)
    return keep, reason


_day_start: dict[date, int] = {}


def _not_before(vehicles: Sequence[Vehicle | None]) -> np.ndarray:
    """Per vehicle, the first second of its acquisition day (China time), NO_BOUND when unknown."""
    out = np.full(len(vehicles), NO_BOUND, dtype=np.int64)
    for i, v in enumerate(vehicles):
        day = v.acquired_on if v is not None else None
        if day is not None:
            if day not in _day_start:
                _day_start[day] = int(datetime.combine(day, time(0), CHINA).timestamp())
            out[i] = _day_start[day]
    return out


def _previous_fixes(conn: Connection, devices: list[str], before: np.ndarray) -> Prev:
    """For each device, its last stored valid fix before `before` (the batch's first): one statement per
    batch on PostgreSQL (a lateral join), one per 400 devices on SQLite."""
    raw = conn.connection.driver_connection
    assert raw is not None
    before_list = before.tolist()
    if conn.dialect.name == "postgresql":
        rows = raw.execute(
            "SELECT d.i, p.fix_ts, p.lat, p.lon, p.speed_kmh "
            "FROM unnest(%s::text[], %s::bigint[]) WITH ORDINALITY AS d(device_id, before_ts, i) "
            "CROSS JOIN LATERAL (SELECT fix_ts, lat, lon, speed_kmh FROM fleet_position q "
            "WHERE q.device_id = d.device_id AND q.fix_ts < d.before_ts AND q.valid "
            "ORDER BY q.fix_ts DESC LIMIT 1) p",
            (devices, before_list),
        ).fetchall()
        rows = [(i - 1, *r) for i, *r in rows]
    else:
        rows = []
        cur = raw.cursor()
        for lo in range(0, len(devices), _SQLITE_CHUNK):
            chunk = range(lo, min(lo + _SQLITE_CHUNK, len(devices)))
            params = [x for i in chunk for x in (i, devices[i], before_list[i])]
            cur.execute(
                f"WITH d(i, device_id, before_ts) AS (VALUES {', '.join(['(?, ?, ?)'] * len(chunk))}) "
                "SELECT d.i, p.fix_ts, p.lat, p.lon, p.speed_kmh FROM d JOIN fleet_position p "
                "ON p.device_id = d.device_id AND p.fix_ts = (SELECT q.fix_ts FROM fleet_position q "
                "WHERE q.device_id = d.device_id AND q.fix_ts < d.before_ts AND q.valid "
                "ORDER BY q.fix_ts DESC LIMIT 1)",
                params,
            )
            rows.extend(cur.fetchall())
        cur.close()
    has = np.zeros(len(devices), dtype=bool)
    ts = np.zeros(len(devices), dtype=np.int64)
    lat, lon, speed = (np.zeros(len(devices)) for _ in range(3))
    if rows:
        i, t, la, lo_, sp = (np.array(c) for c in zip(*rows, strict=True))
        has[i] = True
        ts[i] = t
        lat[i] = la / COORD_SCALE
        lon[i] = lo_ / COORD_SCALE
        speed[i] = sp / SPEED_SCALE
    return has, ts, lat, lon, speed


_SQLITE_CHUNK = 300  # devices or keys per statement: 3 parameters each, under SQLite's old 999 limit


def _columns(devices: list[str], part: FixBatch) -> list[list[Any] | None]:
    """The DB-ready columns of `part` in COLUMNS order up to `valid`: coordinates, speed and course scaled
    to the stored integers (see Position), None inside a column where unknown, and None for a column
    that is unknown in every row."""
    n = len(part)
    lat = np.rint(part.lat * COORD_SCALE).astype(np.int64).tolist()
    lon = np.rint(part.lon * COORD_SCALE).astype(np.int64).tolist()
    # an unknown speed is stored as 0 (the column is NOT NULL; a tracker without speed is cut by movement)
    speed = np.rint(np.nan_to_num(part.speed_kmh * SPEED_SCALE)).astype(np.int64).tolist()

    def nullable(values: np.ndarray, unknown: np.ndarray) -> list[Any] | None:
        if unknown.all() and n:
            return None
        known = np.rint(np.where(unknown, 0, values)).astype(np.int64).tolist()
        if unknown.any():
            return [None if u else v for v, u in zip(known, unknown.tolist(), strict=True)]
        return known

    course = nullable(part.course * COURSE_SCALE, np.isnan(part.course))
    ign = nullable(part.ignition, part.ignition < 0)
    odo = nullable(part.odometer_m, np.isnan(part.odometer_m))
    return [devices, part.fix_ts.tolist(), lat, lon, speed, course, ign, odo, part.valid.tolist()]


def _rows(devices: list[str], part: FixBatch, code: int) -> Iterable[tuple[Any, ...]]:
    """Whole DB-ready tuples, attrs as JSON text."""
    n = len(part)
    cols = [[None] * n if c is None else c for c in _columns(devices, part)]
    attrs = [None if a is None else json.dumps(a, ensure_ascii=False) for a in part.attrs or [None] * n]
    return zip(*cols, [code] * n, attrs, strict=True)


def _sqlite_insert(devices: list[str], part: FixBatch, code: int) -> tuple[str, Iterable[tuple[Any, ...]]]:
    """The INSERT OR IGNORE of `part` and its parameter rows. sqlite3 binds exact ints, floats and strs
    quickly and anything else (None, bool) through its adapter lookup, which costs more than inserting the
    row: so the source, and a column unknown in every row, are literals, and `valid` goes as 0/1."""
    cols = _columns(devices, part)
    cols[-1] = part.valid.astype(np.int64).tolist()
    names, values = list(COLUMNS[:-2]), ["NULL" if c is None else "?" for c in cols]
    bound: list[list[Any]] = [c for c in cols if c is not None]
    names.append("source")
    values.append(str(int(code)))
    if part.attrs is not None:
        names.append("attrs")
        values.append("?")
        bound.append([None if a is None else json.dumps(a, ensure_ascii=False) for a in part.attrs])
    sql = f"INSERT OR IGNORE INTO fleet_position ({', '.join(names)}) VALUES ({', '.join(values)})"
    return sql, zip(*bound, strict=True)


def _chunks(
    devices: list[str], part: FixBatch, rows: np.ndarray | None = None
) -> Iterable[tuple[list[str], FixBatch]]:
    """The batch's `rows` (default all) in pieces of at most _CHUNK: the DB-ready Python tuples of a whole
    import batch would take hundreds of MB at once."""
    if rows is None:
        if len(part) <= _CHUNK:
            yield devices, part
            return
        rows = np.arange(len(part))
    for lo in range(0, len(rows), _CHUNK):
        take = rows[lo : lo + _CHUNK]
        yield [devices[i] for i in take.tolist()], part.take(take)


_CHUNK = 50_000
Inserted = tuple[np.ndarray, np.ndarray, np.ndarray]  # per device: new rows, touched from, touched to


def _insert_sqlite(
    raw: Any, devices: list[str], part: FixBatch, group: np.ndarray, groups: int, code: int
) -> Inserted:
    """The transaction first takes SQLite's write lock, so what is stored cannot change under it. Fixes of
    devices with nothing stored inside the batch's time span are new: a plain executemany per 50,000 rows
    (a savepoint around them would cost a third more). The others are INSERT OR IGNOREd inside a
    savepoint; the change counter says how many were new, and when that is all or none (a resend, a
    re-import) it says it for every device too. Otherwise they are rolled back to the savepoint, the
    keys already stored looked up and only the new rows inserted. A device's touched range is its kept
    fixes' first to last time, as long as any was new."""
    size = np.bincount(group, minlength=groups)
    first_last = _first_last(group, part.fix_ts, groups)

    def insert(rows: np.ndarray) -> int:
        before = raw.total_changes
        for names, chunk in _chunks(devices, part, rows):
            raw.executemany(*_sqlite_insert(names, chunk, code))
        return int(raw.total_changes - before)

    if raw.isolation_level is not None and not raw.in_transaction:
        # A write lock now, not at the first insert: the probe below must stay true until commit. (Had the
        # transaction begun, it wrote already and holds the lock.) Also, without it a savepoint would be
        # the transaction, and RELEASE would commit it.
        raw.execute("BEGIN IMMEDIATE")
    present = np.flatnonzero(size)
    first_row = np.flatnonzero(np.diff(group, prepend=-1))
    stored = np.zeros(groups, dtype=bool)
    stored[present] = _stored_in_span(
        raw, [devices[i] for i in first_row.tolist()], first_last[0][present], first_last[1][present]
    )
    clash = stored[group]
    fresh = np.flatnonzero(~clash)
    if insert(fresh) != len(fresh):
        raise RuntimeError("positions changed under the write lock")  # cannot happen in SQLite
    n_new = np.where(stored, 0, size)
    rows = np.flatnonzero(clash)
    if len(rows):
        raw.execute("SAVEPOINT gongwu_ingest")
        try:
            inserted = insert(rows)
            if inserted == len(rows):
                n_new += np.bincount(group[rows], minlength=groups)
            elif inserted:
                raw.execute("ROLLBACK TO gongwu_ingest")
                new = rows[~_stored(raw, [devices[i] for i in rows.tolist()], part.fix_ts[rows].tolist())]
                if insert(new) != len(new):
                    raise RuntimeError("positions changed under the write lock")
                n_new += np.bincount(group[new], minlength=groups)
        except BaseException:
            raw.execute("ROLLBACK TO gongwu_ingest")
            raw.execute("RELEASE gongwu_ingest")
            raise
        raw.execute("RELEASE gongwu_ingest")
    return n_new, *first_last


def _first_last(group: np.ndarray, ts: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Per group, the first and last of `ts` (sorted by group, then time); 0 for an absent group."""
    lo = np.zeros(groups, dtype=np.int64)
    hi = np.zeros(groups, dtype=np.int64)
    if len(group):
        start = np.flatnonzero(np.diff(group, prepend=-1))
        end = np.append(start[1:], len(group)) - 1
        lo[group[start]] = ts[start]
        hi[group[end]] = ts[end]
    return lo, hi


def _stored(raw: Any, devices: list[str], fix_ts: list[int]) -> np.ndarray:
    """Which of the (device, time) keys are stored already."""
    found: set[tuple[str, int]] = set()
    cur = raw.cursor()
    for lo in range(0, len(devices), _SQLITE_CHUNK):
        chunk = range(lo, min(lo + _SQLITE_CHUNK, len(devices)))
        cur.execute(
            f"WITH k(device_id, fix_ts) AS (VALUES {', '.join(['(?, ?)'] * len(chunk))}) "
            "SELECT p.device_id, p.fix_ts FROM k JOIN fleet_position p "
            "ON p.device_id = k.device_id AND p.fix_ts = k.fix_ts",
            [x for i in chunk for x in (devices[i], fix_ts[i])],
        )
        found.update((d, int(t)) for d, t in cur.fetchall())
    cur.close()
    return np.fromiter(
        (k in found for k in zip(devices, fix_ts, strict=True)), dtype=bool, count=len(devices)
    )


def _insert_pg(
    raw: Any, devices: list[str], part: FixBatch, group: np.ndarray, groups: int, code: int
) -> Inserted:
    """Fixes of devices with nothing stored inside the batch's time span cannot clash: they are COPYed
    straight into the table (a third of the server's work of INSERT … ON CONFLICT). The others, or all if
    another writer got in between (a unique violation rolls the direct COPY back to a savepoint), go
    through a staging table and one INSERT … ON CONFLICT DO NOTHING, counted per device from RETURNING.
    The touched range of a device is its new rows' first to last time."""
    size = np.bincount(group, minlength=groups)
    first_last = _first_last(group, part.fix_ts, groups)
    present = np.flatnonzero(size)
    first_row = np.flatnonzero(np.diff(group, prepend=-1))
    names = {int(g): devices[i] for g, i in zip(group[first_row].tolist(), first_row.tolist(), strict=True)}
    n_new = np.zeros(groups, dtype=np.int64)
    lo = np.zeros(groups, dtype=np.int64)
    hi = np.zeros(groups, dtype=np.int64)
    with raw.cursor() as cur:
        stored = np.zeros(groups, dtype=bool)
        stored[present] = _stored_in_span(
            raw, [names[g] for g in present.tolist()], first_last[0][present], first_last[1][present]
        )
        clash = stored[group]
        if not clash.all():
            fresh = np.flatnonzero(~clash)
            cur.execute("SAVEPOINT gongwu_copy")
            try:
                _copy_rows(cur, "fleet_position", devices, part, group, code, fresh)
            except psycopg.errors.UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT gongwu_copy")
                clash[:] = True
            else:
                cur.execute("RELEASE SAVEPOINT gongwu_copy")
                done = present[~stored[present]]
                n_new[done], lo[done], hi[done] = size[done], first_last[0][done], first_last[1][done]
        if clash.any():
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS tmp_position (device_id text, fix_ts bigint, "
                "lat integer, lon integer, speed_kmh integer, course integer, ignition smallint, "
                "odometer_m bigint, valid boolean, source smallint, attrs text) ON COMMIT DELETE ROWS"
            )
            cur.execute("DELETE FROM tmp_position")
            _copy_rows(cur, "tmp_position", devices, part, group, code, np.flatnonzero(clash))
            cur.execute(
                f"WITH new AS (INSERT INTO fleet_position ({', '.join(COLUMNS)}) "
                f"SELECT {', '.join(COLUMNS[:-1])}, attrs::json FROM tmp_position ON CONFLICT DO NOTHING "
                "RETURNING device_id, fix_ts) SELECT device_id, count(*), min(fix_ts), max(fix_ts) FROM new "
                "GROUP BY device_id"
            )
            index = {name: g for g, name in names.items()}
            for device, count, a, b in cur.fetchall():
                g = index[device]
                n_new[g], lo[g], hi[g] = count, a, b
    return n_new, lo, hi


def _stored_in_span(raw: Any, devices: list[str], lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per device, whether any fix of it is stored in [lo, hi]: an index probe each, one statement on
    PostgreSQL, one per 240 devices on SQLite."""
    out = np.zeros(len(devices), dtype=bool)
    lo_list, hi_list = lo.tolist(), hi.tolist()
    with closing(raw.cursor()) as cur:
        if isinstance(raw, psycopg.Connection):
            cur.execute(
                "SELECT d.i - 1 FROM unnest(%s::text[], %s::bigint[], %s::bigint[]) WITH ORDINALITY "
                "AS d(device_id, lo, hi, i) WHERE EXISTS (SELECT 1 FROM fleet_position p "
                "WHERE p.device_id = d.device_id AND p.fix_ts BETWEEN d.lo AND d.hi)",
                (devices, lo_list, hi_list),
            )
            out[[i for (i,) in cur.fetchall()]] = True
            return out
        for start in range(0, len(devices), 240):  # 4 parameters each, under SQLite's old limit of 999
            chunk = range(start, min(start + 240, len(devices)))
            cur.execute(
                f"WITH d(i, device_id, lo, hi) AS (VALUES {', '.join(['(?, ?, ?, ?)'] * len(chunk))}) "
                "SELECT d.i FROM d WHERE EXISTS (SELECT 1 FROM fleet_position p "
                "WHERE p.device_id = d.device_id AND p.fix_ts BETWEEN d.lo AND d.hi)",
                [x for i in chunk for x in (i, devices[i], lo_list[i], hi_list[i])],
            )
            out[[i for (i,) in cur.fetchall()]] = True
    return out


def _copy_rows(
    cur: Any, table: str, devices: list[str], part: FixBatch, group: np.ndarray, code: int, rows: np.ndarray
) -> None:
    """COPY the batch's `rows` into `table` (fleet_position or its staging twin): as NumPy-built binary
    records in the usual case, row by row through psycopg when fixes carry attributes (push feeds' few)."""
    if part.attrs is None:
        with cur.copy(f"COPY {table} ({', '.join(COLUMNS[:-1])}) FROM STDIN (FORMAT BINARY)") as copy:
            for block in _copy_binary(devices, part, group, code, rows):
                copy.write(block)
        return
    with cur.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(list(_PG_TYPES))  # json's binary form is its text
        for names, chunk in _chunks(devices, part, rows):
            for row in _rows(names, chunk, code):
                copy.write_row(row)


_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
_COPY_TRAILER = b"\xff\xff"


def _copy_binary(
    devices: list[str], part: FixBatch, group: np.ndarray, code: int, rows: np.ndarray
) -> Iterator[bytes]:
    """PostgreSQL's binary COPY stream of the batch's `rows` (the columns but attrs), built as NumPy
    records instead of row by row (psycopg's write_row costs 2 µs a row). Rows of one shape (device id
    length, and which of course, ignition and odometer are NULL: a NULL has no bytes) are fixed-width, so
    each shape is one structured array; COPY does not care about the order of rows."""
    first_row = np.flatnonzero(np.diff(group[rows], prepend=-1))
    encoded = {int(group[i]): devices[i].encode() for i in rows[first_row].tolist()}
    dev_bytes = np.array([encoded.get(g, b"") for g in range(int(group.max()) + 1)], dtype=object)
    dev_len = np.fromiter((len(b) for b in dev_bytes), dtype=np.int64, count=len(dev_bytes))
    dev_fixed = dev_bytes.astype(bytes)  # S<longest>
    course_null = np.isnan(part.course)
    ign_null = part.ignition < 0
    odo_null = np.isnan(part.odometer_m)
    shape = dev_len[group] * 8 + course_null * 4 + ign_null * 2 + odo_null
    yield _COPY_SIGNATURE
    for s in np.unique(shape[rows]).tolist():
        width, c_null, i_null, o_null = s // 8, bool(s & 4), bool(s & 2), bool(s & 1)
        columns: list[tuple[str, str, Any]] = [
            ("device_id", f"S{width}", lambda t: dev_fixed[group[t]]),
            ("fix_ts", ">i8", lambda t: part.fix_ts[t]),
            ("lat", ">i4", lambda t: np.rint(part.lat[t] * COORD_SCALE)),
            ("lon", ">i4", lambda t: np.rint(part.lon[t] * COORD_SCALE)),
            ("speed_kmh", ">i4", lambda t: np.rint(np.nan_to_num(part.speed_kmh[t] * SPEED_SCALE))),
            ("course", "" if c_null else ">i4", lambda t: np.rint(part.course[t] * COURSE_SCALE)),
            ("ignition", "" if i_null else ">i2", lambda t: part.ignition[t]),
            ("odometer_m", "" if o_null else ">i8", lambda t: np.rint(part.odometer_m[t])),
            ("valid", "u1", lambda t: part.valid[t]),
            ("source", ">i2", lambda t: code),
        ]
        fields = [("count", ">i2")]
        for name, kind, _ in columns:
            fields += [(f"{name}_len", ">i4")] + ([(name, kind)] if kind else [])
        dtype = np.dtype(fields)
        sizes = {name: np.dtype(kind).itemsize if kind else -1 for name, kind, _ in columns}
        take_all = rows[shape[rows] == s]
        for lo in range(0, len(take_all), _CHUNK):
            take = take_all[lo : lo + _CHUNK]
            rec = np.empty(len(take), dtype=dtype)
            rec["count"] = len(columns)
            for name, kind, values in columns:
                rec[f"{name}_len"] = sizes[name]
                if kind:
                    rec[name] = values(take)
            yield rec.tobytes()
    yield _COPY_TRAILER
