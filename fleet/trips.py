"""Stored trips and stops: re-cut the ranges that new or late fixes touched, nothing else.

A stop that lasted at least the minimal parking duration is a settled state: what happened before it does
not change how the fixes after it are cut. So a touched range [a, b] is widened back to the start of the
last stored stop that begins at or before a, and forward to the end of the first stored stop that begins
after b; the trips and stops starting in that window are replaced by a cut of its fixes. Re-cutting an
unchanged window writes the same rows (compared, not rewritten), so a re-run changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import bindparam, delete, func, insert, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from core.models import Unit, UtcDateTime
from core.timeutil import china_day, from_ts, to_ts
from fleet import flags, places
from fleet.models import COORD_SCALE, SPEED_SCALE, Flag, Place, RecutRange, Stop, Trip, Vehicle
from fleet.tripcut import CutResult, TripParams, cut, cut_many

FAR_FUTURE = 4_102_444_800  # 2100-01-01: "no end" that still fits a datetime


logger = logging.getLogger(__name__)


@dataclass
class RecutCounts:
    devices: int = 0
    fixes: int = 0
    trips_added: int = 0
    trips_removed: int = 0
    stops_added: int = 0
    stops_removed: int = 0
    # the China days whose trips were added, changed or removed: what a re-reconcile must look at again
    days: set[date] = field(default_factory=set)
    archived: list[str] = field(default_factory=list)  # the archived months a mark reached: left alone

    def add(self, other: RecutCounts) -> None:
        for name in self.__dataclass_fields__:
            if name == "days":
                self.days |= other.days
            elif name == "archived":
                self.archived = sorted(set(self.archived) | set(other.archived))
            else:
                setattr(self, name, getattr(self, name) + getattr(other, name))


def params_for(vehicle: Vehicle, base: TripParams | None = None) -> TripParams:
    """The vehicle's trip parameters: the defaults with its own overrides applied."""
    base = base or TripParams()
    return base.with_overrides(vehicle.trip_params) if vehicle.trip_params else base


def load_fixes(session: Session, device: str, from_ts: int, to_ts: int) -> dict[str, np.ndarray]:
    """One device's fixes in [from_ts, to_ts] as arrays."""
    return _load_many(session.connection(), [device], [(from_ts, to_ts)])[device]


def _load_many(
    conn: Connection, devices: Sequence[str], windows: Sequence[tuple[int, int]]
) -> dict[str, dict[str, np.ndarray]]:
    """Each device's fixes inside its window (one window per device), as arrays."""
    return dict(zip(devices, load_windows(conn, devices, windows), strict=True))


