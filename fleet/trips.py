"""Stored trips and stops: re-cut the ranges that new or late fixes touched, nothing else.

A stop that lasted at least the minimal parking duration is a settled state: what happened before it does
not change how the fixes after it are cut. So a touched range [a, b] is widened back to the start of the
last stored stop that begins at or before a, and forward to the end of the first stored stop that begins
after b; the trips and stops starting in that window are replaced by a cut of its fixes. Re-cutting an
unchanged window writes the same rows (compared, not rewritten), so a re-run changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from core.timeutil import china_day, from_ts, utcnow
from fleet.models import COORD_SCALE, SPEED_SCALE, Flag, RecutRange, Stop, Trip, Vehicle
from fleet.tripcut import CutResult, TripParams, cut

FAR_FUTURE = 4_102_444_800  # 2100-01-01: "no end" that still fits a datetime


@dataclass
class RecutCounts:
    devices: int = 0
    fixes: int = 0
    trips_added: int = 0
    trips_removed: int = 0
    stops_added: int = 0
    stops_removed: int = 0

    def add(self, other: RecutCounts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def params_for(vehicle: Vehicle, base: TripParams | None = None) -> TripParams:
    """The vehicle's trip parameters: the defaults with its own overrides applied."""
    base = base or TripParams()
    return base.with_overrides(vehicle.trip_params) if vehicle.trip_params else base


def load_fixes(session: Session, device: str, from_ts: int, to_ts: int) -> dict[str, np.ndarray]:
    """One device's fixes in [from_ts, to_ts] as arrays: one range scan of the clustered key, read with
    the driver's cursor straight into arrays (the ORM would build a Python object per fix)."""
    raw = session.connection().connection.driver_connection
    mark = "%s" if session.get_bind().dialect.name == "postgresql" else "?"
    cur = raw.cursor()
    try:
        cur.execute(
            "SELECT fix_ts, lat, lon, speed_kmh, COALESCE(ignition, -1), odometer_m, valid "
            "FROM fleet_position "
            f"WHERE device_id = {mark} AND fix_ts >= {mark} AND fix_ts <= {mark} ORDER BY fix_ts",
            (device, from_ts, to_ts),
        )
        rows = cur.fetchall()
    finally:
        cur.close()
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


def _window(session: Session, device: str, a: int, b: int) -> tuple[int, int]:
    start_a, start_b = from_ts(a), from_ts(b)
    before = session.exec(
        select(func.max(Stop.start_at)).where(Stop.device_id == device, Stop.start_at <= start_a)
    ).one()
    after = session.exec(
        select(func.min(Stop.end_at)).where(Stop.device_id == device, Stop.start_at > start_b)
    ).one()
    w0 = int(before.timestamp()) if before is not None else 0
    w1 = int(after.timestamp()) if after is not None else FAR_FUTURE
    # A stored trip that straddles a window edge is re-cut whole.
    straddle = session.exec(
        select(func.min(Trip.start_at), func.max(Trip.end_at)).where(
            Trip.device_id == device, Trip.end_at >= from_ts(w0), Trip.start_at <= from_ts(w1)
        )
    ).one()
    if straddle[0] is not None:
        w0 = min(w0, int(straddle[0].timestamp()))
    return w0, w1


def recut_device(
    session: Session, vehicle: Vehicle, device: str, a: int, b: int, *, base: TripParams | None = None
) -> RecutCounts:
    """Re-cut the window around [a, b] of one device and store the difference."""
    w0, w1 = _window(session, device, a, b)
    fixes = load_fixes(session, device, w0, w1)
    counts = RecutCounts(devices=1, fixes=len(fixes["t"]))
    result = cut_arrays(fixes, params_for(vehicle, base)) if len(fixes["t"]) else None
    lo, hi = from_ts(w0), from_ts(w1)

    # Rows starting in [w0, w1) are replaced; w1 is the end of a settled stop, where the next trip begins.
    trips = session.exec(
        select(Trip).where(Trip.device_id == device, Trip.start_at >= lo, Trip.start_at < hi)
    ).all()
    new_trips = [t for t in _trip_rows(vehicle, device, result) if t.start_at < hi]
    counts.trips_added, counts.trips_removed = _sync(
        session, trips, new_trips, TRIP_FIELDS, on_delete=_detach_flags
    )
    stops = session.exec(
        select(Stop).where(Stop.device_id == device, Stop.start_at >= lo, Stop.start_at < hi)
    ).all()
    new_stops = [s for s in _stop_rows(vehicle, device, result) if s.start_at < hi]
    counts.stops_added, counts.stops_removed = _sync(session, stops, new_stops, STOP_FIELDS)
    return counts


