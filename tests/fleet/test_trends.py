"""Trends (issue 22): km, trips and running cost by month per unit and for the county, and each car's
utilisation — working days with a trip over the working days — on the State Council's calendar with its
调休 and the center's own days."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from accounts.access import UnitScope
from core.errors import ValidationFailed
from core.timeutil import china_day, utcnow
from fleet import queries, tags
from tests.factories import make_expense, make_order, make_trip, make_unit, make_vehicle

# October 2025: the 1st–8th are the National Day holiday, Saturday the 11th is worked instead (调休),
# Sunday the 12th is a rest day. So the 9th, 10th and 11th are the working days up to the 12th.
TODAY = date(2025, 10, 13)
API = "/api/v1"


def _china(day: int, hour: int, month: int = 10) -> datetime:
    return datetime(2025, month, day, hour - 8, 0, tzinfo=UTC)


@pytest.fixture
def county(session: Session) -> dict[str, object]:
    town, office = make_unit(session, name="甲镇", kind="township"), make_unit(session, name="乙局")
    busy, idle, other = (
        make_vehicle(session, town),
        make_vehicle(session, town),
        make_vehicle(session, office),
    )
    make_trip(session, busy, _china(3, 10), minutes=40)  # a holiday: a rest day used
    make_trip(session, busy, _china(11, 9), minutes=20)  # the 调休 Saturday: a working day used
    make_trip(session, busy, _china(11, 15), minutes=20)  # the same day again: still one day
    make_trip(session, other, _china(9, 9), minutes=60)
    make_trip(session, other, _china(5, 9, month=11), minutes=10)
    order = make_order(session, busy, planned_start_at=_china(10, 9))
    make_expense(session, order, tolls_fen=1250, fuel_fen=8000)
    late = make_order(session, other, planned_start_at=datetime(2025, 10, 31, 17, tzinfo=UTC))  # 11-01 China
    make_expense(session, late, other_fen=99)
    return {"town": town, "office": office, "busy": busy, "idle": idle, "other": other}


def test_km_trips_and_cost_by_month_per_unit_and_for_the_county(
    session: Session, county: dict[str, object]
) -> None:
    r = queries.trends(session, date(2025, 10, 1), date(2025, 11, 1), UnitScope(), TODAY)
    assert r["months"] == ["2025-10", "2025-11"]
    by_unit = {u["unit"]: u for u in r["units"]}
    town = {m["month"]: m for m in by_unit["甲镇"]["months"]}
    assert town["2025-10"] == {"month": "2025-10", "trips": 3, "km": 40.0, "cost_yuan": "92.50"}
    assert town["2025-11"] == {"month": "2025-11", "trips": 0, "km": 0.0, "cost_yuan": "0.00"}
    office = {m["month"]: m for m in by_unit["乙局"]["months"]}
    assert office["2025-10"]["km"] == 30.0 and office["2025-10"]["cost_yuan"] == "0.00"
    assert office["2025-11"] == {"month": "2025-11", "trips": 1, "km": 5.0, "cost_yuan": "0.99"}, (
        "China month"
    )
    county_months = {m["month"]: m for m in r["county"]}
    assert county_months["2025-10"] == {"month": "2025-10", "trips": 4, "km": 70.0, "cost_yuan": "92.50"}
    assert by_unit["甲镇"]["km"] == 40.0 and by_unit["甲镇"]["cost_yuan"] == "92.50"


def test_utilisation_counts_working_days_with_the_calendar_and_the_centers_own_days(
    session: Session, county: dict[str, object]
) -> None:
    r = queries.trends(session, date(2025, 10, 1), date(2025, 10, 1), UnitScope(), TODAY)
    assert r["working_days"] == 3 and r["counted_to"] == "2025-10-12"
    assert r["counted_from"] == "2025-10-03", "from the first trip gongwu holds, not before it"
    cars = {v["vehicle"]: v for v in r["vehicles"]}
    busy = cars[county["busy"].plate]  # type: ignore[attr-defined]
    assert (busy["working_days_used"], busy["rest_days_used"]) == (1, 1)
    assert busy["utilisation"] == pytest.approx(1 / 3)
    assert cars[county["idle"].plate]["utilisation"] == 0  # type: ignore[attr-defined]
    assert cars[county["other"].plate]["working_days_used"] == 1  # type: ignore[attr-defined]
    # the center makes the 10th a rest day of its own: two working days left, the busy car's share grows
    tags.set_day(session, date(2025, 10, 10), True, "停电", actor="test")
    again = queries.trends(session, date(2025, 10, 1), date(2025, 10, 1), UnitScope(), TODAY)
    assert again["working_days"] == 2
    assert {v["vehicle"]: v for v in again["vehicles"]}[county["busy"].plate]["utilisation"] == 0.5  # type: ignore[attr-defined]


def test_a_units_staff_see_their_unit_and_months_to_come_have_no_working_days(
    session: Session, county: dict[str, object]
) -> None:
    office = county["office"]
    r = queries.trends(session, date(2025, 10, 1), date(2025, 11, 1), UnitScope(office.id), TODAY)  # type: ignore[attr-defined]
    assert [u["unit"] for u in r["units"]] == ["乙局"]
    assert [v["vehicle"] for v in r["vehicles"]] == [county["other"].plate]  # type: ignore[attr-defined]
    assert [m["km"] for m in r["county"]] == [30.0, 5.0], "the county row is what the scope sees"
    ahead = queries.trends(session, date(2025, 12, 1), date(2025, 12, 1), UnitScope(), TODAY)
    assert ahead["working_days"] == 0 and ahead["counted_to"] is None
    assert all(v["utilisation"] is None for v in ahead["vehicles"])


def test_a_period_is_one_to_thirty_six_months(session: Session) -> None:
    with pytest.raises(ValidationFailed):
        queries.trends(session, date(2025, 10, 1), date(2025, 9, 1), UnitScope(), TODAY)
    with pytest.raises(ValidationFailed):
        queries.trends(session, date(2020, 1, 1), date(2025, 1, 1), UnitScope(), TODAY)


def test_the_api_answers_the_same(session: Session, county: dict[str, object], client: TestClient) -> None:
    r = client.get(f"{API}/reports/trends", params={"from": "2025-10", "to": "2025-11"})
    assert r.status_code == 200, r.text
    body = r.json()
    direct = queries.trends(session, date(2025, 10, 1), date(2025, 11, 1), UnitScope(), china_day(utcnow()))
    assert body["county"] == direct["county"] and body["units"] == direct["units"]
    assert {"working_days", "counted_to", "vehicles"} <= set(body)
    bad = client.get(f"{API}/reports/trends", params={"from": "2025-13", "to": "2025-11"})
    assert bad.status_code == 422 and "2025-13" in bad.text