def load_windows(
    conn: Connection, devices: Sequence[str], windows: Sequence[tuple[int, int]]
) -> list[dict[str, np.ndarray]]:
    """The fixes of each (device, window) pair — a device may come more than once (the trip tags read
    only their trips' windows) — as arrays: a range scan of the clustered key each, read without a Python
    object per fix. PostgreSQL packs each pair's rows server-side into one bytea of fixed-width
    big-endian records (one statement for all; NumPy reads the records), SQLite hands rows to a cursor
    per pair."""
    raw = conn.connection.driver_connection
    assert raw is not None
    out: list[dict[str, np.ndarray]] = [_as_arrays([]) for _ in devices]
    if conn.dialect.name == "postgresql":
        rows = raw.execute(
            "SELECT d.i - 1, a.records FROM unnest(%s::text[], %s::bigint[], %s::bigint[]) WITH ORDINALITY "
            "AS d(device_id, w0, w1, i) CROSS JOIN LATERAL (SELECT string_agg(int8send(fix_ts) "
            "|| int4send(lat) || int4send(lon) || int4send(speed_kmh) "
            "|| int2send(coalesce(ignition, -1::smallint)) || int8send(coalesce(odometer_m, %s)) "
            "|| boolsend(valid), ''::bytea) AS records FROM (SELECT * FROM fleet_position q "
            "WHERE q.device_id = d.device_id AND q.fix_ts BETWEEN d.w0 AND d.w1 ORDER BY q.fix_ts) s) a",
            (list(devices), [w[0] for w in windows], [w[1] for w in windows], _NO_ODOMETER),
            binary=True,
        ).fetchall()
        for i, records in rows:
            rec = np.frombuffer(records or b"", dtype=_PG_RECORD)
            if len(rec) > 1 and not (np.diff(rec["t"]) > 0).all():  # an aggregate's order is not promised
                rec = rec[np.argsort(rec["t"], kind="stable")]
            odo = rec["odo"].astype(np.float64)
            odo[rec["odo"] == _NO_ODOMETER] = np.nan
            out[i] = {
                "t": rec["t"].astype(np.int64),
                "lat": rec["lat"] / COORD_SCALE,
                "lon": rec["lon"] / COORD_SCALE,
                "speed_kmh": rec["speed"] / SPEED_SCALE,
                "ignition": rec["ign"].astype(np.int8),
                "odometer_m": odo,
                "valid": rec["valid"].astype(bool),
            }
        return out
    cur = raw.cursor()
    try:
        for i, (device, (w0, w1)) in enumerate(zip(devices, windows, strict=True)):
            cur.execute(
                "SELECT fix_ts, lat, lon, speed_kmh, COALESCE(ignition, -1), odometer_m, valid "
                "FROM fleet_position WHERE device_id = ? AND fix_ts >= ? AND fix_ts <= ? ORDER BY fix_ts",
                (device, w0, w1),
            )
            out[i] = _as_arrays(cur.fetchall())
    finally:
        cur.close()
    return out


def load_points(
    conn: Connection, devices: Sequence[str], windows: Sequence[tuple[int, int]]
) -> dict[str, np.ndarray]:
    """The fixes of every (device, window) pair as one set of arrays — `group` is the pair's index, then
    time, lat, lon and speed: what the trip tags read. SQLite fetches the four columns into one list and
    converts it once (a conversion per pair cost more than the reading); PostgreSQL packs them as
    load_windows does."""
    if conn.dialect.name == "postgresql":
        parts = load_windows(conn, devices, windows)
        out = {
            k: np.concatenate([p[k] for p in parts]) if parts else np.zeros(0)
            for k in ("t", "lat", "lon", "speed_kmh")
        }
        sizes = [len(p["t"]) for p in parts]
    else:
        raw = conn.connection.driver_connection
        assert raw is not None
        rows: list[tuple[Any, ...]] = []
        sizes = []
        cur = raw.cursor()
        try:
            for device, (w0, w1) in zip(devices, windows, strict=True):
                cur.execute(
                    "SELECT fix_ts, lat, lon, speed_kmh FROM fleet_position "
                    "WHERE device_id = ? AND fix_ts >= ? AND fix_ts <= ? ORDER BY fix_ts",
                    (device, w0, w1),
                )
                got = cur.fetchall()
                rows += got
                sizes.append(len(got))
        finally:
            cur.close()
        a = np.array(rows, dtype=np.int64).reshape(-1, 4)
        out = {
            "t": a[:, 0],
            "lat": a[:, 1] / COORD_SCALE,
            "lon": a[:, 2] / COORD_SCALE,
            "speed_kmh": a[:, 3] / SPEED_SCALE,
        }
    out["group"] = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    return out


