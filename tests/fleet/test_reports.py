"""Unit report, bulletin, expense sheet and the flag queue."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, select

from core.errors import ValidationFailed
from core.timeutil import CHINA
from fleet import flags, queries, reconcile
from fleet.compliance import TAGS
from fleet.models import Flag
from fleet.queries import REVIEW_KEYS
from tests.factories import make_expense, make_fixes, make_order, make_trip, make_unit, make_vehicle


def cn(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=CHINA).astimezone(UTC)


@pytest.fixture
def june(session: Session) -> dict[str, object]:
    """Two units: the town files 3 of its 4 trips, the bureau 1 of 3; one idle car in the bureau."""
    town = make_unit(session, name="甲镇", kind="township")
    bureau = make_unit(session, name="乙局", kind="department")
    make_unit(session, name="丙局(无车)", kind="department")
    t1 = make_vehicle(session, town, plate="晋M·T0001", tracker_id="TT1")
    t2 = make_vehicle(session, town, plate="晋M·T0002", tracker_id="TT2")
    b1 = make_vehicle(session, bureau, plate="晋M·B0001", tracker_id="BB1")
    b2 = make_vehicle(session, bureau, plate="晋M·B0002", tracker_id="BB2")  # idle
    for v in (t1, t2, b1, b2):
        assert v.tracker_id
        make_fixes(session, v.tracker_id, [cn(5, 1) + timedelta(hours=6 * i) for i in range(4 * 62)])
    make_trip(session, b2, cn(5, 1, 9), 30)  # its last trip
    for v in (t1, t2, b1):
        make_trip(session, v, cn(5, 20, 9), 10)  # moved in May: not idle

    o1 = make_order(session, t1, order_no="O-1", planned_start_at=cn(6, 3, 8), planned_end_at=cn(6, 3, 18))
    make_trip(session, t1, cn(6, 3, 9), 60)  # 30 km
    make_trip(session, t1, cn(6, 3, 16), 60)  # 30 km, same order (out and back)
    o2 = make_order(session, t2, order_no="O-2", planned_start_at=cn(6, 10, 8), planned_end_at=cn(6, 10, 9))
    make_trip(session, t2, cn(6, 10, 8), 20)  # 10 km
    make_trip(session, t2, cn(6, 11, 8), 20)  # unreported
    o3 = make_order(session, b1, order_no="O-3", planned_start_at=cn(6, 12, 8), planned_end_at=cn(6, 12, 12))
    make_trip(session, b1, cn(6, 12, 8), 40)  # 20 km
    make_trip(session, b1, cn(6, 13, 8), 40)  # unreported
    make_trip(session, b1, cn(6, 14, 8), 40)  # unreported
    make_trip(session, b1, cn(7, 1, 8), 40)  # July: not in the June report
    make_expense(session, o1, tolls_fen=3500, meal_allowance_fen=6000, fuel_fen=12050)
    make_expense(session, o2, fuel_fen=1)
    make_expense(session, o3, other_fen=99999)
    rules = reconcile.Rules()
    d = date(2024, 6, 1)
    while d <= date(2024, 6, 30):
        reconcile.reconcile_day(session, d, rules=rules)
        d += timedelta(days=1)
    return {"town": town, "bureau": bureau, "b1": b1, "b2": b2, "t2": t2}


def test_unit_report_json_is_exact(session: Session, june: dict[str, object]) -> None:
    report = queries.unit_report(session, "2024-06")
    assert report == {
        "month": "2024-06",
        "units": [
            {
                "unit": "甲镇",
                "vehicles": 2,
                "trips": 4,
                "km": 80.0,
                "covered_trips": 3,
                "late_reported_trips": 0,
                "unreported_trips": 1,
                "reporting_rate": 0.75,
                "idle_vehicles": 0,
                "silent_trackers": 0,
                "untracked_vehicles": 0,
                **{f"{tag}_{what}": 0 for tag in TAGS for what in ("trips", "unreported")},
                "nights_away": 0,
                **dict.fromkeys(REVIEW_KEYS, 0),
                "not_reviewed": 1,  # its unreported trips, none reviewed yet
                "rest_day_trips": 1,  # 10 June 2024, the Dragon Boat Festival (端午节): covered
                "expenses_yuan": "215.51",
            },
            {
                "unit": "丙局(无车)",
                "vehicles": 0,
                "trips": 0,
                "km": 0.0,
                "covered_trips": 0,
                "late_reported_trips": 0,
                "unreported_trips": 0,
                "reporting_rate": None,
                "idle_vehicles": 0,
                "silent_trackers": 0,
                "untracked_vehicles": 0,
                **{f"{tag}_{what}": 0 for tag in TAGS for what in ("trips", "unreported")},
                "nights_away": 0,
                **dict.fromkeys(REVIEW_KEYS, 0),
                "not_reviewed": 0,  # its unreported trips, none reviewed yet
                "expenses_yuan": "0.00",
            },
            {
                "unit": "乙局",
                "vehicles": 2,
                "trips": 3,
                "km": 60.0,
                "covered_trips": 1,
                "late_reported_trips": 0,
                "unreported_trips": 2,
                "reporting_rate": 0.3333,
                "idle_vehicles": 1,
                "silent_trackers": 0,
                "untracked_vehicles": 0,
                **{f"{tag}_{what}": 0 for tag in TAGS for what in ("trips", "unreported")},
                "nights_away": 0,
                **dict.fromkeys(REVIEW_KEYS, 0),
                "not_reviewed": 2,  # its unreported trips, none reviewed yet
                "expenses_yuan": "999.99",
            },
        ],
    }


def test_false_alarm_trips_count_nowhere(session: Session, june: dict[str, object]) -> None:
    b1 = june["b1"]
    flag = session.exec(
        select(Flag).where(Flag.kind == "unreported_trip", Flag.vehicle_id == b1.id)  # type: ignore[attr-defined]
    ).first()
    assert flag is not None and flag.id is not None
    flags.review_flag(session, flag.id, "false_alarm", "GPS 漂移", "manager")
    row = next(u for u in queries.unit_report(session, "2024-06")["units"] if u["unit"] == "乙局")
    assert (row["trips"], row["unreported_trips"], row["reporting_rate"]) == (2, 1, 0.5)
    assert (row["reviewed_false_alarm"], row["not_reviewed"]) == (1, 1)  # shown, though counted nowhere


def test_bulletin_lists_units_under_threshold_worst_first(session: Session, june: dict[str, object]) -> None:
    b = queries.bulletin(session, "2024-06")
    assert b["threshold"] == 0.9
    assert [u["unit"] for u in b["units"]] == ["乙局", "甲镇"]
    assert [u["unit"] for u in queries.bulletin(session, "2024-06", threshold=0.5)["units"]] == ["乙局"]
    with pytest.raises(ValidationFailed, match="之间"):
        queries.bulletin(session, "2024-06", threshold=90)
    with pytest.raises(ValidationFailed, match="YYYY-MM"):
        queries.unit_report(session, "June")


def test_expense_sheet_rows_and_cost_per_km(session: Session, june: dict[str, object]) -> None:
    sheet = queries.expense_sheet(session, 2024)
    assert [r["order_no"] for r in sheet["orders"]] == ["O-1", "O-2", "O-3"]
    first = sheet["orders"][0]
    assert first == {
        "order_no": "O-1",
        "date": "2024-06-03",
        "vehicle": "晋M·T0001",
        "driver": "李四",
        "destination": "城关镇",
        "track_km": 60.0,
        "tolls": "35.00",
        "meal_allowance": "60.00",
        "fuel": "120.50",
        "other": "0.00",
        "total": "215.50",
    }
    by_plate = {v["vehicle"]: v for v in sheet["vehicles"]}
    assert by_plate["晋M·T0001"] == {
        "vehicle": "晋M·T0001",
        "unit": "甲镇",
        "orders": 1,
        "trips": 3,
        "km": 65.0,
        "cost_yuan": "215.50",
        "cost_per_km_yuan": "3.32",
    }
    assert by_plate["晋M·B0001"]["km"] == 85.0 and by_plate["晋M·B0001"]["trips"] == 5
    assert by_plate["晋M·B0002"]["cost_per_km_yuan"] == "0.00"
    assert queries.expense_sheet(session, 2023) == {"year": 2023, "orders": [], "vehicles": []}


def test_flag_rows_filters_and_status(session: Session, june: dict[str, object]) -> None:
    rows, total = queries.flag_rows(session)
    assert total == len(rows) == 4  # three unreported trips and one idle car
    assert {r["kind"] for r in rows} == {"unreported_trip", "idle_vehicle"}
    unreported, n = queries.flag_rows(session, queries.FlagFilter(kind="unreported_trip", unit="乙局"))
    assert n == 2 and all(r["plate"] == "晋M·B0001" and r["trip_km"] == 20.0 for r in unreported)
    flags.review_flag(session, unreported[0]["id"], "violation", "", "m")
    assert queries.flag_rows(session, queries.FlagFilter(status="violation"))[1] == 1
    assert queries.flag_rows(session, queries.FlagFilter(status="open"))[1] == 3
    assert (
        queries.flag_rows(
            session, queries.FlagFilter(date_from=date(2024, 6, 13), date_to=date(2024, 6, 13))
        )[1]
        == 1
    )
    page, n = queries.flag_rows(session, limit=1, offset=1)
    assert n == 4 and len(page) == 1
    with pytest.raises(ValidationFailed, match="可选"):
        queries.flag_rows(session, queries.FlagFilter(status="closed"))
    with pytest.raises(ValidationFailed, match="未知单位"):
        queries.flag_rows(session, queries.FlagFilter(unit="没有"))


def test_yuan_is_exact() -> None:
    assert queries.yuan(0) == "0.00"
    assert queries.yuan(1) == "0.01"
    assert queries.yuan(123456789012) == "1234567890.12"
