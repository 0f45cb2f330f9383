"""Stored trips: the ingest path, re-cutting only touched ranges, idempotence."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
from sqlmodel import Session, col, select

from fleet.models import Position, RecutRange, Stop, Trip, Vehicle
from fleet.positions import FixBatch, ingest_fixes
from fleet.tripcut import TripParams
from fleet.trips import cut_arrays, load_fixes, recut_pending
from gongwu.demo_data import build
from tests.factories import make_unit, make_vehicle

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def batch_of(device: str, a: dict[str, np.ndarray], idx: np.ndarray | slice = slice(None)) -> FixBatch:
    t = a["t"][idx]
    n = len(t)
    return FixBatch(
        device_id=np.full(n, device, dtype=object),
        fix_ts=t,
        lat=a["lat"][idx],
        lon=a["lon"][idx],
        speed_kmh=a["speed_kmh"][idx],
        course=np.full(n, np.nan),
        ignition=a["ignition"][idx].astype(np.int8),
        odometer_m=a["odometer_m"][idx],
        valid=np.ones(n, dtype=bool),
    )


def busy_vehicle(session: Session) -> tuple[Vehicle, str, dict[str, np.ndarray]]:
    county = build(date(2026, 11, 27), days=8, vehicles=12, seed=7)
    # the car with the most driving fixes
    device = max(county.positions, key=lambda d: int((county.positions[d]["speed_kmh"] > 20).sum()))
    vehicle = make_vehicle(session, make_unit(session), tracker_id=device, acquired_on=date(2020, 1, 1))
    return vehicle, device, county.positions[device]


def stored(session: Session, model: type[Trip] | type[Stop], device: str) -> list[tuple[object, ...]]:
    rows = session.exec(select(model).where(model.device_id == device).order_by(col(model.start_at))).all()
    return [tuple(sorted(r.model_dump().items())) for r in rows]


def test_ingest_then_recut_stores_trips_and_a_second_pass_changes_nothing(session: Session) -> None:
    _, device, fixes = busy_vehicle(session)
    result = ingest_fixes(session, batch_of(device, fixes), "import", now=NOW)
    assert result.inserted == len(fixes["t"])
    assert result.touched[device] == (int(fixes["t"][0]), int(fixes["t"][-1]))
    counts = recut_pending(session)
    session.flush()
    trips, stops = stored(session, Trip, device), stored(session, Stop, device)
    assert counts.trips_added == len(trips) > 4
    assert len(stops) >= len(trips) - 1
    assert session.exec(select(RecutRange)).all() == []

    again = ingest_fixes(session, batch_of(device, fixes), "import", now=NOW)
    assert again.inserted == 0 and again.duplicates == len(fixes["t"])
    assert again.touched == {}
    assert recut_pending(session).trips_added == 0
    session.flush()
    assert stored(session, Trip, device) == trips
    assert stored(session, Stop, device) == stops


def test_stored_trips_equal_a_cut_of_everything(session: Session) -> None:
    _, device, fixes = busy_vehicle(session)
    ingest_fixes(session, batch_of(device, fixes), "import", now=NOW)
    recut_pending(session)
    session.flush()
    full = cut_arrays(load_fixes(session, device, 0, 2**40), TripParams())
    got = session.exec(select(Trip).where(Trip.device_id == device).order_by(col(Trip.start_at))).all()
    assert [int(t.start_at.timestamp()) for t in got] == [t.start_ts for t in full.trips]
    assert [round(t.distance_m, 1) for t in got] == [round(t.distance_m, 1) for t in full.trips]


def test_a_late_batch_touches_only_its_neighbourhood(session: Session) -> None:
    _, device, fixes = busy_vehicle(session)
    t = fixes["t"]
    moving = np.flatnonzero(fixes["speed_kmh"] > 20)
    # a blind-area batch: an hour of driving in the middle of the data, delivered late
    mid = moving[len(moving) // 2]
    late = (t >= t[mid] - 1800) & (t <= t[mid] + 1800)
    ingest_fixes(session, batch_of(device, fixes, ~late), "import", now=NOW)
    recut_pending(session)
    session.flush()
    before = {
        r.start_at: (r.id, r.end_at, r.distance_m)
        for r in session.exec(select(Trip).where(Trip.device_id == device)).all()
    }

    ingest_fixes(session, batch_of(device, fixes, late), "import", now=NOW)
    counts = recut_pending(session)
    session.flush()
    after = {
        r.start_at: (r.id, r.end_at, r.distance_m)
        for r in session.exec(select(Trip).where(Trip.device_id == device)).all()
    }
    day = 86400
    far = {k for k in before if abs(k.timestamp() - t[mid]) > day}
    assert far, "the data must reach more than a day either side"
    assert {k: before[k] for k in far} == {k: after[k] for k in far}  # untouched: same rows, same ids
    assert counts.fixes < len(t) / 2  # only the window around the batch was read
    # and the result is what cutting everything at once gives
    full = cut_arrays(load_fixes(session, device, 0, 2**40), TripParams())
    assert sorted(int(k.timestamp()) for k in after) == [tr.start_ts for tr in full.trips]


def test_implausible_fixes_are_dropped_and_counted(session: Session) -> None:
    vehicle = make_vehicle(session, acquired_on=date(2020, 1, 1))
    device = vehicle.tracker_id
    assert device is not None
    now = int(NOW.timestamp())
    records = [
        {"device_id": device, "fix_ts": now - 600, "lat": 35.0, "lon": 111.0, "speed_kmh": 0},
        {"device_id": device, "fix_ts": now - 300, "lat": 0.0, "lon": 0.0, "speed_kmh": 0},  # (0,0)
        {"device_id": device, "fix_ts": now + 7200, "lat": 35.0, "lon": 111.0, "speed_kmh": 0},  # future
        {"device_id": device, "fix_ts": now - 200, "lat": 35.0, "lon": 111.0, "speed_kmh": 400},  # speed
        {"device_id": device, "fix_ts": now - 100, "lat": 35.0, "lon": 111.0, "speed_kmh": 0},
        {"device_id": "nobody", "fix_ts": now - 100, "lat": 35.0, "lon": 111.0, "speed_kmh": 0},
    ]
    result = ingest_fixes(session, FixBatch.from_records(records), "osmand", now=NOW)
    assert result.inserted == 2
    assert result.dropped == {"zero_position": 1, "future_time": 1, "speed_too_high": 1, "unknown_device": 1}
    assert sum(result.dropped.values()) + result.inserted + result.duplicates == len(records)
    rows = session.exec(select(Position).where(Position.device_id == device)).all()
    assert [r.source for r in rows] == [2, 2]


def test_a_feed_leaves_one_pending_range_per_device(session: Session) -> None:
    vehicle = make_vehicle(session, acquired_on=date(2020, 1, 1))
    device = vehicle.tracker_id
    now = int(NOW.timestamp())
    for k in range(5):  # five pushes, one fix each
        fix = {"device_id": device, "fix_ts": now - 3000 + 60 * k, "lat": 35.0, "lon": 111.0, "speed_kmh": 0}
        assert ingest_fixes(session, FixBatch.from_records([fix]), "jt808", now=NOW).inserted == 1
    session.flush()
    marks = session.exec(select(RecutRange).where(RecutRange.device_id == device)).all()
    assert [(m.from_ts, m.to_ts) for m in marks] == [(now - 3000, now - 3000 + 240)]


def test_a_tracker_without_speed_or_acc_gets_its_trips_from_movement_when_stored(session: Session) -> None:
    _, device, fixes = busy_vehicle(session)
    bare = {**fixes, "speed_kmh": np.full(len(fixes["t"]), np.nan), "ignition": np.full(len(fixes["t"]), -1)}
    ingest_fixes(session, batch_of(device, bare), "import", now=NOW)
    recut_pending(session)
    session.flush()
    by_movement = session.exec(select(Trip).where(Trip.device_id == device)).all()
    n = len(fixes["t"])
    reference = cut_arrays(
        {**fixes, "ignition": fixes["ignition"].astype(np.int8), "valid": np.ones(n, dtype=bool)},
        TripParams(),
    )
    assert len(reference.trips) > 4
    assert abs(len(by_movement) - len(reference.trips)) <= 1  # the same drives, without speed or ACC