def last_fixes(
    conn: Connection, devices: Sequence[str], t0: int, t1: int
) -> dict[str, tuple[int, float, float]]:
    """Each device's last valid fix in [t0, t1] as (fix_ts, lat, lon): one backward step of the clustered
    key per device (夜间未归 asks where each car was at 02:00)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    if not devices:
        return {}
    if conn.dialect.name == "postgresql":
        rows = raw.execute(
            "SELECT d.device_id, p.fix_ts, p.lat, p.lon FROM unnest(%s::text[]) AS d(device_id) "
            "CROSS JOIN LATERAL (SELECT fix_ts, lat, lon FROM fleet_position q "
            "WHERE q.device_id = d.device_id AND q.fix_ts BETWEEN %s AND %s AND q.valid "
            "ORDER BY q.fix_ts DESC LIMIT 1) p",
            (list(devices), t0, t1),
        ).fetchall()
    else:
        cur = raw.cursor()
        try:
            rows = []
            for device in devices:
                cur.execute(
                    "SELECT device_id, fix_ts, lat, lon FROM fleet_position WHERE device_id = ? "
                    "AND fix_ts >= ? AND fix_ts <= ? AND valid ORDER BY fix_ts DESC LIMIT 1",
                    (device, t0, t1),
                )
                rows += cur.fetchall()
        finally:
            cur.close()
    return {r[0]: (int(r[1]), r[2] / COORD_SCALE, r[3] / COORD_SCALE) for r in rows}


_NO_ODOMETER = -(2**63)  # NULL odometer inside PostgreSQL's packed records
_PG_RECORD = np.dtype(
    [
        ("t", ">i8"),
        ("lat", ">i4"),
        ("lon", ">i4"),
        ("speed", ">i4"),
        ("ign", ">i2"),
        ("odo", ">i8"),
        ("valid", "u1"),
    ]
)


def _as_arrays(rows: Sequence[tuple[Any, ...]]) -> dict[str, np.ndarray]:
    if not rows:
        e = np.empty(0)
        return {
            "t": e.astype(np.int64),
            "lat": e,
            "lon": e,
            "speed_kmh": e,
            "ignition": e.astype(np.int8),
            "odometer_m": e,
            "valid": e.astype(bool),
        }
    t, lat, lon, speed, ign, odo, valid = zip(*rows, strict=True)
    return {
        "t": np.array(t, dtype=np.int64),
        "lat": np.array(lat, dtype=np.float64) / COORD_SCALE,
        "lon": np.array(lon, dtype=np.float64) / COORD_SCALE,
        "speed_kmh": np.array(speed, dtype=np.float64) / SPEED_SCALE,
        "ignition": np.array(ign, dtype=np.int8),
        "odometer_m": np.array(odo, dtype=np.float64),  # None -> nan
        "valid": np.array(valid, dtype=bool),
    }


def cut_arrays(fixes: dict[str, np.ndarray], params: TripParams) -> CutResult:
    ign = fixes["ignition"]
    # A tracker without ACC and without speed never "moves" by speed (issue #20): cut by movement alone.
    params = params.for_fixes(fixes["speed_kmh"], ign)
    return cut(
        fixes["t"],
        fixes["lat"],
        fixes["lon"],
        fixes["speed_kmh"],
        ignition=None if (ign < 0).all() else ign,
        odometer_m=None if np.isnan(fixes["odometer_m"]).all() else fixes["odometer_m"],
        valid=fixes["valid"],
        params=params,
    )


_STOP_BEFORE = select(func.max(Stop.start_at)).where(
    Stop.device_id == bindparam("device"), Stop.start_at <= bindparam("at", type_=UtcDateTime)
)
_STOP_AFTER = select(func.min(Stop.end_at)).where(
    Stop.device_id == bindparam("device"), Stop.start_at > bindparam("at", type_=UtcDateTime)
)


def _windows(conn: Connection, items: Sequence[tuple[str, int, int]]) -> dict[str, tuple[int, int]]:
    """Per device, [w0, w1]: from the start of the last stop beginning at or before a (else the first
    fix) to the end of the first stop beginning after b (else the last fix). One statement for all the
    devices on PostgreSQL (a round trip each would cost more than the lookup), two per device on SQLite."""
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None
        rows = raw.execute(
            "SELECT d.i - 1, "
            "(SELECT extract(epoch FROM max(s.start_at))::bigint FROM fleet_stop s "
            "WHERE s.device_id = d.device_id AND s.start_at <= to_timestamp(d.a)), "
            "(SELECT extract(epoch FROM min(s.end_at))::bigint FROM fleet_stop s "
            "WHERE s.device_id = d.device_id AND s.start_at > to_timestamp(d.b)) "
            "FROM unnest(%s::text[], %s::bigint[], %s::bigint[]) WITH ORDINALITY AS d(device_id, a, b, i)",
            [list(c) for c in zip(*items, strict=True)],
        ).fetchall()
        return {
            items[i][0]: (0 if w0 is None else w0, FAR_FUTURE if w1 is None else w1) for i, w0, w1 in rows
        }
    out = {}
    for device, a, b in items:
        before = conn.execute(_STOP_BEFORE, {"device": device, "at": from_ts(a)}).scalar()
        after = conn.execute(_STOP_AFTER, {"device": device, "at": from_ts(b)}).scalar()
        out[device] = (
            int(before.timestamp()) if before is not None else 0,
            int(after.timestamp()) if after is not None else FAR_FUTURE,
        )
    return out


GROUP = 400  # devices re-cut together: one cut_many, one read and one write of their trips and stops

# Per device: the stretches [start, end) in which it was in a car, with that car's id and trip parameters.
Targets = dict[str, list[tuple[int, int, int, TripParams]]]


def recut_pending(session: Session, *, base: TripParams | None = None) -> RecutCounts:
    """Re-cut every range marked by the ingest path or an assignment change, then forget the marks."""
    from fleet import trackers

    session.flush()
    conn = session.connection()
    marks = conn.execute(
        select(RecutRange.id, RecutRange.device_id, RecutRange.from_ts, RecutRange.to_ts)
    ).all()
    ranges: dict[str, tuple[int, int]] = {}
    for _, device, a, b in marks:
        old = ranges.get(device)
        ranges[device] = (min(a, old[0]), max(b, old[1])) if old else (a, b)
    # an archived month has no fixes here: cutting it would only take its trips and stops away
    # (fleet/archive.py). A range that reaches one is cut from the end of the last archived month it
    # touches, and never behind that boundary (floors); what lies before is left as it was.
    archived = _archived(session)
    skipped: set[str] = set()
    floors: dict[str, int] = {}
    for device, (a, b) in list(ranges.items()):
        touched = [(lo, hi, month) for lo, hi, month in archived if lo < b and a < hi]
        if not touched:
            continue
        skipped |= {month for _, _, month in touched}
        floor = max(hi for _, hi, _ in touched)
        if floor >= b:
            del ranges[device]
        else:
            ranges[device], floors[device] = (max(a, floor), b), floor
    if skipped:
        logger.warning(
            "re-cut leaves archived months alone: %s (their fixes are archived: gongwu import positions "
            "FILE.parquet brings them back)",
            ", ".join(sorted(skipped)),
        )
    if not ranges:
        if marks:
            conn.execute(delete(RecutRange).where(col(RecutRange.id).in_([m[0] for m in marks])))
        return RecutCounts(archived=sorted(skipped))
    timeline = trackers.timeline(session)
    held = {s.vehicle for d in ranges for s in timeline.by_device.get(d, [])}
    vehicles = {v.id: v for v in session.exec(select(Vehicle).where(col(Vehicle.id).in_(list(held)))).all()}
    params = {vid: params_for(v, base) for vid, v in vehicles.items()}
    # read now: each group expires the session, and an expired vehicle would be reloaded one by one
    targets: Targets = {
        d: [(s.start, s.end, s.vehicle, params[s.vehicle]) for s in timeline.by_device.get(d, [])]
        for d in ranges
    }
    # a device in no car has nothing to cut, but what was cut for it before must go
    stored_for = _devices_with_trips(conn, [d for d in ranges if not targets[d]])
    items = [(d, a, b) for d, (a, b) in sorted(ranges.items()) if targets[d] or d in stored_for]
    total = RecutCounts()
    for i in range(0, len(items), GROUP):
        total.add(_recut_group(session, items[i : i + GROUP], targets, floors))
    if marks:
        conn.execute(delete(RecutRange).where(col(RecutRange.id).in_([m[0] for m in marks])))
    total.archived = sorted(skipped)
    return total


def _across(conn: Connection, device: str, floor: int) -> int:
    """The floor, or the end of the device's stored trip or stop that begins before it and ends after."""
    at = from_ts(floor)
    ends = [
        conn.execute(
            select(func.max(table.c.end_at)).where(
                table.c.device_id == device, table.c.start_at < at, table.c.end_at > at
            )
        ).scalar()
        for table in (Trip.__table__, Stop.__table__)  # type: ignore[attr-defined]
    ]
    return max([floor] + [to_ts(e) for e in ends if e is not None])


