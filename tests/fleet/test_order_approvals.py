"""Orders requested in gongwu and approved by level (#19, second part): unit staff request for their unit,
the unit's approver decides level 1, the center level 2 when the order leaves the county, falls on a
rest day or spans a night; only then does it cover its trips. Wrong deciders are refused and change
nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlmodel import Session, select

from core.timeutil import CHINA
from fleet import reconcile, rules
from fleet.models import Flag, Trip
from tests.conftest import ClientAs
from tests.factories import make_trip, make_unit, make_vehicle

API = "/api/v1"


def cn(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 6, day, hour, minute, tzinfo=CHINA)


def test_what_calls_for_the_center() -> None:
    tuesday = (cn(4, 8), cn(4, 17))
    assert rules.center_reasons(False, *tuesday) == []
    assert rules.center_reasons(True, *tuesday) == ["out_of_county"]
    assert rules.center_reasons(False, cn(8, 9), cn(8, 12)) == ["rest_day"]  # a Saturday
    assert rules.center_reasons(False, cn(4, 20), cn(5, 7)) == ["overnight"]
    assert rules.center_reasons(True, cn(4, 20), cn(5, 7), needs=["rest_day"]) == []
    # China days, not UTC ones: 07:00 in Beijing is 23:00 UTC the day before
    assert rules.center_reasons(False, cn(4, 7), cn(4, 9)) == []
    assert rules.levels_needed([]) == (1,) and rules.levels_needed(["overnight"]) == (1, 2)
    assert rules.next_level((1, 2), [1]) == 2 and rules.next_level((1,), [1]) is None
    assert rules.awaiting("submitted", 2) == "center" and rules.awaiting("approved", None) == "dispatch"
    assert rules.awaiting("returned", None) is None


def test_a_request_through_both_levels_covers_its_trip(client_as: ClientAs, session: Session) -> None:
    town, other = make_unit(session, name="城关镇"), make_unit(session, name="东郭镇")
    car = make_vehicle(session, town, plate="晋M·A0001", tracker_id="T1")
    make_vehicle(session, other, plate="晋M·B0001", tracker_id="T2")
    make_trip(session, car, cn(4, 9).astimezone(UTC), 60)
    reconcile.reconcile_day(session, date(2024, 6, 4))  # the night before the request: a flagged trip
    staff = client_as("unit_staff", unit_id=town.id)
    approver = client_as("unit_approver", unit_id=town.id)
    stranger = client_as("unit_approver", unit_id=other.id)
    manager = client_as("vehicle_manager")
    request = {
        "order_no": "SQ-1", "vehicle_id": car.id, "purpose": "下乡检查", "destination": "外县",
        "planned_start_at": "2024-06-04T08:30:00", "planned_end_at": "2024-06-04T12:00:00",
        "out_of_county": True, "passengers": 2,
    }  # fmt: skip
    made = staff.post(f"{API}/orders", json=request)
    assert made.status_code == 201, made.text
    order = made.json()
    assert order["status"] == "submitted" and order["awaiting"] == "unit" and order["out_of_county"]
    assert order["requested_by"].startswith("t_unit_staff")
    # another unit's approver does not see it; the center cannot take level 1
    assert stranger.post(f"{API}/orders/{order['id']}/approve", json={}).status_code == 404
    refused = manager.post(f"{API}/orders/{order['id']}/approve", json={})
    assert refused.status_code == 403 and "一级审批" in refused.json()["detail"]
    one = approver.post(f"{API}/orders/{order['id']}/approve", json={"comment": "同意"}).json()
    assert one["status"] == "submitted" and one["awaiting"] == "center"  # out of the county: the center too
    again = approver.post(f"{API}/orders/{order['id']}/approve", json={})
    assert again.status_code == 403 and "二级审批" in again.json()["detail"]
    flag = session.exec(select(Flag).where(Flag.kind == "unreported_trip")).one()
    assert flag.state == "open"  # a request covers nothing until it is approved
    two = manager.post(f"{API}/orders/{order['id']}/approve", json={"comment": "出县已备案"}).json()
    assert two["status"] == "approved" and two["awaiting"] == "dispatch"
    assert [(a["level"], a["decision"]) for a in two["approvals"]] == [(1, "approved"), (2, "approved")]
    assert manager.post(f"{API}/orders/{order['id']}/approve", json={}).status_code == 409
    history = staff.get(f"{API}/orders/{order['id']}/history").json()
    assert [e["action"] for e in history["events"]] == ["order.create", "order.approve", "order.approve"]
    session.refresh(flag)
    assert flag.state == "resolved"  # approved: it covers its trip at once
    trip = session.exec(select(Trip).where(Trip.vehicle_id == car.id)).one()
    assert trip.order_id == order["id"]


def test_refusals_change_nothing(client_as: ClientAs, session: Session) -> None:
    town, other = make_unit(session, name="城关镇"), make_unit(session, name="东郭镇")
    car = make_vehicle(session, town, plate="晋M·A0001", tracker_id="T1")
    theirs = make_vehicle(session, other, plate="晋M·B0001", tracker_id="T2")
    staff = client_as("unit_staff", unit_id=town.id)
    approver = client_as("unit_approver", unit_id=town.id)
    window = {"planned_start_at": "2024-06-04T08:30:00", "planned_end_at": "2024-06-04T12:00:00"}
    paper = staff.post(
        f"{API}/orders", json={"order_no": "P-1", "vehicle_id": car.id, "status": "approved", **window}
    )
    assert paper.status_code == 403 and "机关事务服务中心" in paper.json()["detail"]
    assert (
        staff.post(f"{API}/orders", json={"order_no": "P-2", "vehicle_id": theirs.id, **window}).status_code
        == 404
    )
    viewer = client_as("unit_viewer", unit_id=town.id)
    assert (
        viewer.post(f"{API}/orders", json={"order_no": "P-3", "vehicle_id": car.id, **window}).status_code
        == 403
    )
    order = staff.post(f"{API}/orders", json={"order_no": "P-4", "vehicle_id": car.id, **window}).json()
    assert (
        staff.post(f"{API}/orders/{order['id']}/approve", json={}).status_code == 403
    )  # staff don't approve
    rejected = approver.post(f"{API}/orders/{order['id']}/reject", json={"comment": "无公务事由"}).json()
    assert rejected["status"] == "rejected" and rejected["approvals"][0]["comment"] == "无公务事由"
    late = approver.post(f"{API}/orders/{order['id']}/approve", json={})
    assert late.status_code == 409 and "不在待审批状态" in late.json()["detail"]
    listed = staff.get(f"{API}/orders").json()["data"]
    assert [(o["order_no"], o["status"]) for o in listed] == [("P-4", "rejected")]
