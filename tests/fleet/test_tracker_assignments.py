"""Trackers move between cars (#20): trips, stops and flags belong to the car that held the tracker at the
fix time; a change after the fact re-cuts and re-reconciles exactly what it touched; a car without a
tracker has no trips and is not idle then; overlapping explicit assignments are refused naming both."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import Session, col, select

from core.errors import ValidationFailed
from core.timeutil import CHINA, to_ts
from fleet import queries, reconcile, trackers
from fleet.models import Flag, FlagKind, Position, TrackerAssignment, Trip, Vehicle
from fleet.positions import FixBatch, ingest_fixes
from fleet.rules import OPEN_END, OPEN_START, Assignment, Segment, Timeline, changed_spans, effective_segments
from ingest.importer import run_import
from ingest.queries import feeds_status
from scheduler import pipeline
from scheduler.imports import import_file
from scheduler.models import JobRun
from tests.conftest import ClientAs
from tests.factories import make_unit, make_vehicle

DAY = date(2026, 11, 20)  # a Friday


def at(hour: float, day: date = DAY) -> datetime:
    return datetime.combine(day, datetime.min.time(), CHINA) + timedelta(hours=hour)


def track(drives: list[float], day: date = DAY, *, every_s: int = 30) -> dict[str, np.ndarray]:
    """A day of one car from 07:00 to 18:00 China time: parked (a fix a minute) but for a 20-minute drive
    at 36 km/h starting at each hour in `drives`, each leaving from where the last one ended."""
    t0, t1 = to_ts(at(7, day)), to_ts(at(18, day))
    ts, lat, speed, ign = [], [], [], []
    here, t = 37.70, t0
    starts = sorted(to_ts(at(h, day)) for h in drives)
    while t < t1:
        moving = next((s for s in starts if s <= t < s + 1200), None)
        if moving is not None:
            here += 10 * every_s / 111_320  # 10 m/s northwards
        ts.append(t)
        lat.append(here)
        speed.append(36.0 if moving is not None else 0.0)
        ign.append(1 if moving is not None else 0)
        t += every_s if moving is not None or any(0 <= s - t < 60 for s in starts) else 60
    n = len(ts)
    return {
        "t": np.array(ts, dtype=np.int64),
        "lat": np.array(lat),
        "lon": np.full(n, 112.70),
        "speed_kmh": np.array(speed),
        "ignition": np.array(ign, dtype=np.int8),
    }


def store(session: Session, device: str, a: dict[str, np.ndarray]) -> int:
    n = len(a["t"])
    batch = FixBatch(
        device_id=np.full(n, device, dtype=object), fix_ts=a["t"], lat=a["lat"], lon=a["lon"],
        speed_kmh=a["speed_kmh"], course=np.full(n, np.nan), ignition=a["ignition"],
        odometer_m=np.full(n, np.nan), valid=np.ones(n, dtype=bool),
    )  # fmt: skip
    return ingest_fixes(session, batch, "import", now=datetime(2026, 12, 1, tzinfo=UTC)).inserted


def trips(session: Session, device: str = "T1") -> list[tuple[int, str, int]]:
    """(trip id, China start hh:mm, vehicle id), in time order."""
    rows = session.exec(select(Trip).where(Trip.device_id == device).order_by(col(Trip.start_at))).all()
    return [(r.id or 0, f"{r.start_at.astimezone(CHINA):%H:%M}", r.vehicle_id) for r in rows]


@pytest.fixture
def two_cars(session: Session) -> tuple[Vehicle, Vehicle]:
    unit = make_unit(session, name="城关镇")
    a = make_vehicle(session, unit, plate="晋M·A0001", tracker_id="T1", acquired_on=date(2020, 1, 1))
    b = make_vehicle(session, unit, plate="晋M·A0002", tracker_id=None, acquired_on=date(2020, 1, 1))
    return a, b


def test_a_tracker_moved_at_noon_gives_a_the_morning_and_b_the_afternoon(
    session: Session, two_cars: tuple[Vehicle, Vehicle]
) -> None:
    a, b = two_cars
    assert store(session, "T1", track([9, 12.5, 15])) > 500
    pipeline.cut(session)
    assert [(h, v) for _, h, v in trips(session)] == [("09:00", a.id), ("12:30", a.id), ("15:00", a.id)]

    trackers.assign(session, "T1", b, at(12), None, actor="test")
    pipeline.after_tracker_change(session)
    moved = trips(session)
    assert [(h, v) for _, h, v in moved] == [("09:00", a.id), ("12:30", b.id), ("15:00", b.id)]
    session.refresh(a)
    session.refresh(b)
    assert (a.tracker_id, b.tracker_id) == (None, "T1")  # the tracker each car holds now

    # the move was at 13:00, not noon: the same installation corrected; only the 12:30 trip moves
    trackers.assign(session, "T1", b, at(13), None, actor="test")
    pipeline.after_tracker_change(session)
    corrected = trips(session)
    assert [(h, v) for _, h, v in corrected] == [("09:00", a.id), ("12:30", a.id), ("15:00", b.id)]
    assert corrected[0][0] == moved[0][0] and corrected[2][0] == moved[2][0]  # untouched trips kept
    assert len(session.exec(select(TrackerAssignment)).all()) == 2  # A's implicit, B's explicit

    found, rows = trackers.history(session, "T1")
    assert found == "device"
    assert [(r["plate"], r["installed_at"], r["removed_at"]) for r in rows] == [
        ("晋M·A0001", at(0, date(2020, 1, 1)), at(13)),  # implicit: from the car's acquisition
        ("晋M·A0002", at(13), None),
    ]


def test_a_trip_never_spans_two_assignments(session: Session, two_cars: tuple[Vehicle, Vehicle]) -> None:
    a, b = two_cars
    store(session, "T1", track([11.9]))  # 11:54–12:14, across the move at noon
    trackers.assign(session, "T1", b, at(12), None, actor="test")
    pipeline.cut(session)
    got = session.exec(select(Trip).where(Trip.device_id == "T1").order_by(col(Trip.start_at))).all()
    assert {t.vehicle_id for t in got} <= {a.id, b.id}
    for t in got:
        assert t.end_at <= at(12) if t.vehicle_id == a.id else t.start_at >= at(12)


def test_flags_follow_the_tracker_and_a_review_is_kept_where_the_trip_stays(
    session: Session, two_cars: tuple[Vehicle, Vehicle]
) -> None:
    a, b = two_cars
    store(session, "T1", track([9, 15]))
    pipeline.cut(session)
    session.add(JobRun(job="reconcile", status="succeeded", day_from=DAY, day_to=DAY))
    reconcile.reconcile_day(session, DAY)

    def unreported() -> list[tuple[str, int, str | None]]:
        rows = session.exec(
            select(Flag).where(Flag.kind == FlagKind.unreported_trip, Flag.state == "open")
        ).all()
        return sorted((f"{f.start_at.astimezone(CHINA):%H:%M}", f.vehicle_id, f.review_status) for f in rows)

    assert unreported() == [("09:00", a.id, None), ("15:00", a.id, None)]
    morning = session.exec(select(Flag).where(Flag.kind == FlagKind.unreported_trip)).all()
    first = min(morning, key=lambda f: f.start_at)
    first.review_status, first.review_comment = "violation", "no order filed"
    session.add(first)
    session.flush()

    trackers.assign(session, "T1", b, at(12), None, actor="test")
    outcome = pipeline.after_tracker_change(session)
    assert outcome.counts["trackers.days_reconciled"] == 1  # only the day the change touched
    assert unreported() == [("09:00", a.id, "violation"), ("15:00", b.id, None)]


def test_a_removed_tracker_is_not_silent_and_a_car_without_one_is_not_idle(
    session: Session, two_cars: tuple[Vehicle, Vehicle]
) -> None:
    a, _ = two_cars
    store(session, "T1", track([9], DAY - timedelta(days=40)))
    trackers.assign(session, "T1", a, at(0, date(2020, 1, 1)), at(12, DAY - timedelta(days=40)), actor="t")
    pipeline.cut(session)
    reconcile.reconcile_day(session, DAY)
    flags = session.exec(select(Flag).where(Flag.vehicle_id == a.id, Flag.state == "open")).all()
    assert {f.kind for f in flags} & {FlagKind.silent_tracker, FlagKind.idle_vehicle} == set()
    timeline = trackers.timeline(session)
    assert timeline.untracked_s(a.id or 0, to_ts(at(0)), to_ts(at(24))) == 86_400


def test_fixes_of_a_tracker_in_no_car_are_kept_and_attributed_once_it_is_assigned(
    session: Session, two_cars: tuple[Vehicle, Vehicle]
) -> None:
    a, b = two_cars
    trackers.assign(session, "T1", a, at(0, date(2020, 1, 1)), at(10), actor="test")  # out at 10:00
    day = track([11])
    assert store(session, "T1", day) == len(day["t"])  # kept although no car held it at 11:00
    pipeline.cut(session)
    assert [h for _, h, _ in trips(session)] == []
    (waiting,) = feeds_status(session)["unassigned"]  # gongwu feeds status lists it
    assert waiting["device_id"] == "T1" and waiting["removed_from"] == a.plate
    assert waiting["fixes_unassigned"] == int((day["t"] >= to_ts(at(10))).sum())
    trackers.assign(session, "T1", b, at(10, DAY), None, actor="test")
    pipeline.after_tracker_change(session)
    assert [(h, v) for _, h, v in trips(session)] == [("11:00", b.id)]
    assert feeds_status(session)["unassigned"] == []
    assert session.exec(select(Position).where(Position.device_id == "T1")).first() is not None


def test_overlapping_assignments_are_refused_naming_both(
    session: Session, two_cars: tuple[Vehicle, Vehicle]
) -> None:
    a, b = two_cars
    trackers.assign(session, "T1", a, at(8), at(12), actor="test")
    with pytest.raises(ValidationFailed) as refused:
        trackers.assign(session, "T2", a, at(10), at(14), actor="test")  # a car holds one tracker
    assert "T1" in str(refused.value) and "T2" in str(refused.value) and "晋M·A0001" in str(refused.value)
    with pytest.raises(ValidationFailed, match="T1"):
        trackers.assign(session, "T1", b, at(9), at(11), actor="test")  # a tracker is in one car
    with pytest.raises(ValidationFailed):
        trackers.assign(session, "T3", b, at(11), at(9), actor="test")  # out before in


def test_the_import_replaces_a_trackers_history_and_refuses_overlaps_by_row(
    session: Session, two_cars: tuple[Vehicle, Vehicle], tmp_path: Path
) -> None:
    a, b = two_cars
    store(session, "T1", track([9, 15]))
    pipeline.cut(session)
    f = tmp_path / "终端安装记录.csv"
    f.write_text(
        "终端号,车牌号,安装时间,拆除时间\n"
        "T1,晋M·A0001,2020-01-01 00:00,2026-11-20 12:00\n"
        "T1,晋M·A0002,2026-11-20 12:00,\n"
        "T2,晋M·A0002,2026-11-20 11:00,2026-11-20 13:00\n",  # B holds T1 from noon
        encoding="utf-8",
    )
    bad = run_import(session, "tracker-assignments", f)
    assert not bad.committed
    assert [(e.line, e.header) for e in bad.errors] == [(4, "安装时间")]
    assert "第 3 行" in bad.errors[0].reason or "line 3" in bad.errors[0].reason
    f.write_text(f.read_text(encoding="utf-8").rsplit("T2", 1)[0], encoding="utf-8")
    report = import_file(session, "tracker-assignments", f)
    assert report.committed and report.inserted == 2
    assert [(h, v) for _, h, v in trips(session)] == [("09:00", a.id), ("15:00", b.id)]
    again = import_file(session, "tracker-assignments", f)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)


def test_the_vehicles_import_keeps_the_implicit_assignment(session: Session, tmp_path: Path) -> None:
    make_unit(session, name="城关镇")
    f = tmp_path / "车辆.csv"
    f.write_text("车牌号,单位,终端号,购置日期\n晋M·B0001,城关镇,T7,2023-05-01\n", encoding="utf-8")
    assert run_import(session, "vehicles", f).committed
    rows = session.exec(select(TrackerAssignment)).all()
    assert [(r.device_id, r.implicit, r.installed_at) for r in rows] == [
        ("T7", True, datetime(2023, 4, 30, 16, 0, tzinfo=UTC))
    ]
    f.write_text("车牌号,单位,终端号,购置日期\n晋M·B0001,城关镇,T8,2023-05-01\n", encoding="utf-8")
    assert run_import(session, "vehicles", f).committed  # the file corrects which tracker it is
    assert [r.device_id for r in session.exec(select(TrackerAssignment)).all()] == ["T8"]
    found, hist = trackers.history(session, "晋M·B0001")
    assert found == "vehicle" and [(r["device_id"], r["implicit"]) for r in hist] == [("T8", True)]


def test_assignments_over_the_api(
    session: Session, two_cars: tuple[Vehicle, Vehicle], client_as: ClientAs
) -> None:
    _, b = two_cars
    store(session, "T1", track([9, 15]))
    pipeline.cut(session)
    manager = client_as("vehicle_manager")
    made = manager.post(
        "/api/v1/tracker-assignments",
        json={"device_id": "T1", "plate": "晋M·A0002", "installed_at": "2026-11-20T12:00:00+08:00"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["counts"]["trips_added"] >= 1
    assert [v for _, _, v in trips(session)][-1] == b.id
    listed = manager.get("/api/v1/tracker-assignments", params={"key": "T1"}).json()
    assert [r["plate"] for r in listed["data"]] == ["晋M·A0001", "晋M·A0002"] and listed["count"] == 2
    clash = manager.post(
        "/api/v1/tracker-assignments",
        json={"device_id": "T2", "plate": "晋M·A0002", "installed_at": "2026-11-20T11:00:00+08:00",
              "removed_at": "2026-11-20T13:00:00+08:00"},
    )  # fmt: skip
    assert clash.status_code == 422 and "T1" in clash.text
    assert (
        client_as("unit_staff", unit_id=b.unit_id).post("/api/v1/tracker-assignments", json={}).status_code
        == 403
    )


# ------------------------------------------------------------------------------------------ pure rules


def test_implicit_assignments_give_way_to_explicit_ones() -> None:
    rows = [
        Assignment(1, "T1", 10, OPEN_START, OPEN_END, implicit=True),
        Assignment(2, "T1", 20, 1000, 2000),
        Assignment(3, "T9", 10, 3000, OPEN_END),  # car 10 got another tracker
    ]
    segs = effective_segments(rows)
    assert [(s.device, s.vehicle, s.start, s.end, s.implicit) for s in segs] == [
        ("T1", 10, OPEN_START, 1000, True),
        ("T1", 20, 1000, 2000, False),
        ("T1", 10, 2000, 3000, True),
        ("T9", 10, 3000, OPEN_END, False),
    ]
    tl = Timeline(segs)
    assert tl.vehicle_at("T1", np.array([500, 1500, 2500, 3500])).tolist() == [10, 20, 10, 0]
    assert tl.untracked_s(20, 0, 5000) == 4000
    # the same installation recorded explicitly replaces the implicit one: its removal is a removal
    removed = effective_segments([rows[0], Assignment(4, "T1", 10, 100, 500)])
    assert [(s.start, s.end, s.implicit) for s in removed] == [(100, 500, False)]


def test_changed_spans_are_exactly_where_the_holder_changed() -> None:
    before = [Segment("T1", 10, OPEN_START, 1000, 1), Segment("T1", 20, 1000, OPEN_END, 2)]
    after = [Segment("T1", 10, OPEN_START, 1600, 1), Segment("T1", 20, 1600, OPEN_END, 2)]
    assert changed_spans(before, after) == {"T1": (1000, 1600)}
    assert changed_spans(before, before) == {}
    gone = [Segment("T1", 10, OPEN_START, 1000, 1)]
    assert changed_spans(before, gone) == {"T1": (1000, OPEN_END)}


def test_the_vehicle_page_and_the_unit_report_show_no_tracker(
    session: Session, two_cars: tuple[Vehicle, Vehicle], client_as: ClientAs
) -> None:
    a, b = two_cars
    today = datetime.now(CHINA).date()
    trackers.assign(session, "T1", b, at(0, today - timedelta(days=10)), None, actor="test")  # moved from A
    manager = client_as("vehicle_manager")
    page = manager.get(f"/vehicles/{a.id}")
    assert page.status_code == 200
    assert "无终端" in page.text and "终端安装记录" in page.text and "车辆登记表" in page.text
    theirs = manager.get(f"/vehicles/{b.id}").text
    assert "T1" in theirs and "安装记录" in theirs
    month = f"{today:%Y-%m}"
    (row,) = [u for u in manager.get("/api/v1/reports/units", params={"month": month}).json()["units"]]
    assert row["untracked_vehicles"] == (2 if today.day > 10 else 1)  # B had none before the move


def test_the_tracker_report_counts_a_check_due_from_the_installation_and_shows_the_swap(
    session: Session, two_cars: tuple[Vehicle, Vehicle]
) -> None:
    a, _ = two_cars
    today = datetime.now(CHINA).date()
    swapped = today - timedelta(days=30)
    trackers.assign(session, "T2", a, at(9, swapped), None, actor="test")  # T1 out, T2 in
    (row,) = [r for r in queries.tracker_report(session, today) if r["plate"] == a.plate]
    assert (row["device_id"], row["installed_on"], row["replaced_on"]) == ("T2", swapped, [swapped])
    assert row["state"] == "ok"  # due six months after the installation, not after the acquisition in 2020