def _archived(session: Session) -> list[tuple[int, int, str]]:
    from fleet.archive import archived_spans

    return archived_spans(session)


def _devices_with_trips(conn: Connection, devices: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(devices), 500):
        chunk = list(devices[i : i + 500])
        for table in (Trip.__table__, Stop.__table__):  # type: ignore[attr-defined]
            found |= set(
                conn.execute(select(table.c.device_id).where(table.c.device_id.in_(chunk))).scalars()
            )
    return found


def _pieces(
    fixes: dict[str, np.ndarray], stretches: Sequence[tuple[int, int, int, TripParams]]
) -> list[tuple[dict[str, np.ndarray], int, TripParams]]:
    """A device's fixes split by the cars that held it: (fixes, vehicle id, parameters) per stretch with
    fixes — a trip never spans two assignments. Fixes in no stretch (no car held the tracker) are left."""
    t = fixes["t"]
    out = []
    for start, end, vehicle_id, params in stretches:
        i, j = np.searchsorted(t, start, side="left"), np.searchsorted(t, end, side="left")
        if j > i:
            whole = i == 0 and j == len(t)
            out.append((fixes if whole else {k: v[i:j] for k, v in fixes.items()}, vehicle_id, params))
    return out


def _recut_group(
    session: Session,
    items: Sequence[tuple[str, int, int]],
    targets: Targets,
    floors: dict[str, int] | None = None,
) -> RecutCounts:
    """Re-cut the windows of `items` (device, from, to); `targets` gives each device's stretches in cars.
    A device with a floor (an archived month ends there) is cut from the floor, or from the end of the
    stored trip or stop that runs across it, so nothing that begins in the archived month is touched."""
    session.flush()  # Core statements below must see, and not be overwritten by, pending ORM changes
    conn = session.connection()
    windows = _windows(conn, items)
    for device, floor in (floors or {}).items():
        if device in windows:
            w0, w1 = windows[device]
            windows[device] = (max(w0, _across(conn, device, floor)), w1)
    fixes = _load_many(conn, [d for d, _, _ in items], [windows[d] for d, _, _ in items])
    counts = RecutCounts(devices=len(items), fixes=sum(len(f["t"]) for f in fixes.values()))

    # Cut: one cut_many per distinct parameter set (nearly always just the defaults), each stretch of a
    # device in one car a sequence of its own.
    results: dict[str, list[tuple[int, CutResult]]] = {}
    by_params: dict[TripParams, list[tuple[str, int, dict[str, np.ndarray]]]] = {}
    for device, _, _ in items:
        if len(fixes[device]["t"]):
            for part, vehicle_id, params in _pieces(fixes[device], targets.get(device, [])):
                # a tracker that sends neither speed nor ACC is cut by its movement alone
                params = params.for_fixes(part["speed_kmh"], part["ignition"])
                by_params.setdefault(params, []).append((device, vehicle_id, part))
    for params, group in by_params.items():
        parts = [p for _, _, p in group]
        lengths = [len(p["t"]) for p in parts]
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if len(parts) > 1 else parts[0]
        for (device, vehicle_id, _), res in zip(
            group,
            cut_many(
                cat["t"],
                cat["lat"],
                cat["lon"],
                cat["speed_kmh"],
                starts,
                ignition=cat["ignition"],
                odometer_m=cat["odometer_m"],
                valid=cat["valid"],
                params=params,
            ),
            strict=True,
        ):
            results.setdefault(device, []).append((vehicle_id, res))

    # Compare with what is stored in the windows; write only the difference.
    devices = [d for d, _, _ in items]
    lo = from_ts(min(w0 for w0, _ in windows.values()))
    hi = from_ts(max(w1 for _, w1 in windows.values()))
    trip_t, stop_t = Trip.__table__, Stop.__table__  # type: ignore[attr-defined]

    def stored(table: Any) -> Sequence[Any]:
        where = (table.c.device_id.in_(devices), table.c.start_at >= lo, table.c.start_at < hi)
        return conn.execute(select(table).where(*where)).mappings().all()

    stored_trips, stored_stops = stored(trip_t), stored(stop_t)
    new_trips: list[dict[str, Any]] = []
    new_stops: list[dict[str, Any]] = []
    for device in devices:
        w0, w1 = windows[device]
        for vehicle_id, cut_result in results.get(device, []):
            new_trips += [
                _trip_row(vehicle_id, device, tr) for tr in cut_result.trips if w0 <= tr.start_ts < w1
            ]
            new_stops += [
                _stop_row(vehicle_id, device, st) for st in cut_result.stops if w0 <= st.start_ts < w1
            ]

    def in_window(row: Any) -> bool:
        w0, w1 = windows[row["device_id"]]
        return w0 <= row["start_at"].timestamp() < w1

    counts.trips_added, counts.trips_removed, gone = _sync(
        conn, trip_t, [r for r in stored_trips if in_window(r)], new_trips, TRIP_FIELDS, counts.days
    )
    counts.stops_added, counts.stops_removed, _ = _sync(
        conn, stop_t, [r for r in stored_stops if in_window(r)], new_stops, STOP_FIELDS, set()
    )
    if gone:
        flags.detach_trips(conn, gone, "行程已被重新切分 trip re-cut away")
    # ORM objects loaded before must not shadow what was just written (only these tables were)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Trip | Stop | Flag):
            session.expire(obj)
    return counts