def _sync(
    session: Session,
    old_rows: Sequence[Any],
    new_rows: Sequence[Any],
    fields: tuple[str, ...],
    on_delete: Callable[[Session, Any], None] | None = None,
) -> tuple[int, int]:
    """Make the stored rows equal the new ones, keyed by start time: unchanged rows are not touched, a row
    with the same start but another shape is updated in place (keeping its id, which flags point at).
    Returns (added or changed, removed)."""
    new_by_start = {row.start_at: row for row in new_rows}
    added = removed = 0
    for old in old_rows:
        new = new_by_start.pop(old.start_at, None)
        if new is None:
            if on_delete is not None:
                on_delete(session, old)
            session.delete(old)
            removed += 1
        elif any(getattr(old, f) != getattr(new, f) for f in fields):
            for f in fields:
                setattr(old, f, getattr(new, f))
            session.add(old)
            added += 1
    session.add_all(new_by_start.values())
    return added + len(new_by_start), removed


TRIP_FIELDS = (
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


STOP_FIELDS = ("end_at", "lat", "lon", "duration_s")


def _detach_flags(session: Session, trip: Trip) -> None:
    """A trip that a late batch re-cut away: its flags keep their history and review, lose the pointer
    and are resolved."""
    for flag in session.exec(select(Flag).where(Flag.trip_id == trip.id)).all():
        flag.trip_id = None
        if flag.state == "open":
            flag.state = "resolved"
            flag.resolved_at = utcnow()
            flag.resolved_reason = "行程已被重新切分 trip re-cut away"
        session.add(flag)


def _trip_rows(vehicle: Vehicle, device: str, result: CutResult | None) -> list[Trip]:
    if result is None:
        return []
    assert vehicle.id is not None
    rows = []
    for tr in result.trips:
        start = from_ts(tr.start_ts)
        rows.append(
            Trip(
                vehicle_id=vehicle.id,
                device_id=device,
                start_at=start,
                end_at=from_ts(tr.end_ts),
                service_day=china_day(start),
                start_lat=round(tr.start_lat, 7),
                start_lon=round(tr.start_lon, 7),
                end_lat=round(tr.end_lat, 7),
                end_lon=round(tr.end_lon, 7),
                distance_m=round(tr.distance_m, 1),
                duration_s=int(tr.duration_s),
                max_speed_kmh=round(tr.max_speed_kmh, 2),
                avg_speed_kmh=round(tr.avg_speed_kmh, 2),
            )
        )
    return rows


def _stop_rows(vehicle: Vehicle, device: str, result: CutResult | None) -> list[Stop]:
    if result is None:
        return []
    assert vehicle.id is not None
    return [
        Stop(
            vehicle_id=vehicle.id,
            device_id=device,
            start_at=from_ts(st.start_ts),
            end_at=from_ts(st.end_ts),
            lat=round(st.lat, 7),
            lon=round(st.lon, 7),
            duration_s=int(st.duration_s),
        )
        for st in result.stops
    ]


def recut_pending(session: Session, *, base: TripParams | None = None) -> RecutCounts:
    """Re-cut every range marked by the ingest path, then forget the marks."""
    marks = session.exec(select(RecutRange)).all()
    ranges: dict[str, tuple[int, int]] = {}
    for m in marks:
        old = ranges.get(m.device_id)
        ranges[m.device_id] = (min(m.from_ts, old[0]), max(m.to_ts, old[1])) if old else (m.from_ts, m.to_ts)
    vehicles = {
        v.tracker_id: v
        for v in session.exec(select(Vehicle).where(col(Vehicle.tracker_id).in_(list(ranges)))).all()
        if v.tracker_id
    }
    total = RecutCounts()
    for device, (a, b) in sorted(ranges.items()):
        vehicle = vehicles.get(device)
        if vehicle is not None:
            total.add(recut_device(session, vehicle, device, a, b, base=base))
    if marks:
        ids = [m.id for m in marks]
        session.exec(delete(RecutRange).where(col(RecutRange.id).in_(ids)))  # type: ignore[call-overload]
    return total


def trips_of_day(session: Session, vehicle_id: int, day: date) -> list[Trip]:
    return list(
        session.exec(
            select(Trip)
            .where(Trip.vehicle_id == vehicle_id, Trip.service_day == day)
            .order_by(col(Trip.start_at))
        ).all()
    )
