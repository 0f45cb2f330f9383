"""Compliance rules (#21): the State Council's calendar with 调休, night use, leaving the service area,
overspeed — pure on arrays — then the tags stored by the nightly run, the flags they raise, the rule table,
the center's own calendar days and the service-area import."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pytest
import shapely
from sqlmodel import Session, col, select

from core.errors import ValidationFailed
from core.timeutil import CHINA, to_ts
from fleet import compliance, reconcile, tags
from fleet.compliance import ComplianceRules, ServiceArea, is_rest_day
from fleet.models import Flag, Trip
from tests.factories import make_order, make_unit, make_vehicle

RULES = ComplianceRules()


def ts(day: date, hh: int, mm: int = 0, ss: int = 0) -> int:
    return to_ts(datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=CHINA))


def test_the_state_council_calendar_with_make_up_working_days() -> None:
    assert not is_rest_day(date(2024, 9, 14)) and not is_rest_day(date(2024, 10, 12))  # Saturdays, 调休上班
    rest = [date(2024, 9, 16), date(2024, 9, 17)] + [date(2024, 10, d) for d in range(1, 8)]
    assert all(is_rest_day(d) for d in rest)
    assert not is_rest_day(date(2024, 9, 18)) and is_rest_day(date(2024, 9, 21))  # a Wednesday, a Saturday
    # the center's own days win; a year the package does not know is weekends only
    assert is_rest_day(date(2024, 9, 18), {date(2024, 9, 18): True})
    assert not is_rest_day(date(2024, 9, 21), {date(2024, 9, 21): False})
    assert is_rest_day(date(2099, 1, 3)) and not is_rest_day(date(2099, 1, 1))  # Saturday; a Thursday


def test_night_use_on_a_working_day() -> None:
    day = date(2024, 9, 18)  # a Wednesday
    start = np.array([ts(day, 21), ts(day, 19, 45), ts(day, 5, 40), ts(day, 12)])
    end = np.array([ts(day, 21, 30), ts(day, 20, 5), ts(day, 6, 10), ts(day, 13)])
    bits = compliance.time_tags(start, end, [False] * 4, RULES)
    assert [compliance.tag_names(int(b)) for b in bits] == [["off_hours"], [], ["off_hours"], []]
    assert compliance.night_overlap_s(start, end, RULES).tolist() == [1800, 300, 1200, 0]
    # a rest day's trip is rest_day (not also off_hours); a window that does not cross midnight
    assert compliance.tag_names(int(compliance.time_tags(start[:1], end[:1], [True], RULES)[0])) == [
        "rest_day"
    ]
    lunch = ComplianceRules(night_start="12:00", night_end="12:30")
    assert compliance.night_overlap_s(start[3:], end[3:], lunch).tolist() == [1800]


def test_overspeed_needs_thirty_seconds_above_the_limit() -> None:
    t = np.array([0, 15, 30, 100, 115], dtype=np.int64)
    trip = np.array([0, 0, 0, 1, 1])
    speed = np.array([130.0, 131, 129, 140, 140])
    lat = np.full(5, 37.7)
    lon = np.full(5, 112.7)
    found = compliance.overspeed(trip, t, speed, lat, lon, RULES)
    assert [(o.trip, o.seconds, o.max_kmh) for o in found] == [
        (0, 30, 131.0)
    ]  # 3 fixes over 30 s; not 2 over 15
    # without any speed from the tracker: the speed implied by distance over time (≈ 144 km/h here)
    step = 40 * 15 / 111_320  # 40 m/s (144 km/h) for 15 s, in degrees of latitude
    lat2 = 37.7 + step * np.arange(4)
    found = compliance.overspeed(np.zeros(4), np.arange(4) * 15, np.zeros(4), lat2, np.full(4, 112.7), RULES)
    assert len(found) == 1 and found[0].seconds == 30 and 140 < found[0].max_kmh < 150


def test_one_drift_fix_outside_is_not_leaving_two_are() -> None:
    square = shapely.box(112.6, 37.6, 112.8, 37.8)  # about 17.6 × 22 km
    area = ServiceArea(square, margin_m=1000)
    out_lat = 37.8 + 3000 / 110_574  # 3 km north of the boundary
    inside_lat = 37.7
    lat = np.array([inside_lat, out_lat, inside_lat, inside_lat, out_lat, out_lat, inside_lat])
    lon = np.full(7, 112.7)
    trip = np.array([0, 0, 0, 1, 1, 1, 1])
    outside = area.outside(lat, lon)
    assert outside.tolist() == [False, True, False, False, True, True, False]
    assert compliance.outside_runs(trip, outside, RULES.out_of_area_fixes).tolist() == [1]
    assert not area.outside(np.array([37.8 + 500 / 110_574]), np.array([112.7]))[0]  # 500 m out: within 1 km


def test_rule_values_are_checked() -> None:
    assert compliance.parse_rule("night_start", "21:5") == "21:05"
    assert compliance.parse_rule("overspeed_kmh", "100") == 100.0
    assert compliance.parse_rule("overspeed_s", "45") == 45
    for key, value in (
        ("night_start", "25:00"),
        ("overspeed_s", "4.5"),
        ("overspeed_kmh", "-1"),
        ("nope", 1),
    ):
        with pytest.raises(ValueError):
            compliance.parse_rule(key, value)


# ------------------------------------------------------------------------------ the nightly run's tags

WEDNESDAY = date(2024, 9, 18)


def drive(day: date, hour: float, minutes: int, kmh: float, *, fast_s: int = 0) -> dict[str, np.ndarray]:
    """Parked an hour, a drive northwards at `kmh` (the first `fast_s` seconds of it at 130 km/h), parked
    an hour: a fix every 15 s while driving, every 60 s parked."""
    t0 = ts(day, 0) + int(hour * 3600)
    times, lat, speed, here = [], [], [], 37.70
    for t in range(t0 - 3600, t0, 60):
        times.append(t), lat.append(here), speed.append(0.0)
    for k, t in enumerate(range(t0, t0 + minutes * 60, 15)):
        v = 130.0 if k * 15 < fast_s else kmh
        here += v / 3.6 * 15 / 110_574
        times.append(t), lat.append(here), speed.append(v)
    for t in range(t0 + minutes * 60, t0 + minutes * 60 + 3600, 60):
        times.append(t), lat.append(here), speed.append(0.0)
    n = len(times)
    return {
        "t": np.array(times),
        "lat": np.array(lat),
        "lon": np.full(n, 112.70),
        "speed_kmh": np.array(speed),
    }


def store(session: Session, device: str, *tracks: dict[str, np.ndarray]) -> None:
    from fleet.positions import FixBatch, ingest_fixes
    from fleet.trips import recut_pending

    for a in tracks:
        n = len(a["t"])
        batch = FixBatch(
            device_id=np.full(n, device, dtype=object), fix_ts=a["t"].astype(np.int64), lat=a["lat"],
            lon=a["lon"], speed_kmh=a["speed_kmh"], course=np.full(n, np.nan),
            ignition=np.full(n, -1, np.int8), odometer_m=np.full(n, np.nan), valid=np.ones(n, dtype=bool),
        )  # fmt: skip
        ingest_fixes(session, batch, "import", now=datetime(2024, 12, 1, tzinfo=UTC))
    recut_pending(session)


def flags_of(session: Session, kind: str) -> list[Flag]:
    return list(session.exec(select(Flag).where(Flag.kind == kind).order_by(col(Flag.start_at))).all())


def test_the_night_run_tags_trips_and_raises_the_flags_they_call_for(session: Session) -> None:
    car = make_vehicle(
        session, make_unit(session, name="城关镇"), tracker_id="C1", acquired_on=date(2020, 1, 1)
    )
    # 05:30–05:50, in the night window until 06:00 and 45 s at 130 km/h; then an ordinary noon drive
    store(session, "C1", drive(WEDNESDAY, 5.5, 20, 60, fast_s=45), drive(WEDNESDAY, 12, 20, 60))
    counts = reconcile.reconcile_day(session, WEDNESDAY)
    assert counts["trips_retagged"] == 1 and counts["out_of_area_rule_off"] == 1
    trips = session.exec(select(Trip).where(Trip.vehicle_id == car.id).order_by(col(Trip.start_at))).all()
    assert [compliance.tag_names(t.tags) for t in trips] == [["off_hours", "overspeed"], []]
    unreported = flags_of(session, "unreported_trip")
    assert [(f.severity, f.detail.get("tags")) for f in unreported] == [
        ("high", ["off_hours", "overspeed"]),
        ("normal", None),
    ]
    (over,) = flags_of(session, "overspeed")
    assert over.trip_id == trips[0].id and over.severity == "high"
    assert (
        over.detail["max_kmh"] == 130.0 and over.detail["seconds"] >= 30 and over.detail["limit_kmh"] == 120
    )
    # the queue puts the high ones first
    from fleet import queries

    rows, _ = queries.flag_rows(session, queries.FlagFilter(), limit=10)
    assert {r["id"] for r in rows[:2]} == {over.id, unreported[0].id}  # older, but high first

    # a review is kept; raising the limit re-evaluates the trip: the overspeed flag resolves
    over.review_status = "violation"
    session.add(over)
    session.flush()
    again = reconcile.reconcile_day(session, WEDNESDAY)
    assert again["raised"] == again["resolved"] == 0 and again["trips_retagged"] == 0
    tags.set_rule(session, "overspeed_kmh", 140, actor="admin")
    reconcile.reconcile_day(session, WEDNESDAY)
    session.refresh(over)
    assert (over.state, over.review_status) == ("resolved", "violation")
    session.refresh(trips[0])
    assert compliance.tag_names(trips[0].tags) == ["off_hours"]


def test_a_rest_day_with_make_up_work_and_the_centers_own_days(session: Session) -> None:
    make_vehicle(session, make_unit(session), tracker_id="C2", acquired_on=date(2020, 1, 1))
    holiday, makeup = date(2024, 10, 2), date(2024, 10, 12)  # National Day; a Saturday worked
    store(session, "C2", drive(holiday, 10, 20, 60), drive(makeup, 10, 20, 60))
    for day in (holiday, makeup):
        reconcile.reconcile_day(session, day)
    got = session.exec(select(Trip.service_day, Trip.tags).order_by(col(Trip.start_at))).all()
    assert [(d, compliance.tag_names(b)) for d, b in got] == [(holiday, ["rest_day"]), (makeup, [])]
    tags.set_day(session, makeup, True, "县庆", actor="admin")  # the county's own rest day
    reconcile.reconcile_day(session, makeup)
    assert compliance.tag_names(session.exec(select(Trip.tags).where(Trip.service_day == makeup)).one()) == [
        "rest_day"
    ]


def test_out_of_area_needs_a_service_area_and_an_order_that_does_not_say_so(session: Session) -> None:
    car = make_vehicle(session, make_unit(session), tracker_id="C3", acquired_on=date(2020, 1, 1))
    # the area's northern edge is 2 km north of where the car starts: a 20-minute drive at 60 km/h leaves it
    edge = 37.70 + 2000 / 110_574
    area = {
        "type": "Polygon",
        "coordinates": [[[112.6, 37.6], [112.8, 37.6], [112.8, edge], [112.6, edge], [112.6, 37.6]]],
    }
    result = tags.import_service_area(session, json.dumps(area), name="县域", actor="admin")
    assert result["km2"] > 0
    store(session, "C3", drive(WEDNESDAY, 9, 20, 60))
    order = make_order(
        session, car, planned_start_at=datetime(2024, 9, 18, 0, 30, tzinfo=UTC),
        planned_end_at=datetime(2024, 9, 18, 2, 0, tzinfo=UTC), status="approved",
    )  # fmt: skip
    reconcile.reconcile_day(session, WEDNESDAY)
    trip = session.exec(select(Trip).where(Trip.vehicle_id == car.id)).one()
    assert "out_of_area" in compliance.tag_names(trip.tags) and trip.order_id == order.id
    (flag,) = flags_of(session, "out_of_area_trip")
    assert flag.detail["order_no"] == order.order_no and flag.state == "open"
    order.out_of_county = True  # the order said 出县: no longer a finding
    session.add(order)
    session.flush()
    reconcile.reconcile_day(session, WEDNESDAY)
    session.refresh(flag)
    assert flag.state == "resolved"


def test_the_service_area_import_refuses_what_is_no_polygon(session: Session) -> None:
    with pytest.raises(ValidationFailed, match=r"多边形|Polygon"):
        tags.import_service_area(
            session, '{"type": "Point", "coordinates": [112.7, 37.7]}', name="x", actor="a"
        )
    with pytest.raises(ValidationFailed, match=r"第 1 行|line 1"):
        tags.import_service_area(session, "{nope", name="x", actor="a")
    gcj = {"type": "Polygon", "coordinates": [[[112.6, 37.6], [112.8, 37.6], [112.8, 37.8], [112.6, 37.6]]]}
    stored = tags.import_service_area(session, json.dumps(gcj), name="gcj", coord_system="gcj02", actor="a")
    lon0 = stored["bounds"][0]
    assert 112.59 < lon0 < 112.6  # shifted back to WGS-84 (a few hundred metres west)


def test_rules_and_calendar_over_the_api(session: Session, client_as: Any) -> None:
    admin, manager = client_as("admin"), client_as("vehicle_manager")
    rules = {r["key"]: r for r in manager.get("/api/v1/rules").json()}
    assert rules["overspeed_kmh"]["value"] == 120.0 and rules["night_start"]["default"] == "20:00"
    assert manager.put("/api/v1/rules", json={"values": {"overspeed_kmh": 100}}).status_code == 403
    bad = admin.put("/api/v1/rules", json={"values": {"overspeed_kmh": 100, "night_start": "25:00"}})
    assert bad.status_code == 422
    assert tags.current_rules(session).overspeed_kmh == 120.0  # all or nothing
    ok = admin.put("/api/v1/rules", json={"values": {"overspeed_kmh": 100}})
    assert ok.status_code == 200 and {r["key"]: r["value"] for r in ok.json()}["overspeed_kmh"] == 100.0
    made = admin.post("/api/v1/calendar", json={"day": "2024-09-18", "rest": True, "note": "县庆"})
    assert made.status_code == 201
    days = {r["day"]: r for r in manager.get("/api/v1/calendar", params={"year": 2024}).json()}
    assert days["2024-09-18"]["source"] == "local" and days["2024-09-14"] == {
        "day": "2024-09-14",
        "rest": False,
        "source": "state_council",
    }


def test_orders_import_reads_out_of_county(session: Session, tmp_path: Any) -> None:
    from fleet.models import TripOrder
    from ingest.importer import run_import

    car = make_vehicle(session, make_unit(session))
    f = tmp_path / "申请.csv"
    f.write_text(
        "申请单号,车牌号,计划出发,计划返回,审批状态,是否出县\n"
        f"A1,{car.plate},2024-09-18 08:00,2024-09-18 12:00,已批准,是\n"
        f"A2,{car.plate},2024-09-18 13:00,2024-09-18 15:00,已批准,\n"
        f"A3,{car.plate},2024-09-18 16:00,2024-09-18 17:00,已批准,也许\n",
        encoding="utf-8",
    )
    bad = run_import(session, "orders", f)
    assert [(e.line, e.header) for e in bad.errors] == [(4, "是否出县")]
    f.write_text(f.read_text(encoding="utf-8").rsplit("A3", 1)[0], encoding="utf-8")
    assert run_import(session, "orders", f).committed
    got = session.exec(select(TripOrder.order_no, TripOrder.out_of_county).order_by(TripOrder.order_no)).all()
    assert got == [("A1", True), ("A2", False)]


def test_wrong_vehicle_and_its_reassignment_survive_a_rerun(session: Session, client_as: Any) -> None:
    from datetime import timedelta

    from fleet.models import TripOrder
    from tests.factories import make_fixes

    unit = make_unit(session, name="城关镇")
    a = make_vehicle(session, unit, plate="晋M·A0001", tracker_id="WA", acquired_on=date(2020, 1, 1))
    b = make_vehicle(session, unit, plate="晋M·A0002", tracker_id="WB", acquired_on=date(2020, 1, 1))
    start = datetime(2024, 9, 18, 9, 0, tzinfo=CHINA)
    make_fixes(session, "WA", [start - timedelta(hours=8) + timedelta(minutes=10 * k) for k in range(90)])
    store(session, "WB", drive(WEDNESDAY, 9.2, 25, 50))  # B drives 09:12–09:37 in A's order window
    window = {
        "planned_start_at": start.astimezone(UTC),
        "planned_end_at": (start + timedelta(hours=1)).astimezone(UTC),
    }
    order = make_order(session, a, status="approved", **window)
    reconcile.reconcile_day(session, WEDNESDAY)
    (wrong,) = flags_of(session, "wrong_vehicle")
    trip = session.exec(select(Trip).where(Trip.vehicle_id == b.id)).one()
    assert wrong.order_id == order.id and wrong.severity == "high"
    assert (wrong.detail["plate"], wrong.detail["other_plate"], wrong.detail["trip_ids"]) == (
        a.plate,
        b.plate,
        [trip.id],
    )
    assert [f.state for f in flags_of(session, "order_without_track")] == ["open"]

    assert (
        client_as("unit_viewer", unit_id=unit.id).post(f"/api/v1/flags/{wrong.id}/reassign").status_code
        == 403
    )
    manager = client_as("vehicle_manager")
    assert f'action="/flags/{wrong.id}/reassign"' in manager.get(f"/flags/{wrong.id}").text
    done = manager.post(f"/flags/{wrong.id}/reassign", follow_redirects=False)  # the page's 改派 button
    assert done.status_code == 303, done.text
    assert "已改派" in manager.get(done.headers["location"]).text
    session.expire_all()
    assert session.get(TripOrder, order.id).vehicle_id == b.id  # type: ignore[union-attr]
    assert session.get(Trip, trip.id).order_id == order.id  # type: ignore[union-attr]
    linked = [
        *flags_of(session, "wrong_vehicle"),
        *flags_of(session, "unreported_trip"),
        *flags_of(session, "order_without_track"),
    ]
    assert [(f.kind, f.state, f.resolved_reason) for f in linked] == [
        ("wrong_vehicle", "resolved", "order_reassigned"),
        ("unreported_trip", "resolved", "order_reassigned"),
        ("order_without_track", "resolved", "order_reassigned"),
    ]
    again = reconcile.reconcile_day(session, WEDNESDAY)  # the night again: nothing changes
    assert (again["raised"], again["resolved"], again["reopened"]) == (0, 0, 0)
    assert client_as("vehicle_manager").post(f"/api/v1/flags/{wrong.id}/reassign").status_code == 409


def test_tags_on_the_trip_api_and_page_and_the_tag_filter(session: Session, client_as: Any) -> None:
    make_vehicle(session, make_unit(session, name="城关镇"), tracker_id="C9", acquired_on=date(2020, 1, 1))
    store(session, "C9", drive(WEDNESDAY, 5.5, 20, 60, fast_s=45), drive(WEDNESDAY, 12, 20, 60))
    reconcile.reconcile_day(session, WEDNESDAY)
    manager = client_as("vehicle_manager")
    every = manager.get("/api/v1/trips", params={"day": "2024-09-18"}).json()["data"]
    assert [t["tags"] for t in sorted(every, key=lambda t: t["start_at"])] == [["off_hours", "overspeed"], []]
    fast = manager.get("/api/v1/trips", params={"tag": "overspeed"}).json()["data"]
    assert [t["tags"] for t in fast] == [["off_hours", "overspeed"]]
    assert manager.get("/api/v1/trips", params={"tag": "nope"}).status_code == 422
    page = manager.get(f"/trips/{fast[0]['id']}")
    assert page.status_code == 200 and "超速" in page.text and "非工作时间" in page.text
    # the trip list page: a day's trips, filtered by tag
    listed = manager.get("/trips", params={"day": "2024-09-18"}).text
    assert listed.count('href="/trips/') == 2
    only = manager.get("/trips", params={"day": "2024-09-18", "tag": "overspeed"}).text
    assert only.count('href="/trips/') == 1 and f'href="/trips/{fast[0]["id"]}"' in only
    assert manager.get("/trips", params={"tag": "nope"}).status_code == 422


def test_the_unit_report_counts_tagged_trips_and_the_unreported_ones(session: Session) -> None:
    from fleet import queries

    make_vehicle(session, make_unit(session, name="城关镇"), tracker_id="C8", acquired_on=date(2020, 1, 1))
    store(session, "C8", drive(WEDNESDAY, 5.5, 20, 60, fast_s=45), drive(date(2024, 9, 16), 10, 20, 60))
    for day in (date(2024, 9, 16), WEDNESDAY):  # Mid-Autumn, then a working day
        reconcile.reconcile_day(session, day)
    (row,) = [u for u in queries.unit_report(session, "2024-09")["units"] if u["unit"] == "城关镇"]
    got = {k: v for k, v in row.items() if k.endswith(("_trips", "_unreported")) and k.split("_")[0] in
           ("rest", "off", "out", "overspeed")}  # fmt: skip
    assert got == {
        "rest_day_trips": 1, "rest_day_unreported": 1, "off_hours_trips": 1, "off_hours_unreported": 1,
        "out_of_area_trips": 0, "out_of_area_unreported": 0, "overspeed_trips": 1, "overspeed_unreported": 1,
    }  # fmt: skip
    assert compliance.TAGS == ("rest_day", "off_hours", "out_of_area", "overspeed")  # the API's TripTag


def test_the_rules_page(session: Session, client_as: Any) -> None:
    tags.set_rule(session, "overspeed_kmh", 100, actor="admin")
    tags.set_day(session, date(2024, 9, 18), True, "县庆", actor="admin")
    page = client_as("vehicle_manager").get("/rules", params={"year": 2024})
    assert page.status_code == 200
    assert "overspeed_kmh" in page.text and "超速限值" in page.text and "100.0" in page.text
    assert "本中心设定" in page.text and "国务院安排" in page.text and "未导入服务区域" in page.text
    assert client_as("unit_viewer", unit_id=make_unit(session).id).get("/rules").status_code == 403


# ------------------------------------------------------------------------------------- 夜间未归


def test_the_night_judged_and_the_distance_from_home() -> None:
    instant, evening = compliance.night_instant(date(2024, 9, 19), RULES)
    assert (instant, evening) == (ts(date(2024, 9, 19), 2), date(2024, 9, 18))  # 02:00 judges the 18th
    late = ComplianceRules(away_hour=23)
    assert compliance.night_instant(date(2024, 9, 19), late) == (ts(date(2024, 9, 19), 23), date(2024, 9, 19))
    north = 1.5 / 111.195  # 1.5 km of latitude
    away, km = compliance.away_from_home(
        np.array([37.7 + north, 37.7 + north, 37.7 + 0.5 / 111.195]), np.full(3, 112.7),
        np.full(3, 37.7), np.full(3, 112.7), np.array([False, True, False]), RULES,
    )  # fmt: skip
    assert away.tolist() == [True, False, False]  # 1.5 km out; the same under an order; 0.5 km out
    assert km.round(2).tolist() == [1.5, 1.5, 0.5]


def test_a_car_away_from_home_at_two_in_the_morning(session: Session) -> None:
    from datetime import timedelta

    from tests.factories import make_fixes

    office = make_unit(session, name="城关镇", lat=37.70, lon=112.70)
    nowhere = make_unit(session, name="县教育局")  # no location
    away = make_vehicle(session, office, plate="晋M·N0001", tracker_id="N1", acquired_on=date(2020, 1, 1))
    kept = make_vehicle(
        session, office, plate="晋M·N0002", tracker_id="N2", acquired_on=date(2020, 1, 1),
        home_lat=37.80, home_lon=112.70,
    )  # fmt: skip
    make_vehicle(session, nowhere, plate="晋M·N0003", tracker_id="N3", acquired_on=date(2020, 1, 1))
    silent = make_vehicle(session, office, plate="晋M·N0004", tracker_id="N4", acquired_on=date(2020, 1, 1))
    evening = datetime(2024, 9, 18, 20, 0, tzinfo=CHINA)
    night = [evening + timedelta(minutes=10 * k) for k in range(36)]  # 20:00–01:50
    make_fixes(session, "N1", night, lat=37.75)  # 5.6 km north of the office
    make_fixes(session, "N2", night, lat=37.80)  # at its own 停放点, 11 km from the office
    make_fixes(session, "N3", night, lat=37.90)
    make_fixes(session, "N4", [evening - timedelta(hours=2)], lat=37.90)  # nothing in the 6 h before 02:00
    thursday = date(2024, 9, 19)
    counts = reconcile.reconcile_day(session, thursday)
    assert (counts["away_judged"], counts["away_no_home"], counts["away_no_fix"]) == (2, 1, 1)
    (flag,) = flags_of(session, "away_overnight")
    assert (flag.vehicle_id, flag.unit_id, flag.severity, flag.key) == (
        away.id, office.id, "high", f"{away.id}:2024-09-18",
    )  # fmt: skip
    assert flag.detail["evening_date"] == "2024-09-18" and flag.detail["home"] == "unit"
    assert 5.4 < flag.detail["km"] < 5.8 and flag.detail["fix_at"].startswith("2024-09-19T01:50")
    assert flag.start_at == datetime(2024, 9, 19, 2, 0, tzinfo=CHINA)
    assert kept.id != silent.id

    again = reconcile.reconcile_day(session, thursday)  # idempotent
    assert (again["raised"], again["resolved"], again["reopened"]) == (0, 0, 0)
    # an approved order over the night covers it: the flag resolves, its review kept
    flag.review_status = "explained"
    session.add(flag)
    make_order(
        session, away, status="approved", planned_start_at=evening.astimezone(UTC),
        planned_end_at=(evening + timedelta(hours=8)).astimezone(UTC),
    )  # fmt: skip
    from fleet import queries

    (row,) = [u for u in queries.unit_report(session, "2024-09")["units"] if u["unit"] == "城关镇"]
    assert row["nights_away"] == 1
    reconcile.reconcile_day(session, thursday)
    session.refresh(flag)
    assert (flag.state, flag.review_status) == ("resolved", "explained")


def test_home_bases_come_in_with_the_vehicles_and_units_files(session: Session, tmp_path: Any) -> None:
    from core.models import Unit
    from fleet.models import Vehicle
    from ingest.importer import run_import

    (tmp_path / "u.csv").write_text("单位名称,类型,经度,纬度\n城关镇,乡镇,112.71,37.71\n", encoding="utf-8")
    assert run_import(session, "units", tmp_path / "u.csv").committed
    unit = session.exec(select(Unit).where(Unit.name == "城关镇")).one()
    assert (unit.lat, unit.lon) == (37.71, 112.71)
    (tmp_path / "v.csv").write_text(
        "车牌号,单位,停放点经度,停放点纬度\n晋M·H0001,城关镇,112.72,37.72\n晋M·H0002,城关镇,112.72,\n",
        encoding="utf-8",
    )
    result = run_import(session, "vehicles", tmp_path / "v.csv")
    assert [(e.line, e.header) for e in result.errors] == [(3, "停放点纬度")] and not result.committed
    assert session.exec(select(Vehicle).where(Vehicle.plate == "晋M·H0001")).first() is None  # nothing half


def test_the_bulletin_names_high_risk_unreported_trips_first(session: Session, client_as: Any) -> None:
    from fleet import queries

    town = make_unit(session, name="城关镇")
    make_vehicle(session, town, plate="晋M·R0001", tracker_id="R1", acquired_on=date(2020, 1, 1))
    holiday = date(2024, 9, 16)  # Mid-Autumn
    store(
        session, "R1", drive(holiday, 10, 20, 60), drive(WEDNESDAY, 21, 20, 60), drive(WEDNESDAY, 12, 20, 60)
    )
    for day in (holiday, WEDNESDAY):
        reconcile.reconcile_day(session, day)
    data = queries.bulletin(session, "2024-09")
    (unit,) = data["high_risk"]
    assert (unit["unit"], unit["count"]) == ("城关镇", 2)  # the noon trip is unreported but not high-risk
    assert [t["tags"] for t in unit["trips"]] == [["rest_day"], ["off_hours"]]
    api = client_as("vehicle_manager").get("/api/v1/reports/bulletin", params={"month": "2024-09"})
    assert api.status_code == 200 and api.json()["high_risk"][0]["count"] == 2
    page = client_as("vehicle_manager").get("/reports/bulletin", params={"month": "2024-09"})
    assert "高风险未报备行程" in page.text and f"/flags/{unit['trips'][0]['flag_id']}" in page.text
    report = client_as("vehicle_manager").get("/reports/units", params={"month": "2024-09"})
    assert "合规情况" in report.text and "节假日未报备" in report.text