TRIP_FIELDS = (
    "vehicle_id",
    "end_at",
    "service_day",
    "start_lat",
    "start_lon",
    "end_lat",
    "end_lon",
    "distance_m",
    "duration_s",
    "max_speed_kmh",
    "avg_speed_kmh",
)
STOP_FIELDS = ("vehicle_id", "end_at", "lat", "lon", "duration_s")


def _sync(
    conn: Connection,
    table: Any,
    old_rows: Sequence[Any],
    new_rows: list[dict[str, Any]],
    fields: tuple[str, ...],
    days: set[date],
) -> tuple[int, int, list[int]]:
    """Make the stored rows equal the new ones, keyed by (device, start time): unchanged rows are not
    touched; a row with the same start but another shape is updated in place, keeping its id (flags point
    at trips). Returns (added or changed, removed, ids removed); adds the China days touched to `days`."""
    new_by_key = {(r["device_id"], r["start_at"]): r for r in new_rows}
    updates: list[dict[str, Any]] = []
    removed: list[int] = []
    for old in old_rows:
        new = new_by_key.pop((old["device_id"], old["start_at"]), None)
        if new is None:
            removed.append(old["id"])
            days.add(china_day(old["start_at"]))
        elif any(old[f] != new[f] for f in fields):
            updates.append({"row_id": old["id"], **{f: new[f] for f in fields}})
            days.add(china_day(old["start_at"]))
    if removed:
        conn.execute(delete(table).where(table.c.id.in_(removed)))
    if updates:
        conn.execute(
            update(table).where(table.c.id == bindparam("row_id")).values({f: bindparam(f) for f in fields}),
            updates,
        )
    days.update(china_day(start) for _, start in new_by_key)
    if new_by_key and conn.dialect.name == "postgresql":  # COPY: psycopg's executemany is a trip per row
        raw = conn.connection.driver_connection
        assert raw is not None
        names = list(next(iter(new_by_key.values())))
        with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
            for row in new_by_key.values():
                copy.write_row([row[n] for n in names])
    elif new_by_key:
        conn.execute(insert(table), list(new_by_key.values()))
    return len(updates) + len(new_by_key), len(removed), removed


def _trip_row(vehicle_id: int | None, device: str, tr: Any) -> dict[str, Any]:
    start = from_ts(tr.start_ts)
    return {
        "vehicle_id": vehicle_id,
        "device_id": device,
        "start_at": start,
        "end_at": from_ts(tr.end_ts),
        "service_day": china_day(start),
        "start_lat": round(tr.start_lat, 7),
        "start_lon": round(tr.start_lon, 7),
        "end_lat": round(tr.end_lat, 7),
        "end_lon": round(tr.end_lon, 7),
        "distance_m": round(tr.distance_m, 1),
        "duration_s": int(tr.duration_s),
        "max_speed_kmh": round(tr.max_speed_kmh, 2),
        "avg_speed_kmh": round(tr.avg_speed_kmh, 2),
        "order_id": None,
    }


def _stop_row(vehicle_id: int | None, device: str, st: Any) -> dict[str, Any]:
    return {
        "vehicle_id": vehicle_id,
        "device_id": device,
        "start_at": from_ts(st.start_ts),
        "end_at": from_ts(st.end_ts),
        "lat": round(st.lat, 7),
        "lon": round(st.lon, 7),
        "duration_s": int(st.duration_s),
    }


def trips_of_day(session: Session, vehicle_id: int, day: date) -> list[Trip]:
    return list(
        session.exec(
            select(Trip)
            .where(Trip.vehicle_id == vehicle_id, Trip.service_day == day)
            .order_by(col(Trip.start_at))
        ).all()
    )


# --------------------------------------------------------------------------------------- naming stops

# (name, kind, lat, lon, radius m): a place that has no row of its own, e.g. a property's location
ExtraPlace = tuple[str, str, float, float, int]


def gazetteer_rows(session: Session, extra: Sequence[ExtraPlace] = ()) -> list[ExtraPlace]:
    """The places a stop may be named by: the gazetteer, every unit's location, and `extra`."""
    rows: list[ExtraPlace] = [
        (p.name, p.kind, p.lat, p.lon, p.radius_m)
        for p in session.exec(select(Place).order_by(col(Place.id)))
    ]
    rows += [
        (u.name, "unit", u.lat, u.lon, places.DEFAULT_RADIUS_M)
        for u in session.exec(select(Unit).order_by(col(Unit.id)))
        if u.lat is not None and u.lon is not None
    ]
    rows += list(extra)
    return [
        (name[:100], kind, lat, lon, radius) for name, kind, lat, lon, radius in rows
    ]  # the column's length


def name_stops(session: Session, extra: Sequence[ExtraPlace] = (), *, every: bool = False) -> int:
    """Name the stops not named yet (`every`: all of them, after the places changed) by their nearest
    place; one UPDATE executed for many rows. Returns how many stops were named."""
    rows = gazetteer_rows(session, extra)
    if not rows:
        return 0
    stmt = select(Stop.id, Stop.lat, Stop.lon)
    if not every:
        stmt = stmt.where(col(Stop.place_name).is_(None))
    stops = session.exec(stmt).all()
    if not stops:
        return 0
    g = places.Gazetteer(
        np.array([r[2] for r in rows]), np.array([r[3] for r in rows]), np.array([r[4] for r in rows])
    )
    ids = np.array([s[0] for s in stops])
    named = g.name(np.array([s[1] for s in stops]), np.array([s[2] for s in stops]))
    params = [
        {
            "sid": int(ids[i]),
            "pname": rows[j][0],
            "pkind": rows[j][1],
            "pm": round(float(named.metres[i])),
            "pb": round(float(named.bearing[i])) % 360,
            "pin": bool(named.inside[i]),
        }
        for i, j in enumerate(named.place.tolist())
        if j >= 0
    ]
    table = Stop.__table__  # type: ignore[attr-defined]
    session.connection().execute(
        update(table)
        .where(table.c.id == bindparam("sid"))
        .values(
            place_name=bindparam("pname"),
            place_kind=bindparam("pkind"),
            place_m=bindparam("pm"),
            place_bearing=bindparam("pb"),
            place_inside=bindparam("pin"),
        ),
        params,
    )
    return len(params)
