"""The whole order life through the API (#19): a unit asks for a car it does not name, its approver and
the center approve, the center dispatches, the driver (signed in as a driver) returns with the expenses,
and the night covers the trip; an unreported trip is answered by the unit with a late order (补报) that
resolves the flag as `late_order` and shows as late in the unit report and the bulletin. Each refusal
says why and changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from accounts.models import User
from core.models import AuditLog
from core.timeutil import CHINA
from fleet import queries, reconcile
from fleet.models import Driver, Flag, FlagReply, TripOrder
from tests.conftest import ClientAs
from tests.factories import make_trip, make_unit, make_vehicle

API = "/api/v1"


def cn(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 6, day, hour, minute, tzinfo=CHINA).astimezone(UTC)


def _driver_client(client_as: ClientAs, session: Session, driver: Driver, unit_id: int) -> TestClient:
    """A driver's account linked to `driver`."""
    c = client_as("driver", unit_id=unit_id)
    user = session.exec(select(User).where(User.username == c.get(f"{API}/me").json()["username"])).one()
    driver.user_id = user.id
    session.add(driver)
    session.flush()
    return c


def _order_row(session: Session, order_id: int) -> tuple[str, int | None, int | None]:
    order = session.get(TripOrder, order_id)
    assert order is not None
    session.refresh(order)
    return order.status, order.vehicle_id, order.driver_id


def test_a_request_without_a_car_goes_through_both_levels_dispatch_and_return(
    client_as: ClientAs, session: Session
) -> None:
    center, town, other = (
        make_unit(session, name="县机关事务服务中心"),
        make_unit(session, name="城关镇"),
        make_unit(session, name="东郭镇"),
    )
    pool = make_vehicle(session, center, plate="晋M·C0001", tracker_id="C1")
    li, wang = Driver(name="李四", unit_id=center.id or 0), Driver(name="王五", unit_id=center.id or 0)
    session.add_all([li, wang])
    session.flush()
    staff, approver = client_as("unit_staff", unit_id=town.id), client_as("unit_approver", unit_id=town.id)
    stranger = client_as("unit_approver", unit_id=other.id)
    manager = client_as("vehicle_manager")
    li_app, wang_app = (
        _driver_client(client_as, session, li, center.id or 0),
        _driver_client(client_as, session, wang, center.id or 0),
    )

    # a unit names its own drivers or the center's, never another unit's
    theirs = Driver(name="赵六", unit_id=other.id or 0)
    session.add(theirs)
    session.flush()
    window = {"planned_start_at": "2024-06-05T08:00:00", "planned_end_at": "2024-06-05T09:00:00"}
    poached = staff.post(f"{API}/orders", json={"purpose": "x", "driver_id": theirs.id, **window})
    assert poached.status_code == 422 and "中心的驾驶员" in poached.json()["detail"]
    assert staff.post(f"{API}/orders", json={"purpose": "x", "driver_id": li.id, **window}).status_code == 201

    # 出县 on a Tuesday: the unit's approver, then the center
    asked = staff.post(
        f"{API}/orders",
        json={
            "purpose": "赴市里开会", "destination": "市政府", "passengers": 3, "out_of_county": True,
            "planned_start_at": "2024-06-04T08:00:00", "planned_end_at": "2024-06-04T17:00:00",
        },
    )  # fmt: skip
    assert asked.status_code == 201, asked.text
    order = asked.json()
    oid = order["id"]
    assert order["order_no"] == "GW20240604-001" and order["vehicle_id"] is None
    assert order["unit_id"] == town.id and order["awaiting"] == "unit" and order["late_for_flag_id"] is None

    refused = stranger.post(f"{API}/orders/{oid}/approve", json={"comment": "同意"})
    assert refused.status_code == 404  # another unit's order does not exist for its approver
    assert _order_row(session, oid) == ("submitted", None, None)
    one = approver.post(f"{API}/orders/{oid}/approve", json={"comment": "同意"}).json()
    assert one["status"] == "submitted" and one["awaiting"] == "center"
    too_early = manager.post(f"{API}/orders/{oid}/dispatch", json={"vehicle_id": pool.id, "driver_id": li.id})
    assert too_early.status_code == 409 and _order_row(session, oid) == ("submitted", None, None)
    two = manager.post(f"{API}/orders/{oid}/approve", json={"comment": "出县已核"}).json()
    assert two["status"] == "approved" and two["awaiting"] == "dispatch"
    assert [(a["level"], a["decision"]) for a in two["approvals"]] == [(1, "approved"), (2, "approved")]

    # approved without a car: it covers nothing yet, and dispatch needs a car
    no_car = manager.post(f"{API}/orders/{oid}/dispatch", json={"driver_id": li.id})
    assert no_car.status_code == 422 and "车辆" in no_car.json()["detail"]
    free = manager.get(
        f"{API}/vehicles/available",
        params={"from": "2024-06-04T08:00:00", "to": "2024-06-04T17:00:00", "unit_id": town.id},
    ).json()
    assert [r["vehicle"]["plate"] for r in free] == [pool.plate]
    sent = manager.post(f"{API}/orders/{oid}/dispatch", json={"vehicle_id": pool.id, "driver_id": li.id})
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "dispatched" and sent.json()["awaiting"] is None

    # the driver the order did not go to cannot return it; the one it went to can
    back = {"returned_at": "2024-06-04T17:30:00", "odometer_km": 150, "tolls_fen": 4000, "fuel_fen": 15000}
    wrong = wang_app.post(f"{API}/orders/{oid}/return", json=back)
    assert wrong.status_code == 403 and "未派给您" in wrong.json()["detail"]
    assert _order_row(session, oid) == ("dispatched", pool.id, li.id)
    done = li_app.post(f"{API}/orders/{oid}/return", json={**back, "meal_allowance_fen": 6000})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "returned" and done.json()["odometer_km"] == 150
    sheet = manager.get(f"{API}/orders/{oid}/expense").json()
    assert (sheet["tolls_fen"], sheet["fuel_fen"], sheet["meal_allowance_fen"], sheet["total_yuan"]) == (
        4000, 15000, 6000, "250.00",
    )  # fmt: skip
    actors = {e["action"]: e["actor"] for e in manager.get(f"{API}/orders/{oid}/history").json()["events"]}
    assert actors["order.return"].startswith("t_driver") and actors["order.dispatch"].startswith("t_vehicle")

    # the night: the pool car's trip that day is covered
    trip = make_trip(session, pool, cn(4, 8, 20), 240)
    reconcile.reconcile_day(session, date(2024, 6, 4))
    session.refresh(trip)
    assert trip.order_id == oid
    assert session.exec(select(Flag).where(Flag.kind == "unreported_trip")).all() == []


def test_an_unreported_trip_answered_with_a_late_order(client_as: ClientAs, session: Session) -> None:
    town, other = make_unit(session, name="城关镇", kind="township"), make_unit(session, name="东郭镇")
    car = make_vehicle(session, town, plate="晋M·A0001", tracker_id="T1")
    on_time = make_trip(session, car, cn(3, 9), 60)
    late = make_trip(session, car, cn(5, 14), 60)  # a Wednesday afternoon
    manager = client_as("vehicle_manager")
    manager.post(
        f"{API}/orders",
        json={"order_no": "OK-1", "vehicle_id": car.id, "status": "approved",
              "planned_start_at": "2024-06-03T08:30:00", "planned_end_at": "2024-06-03T11:00:00"},
    )  # fmt: skip
    for d in (3, 5):
        reconcile.reconcile_day(session, date(2024, 6, d))
    flag = session.exec(select(Flag).where(Flag.kind == "unreported_trip")).one()
    assert flag.trip_id == late.id and flag.state == "open"
    staff, approver = client_as("unit_staff", unit_id=town.id), client_as("unit_approver", unit_id=town.id)

    # refusals: another unit's staff, a reply with nothing in it, a viewer
    assert (
        client_as("unit_staff", unit_id=other.id)
        .post(f"{API}/flags/{flag.id}/replies", json={"text": "不是我们"})
        .status_code
        == 404
    )
    empty = staff.post(f"{API}/flags/{flag.id}/replies", json={"text": "  "})
    assert empty.status_code == 422 and "情况说明" in empty.json()["detail"]
    viewer = client_as("unit_viewer", unit_id=town.id)
    assert viewer.post(f"{API}/flags/{flag.id}/replies", json={"text": "x"}).status_code == 403
    assert session.exec(select(FlagReply)).all() == []

    reply = staff.post(
        f"{API}/flags/{flag.id}/replies",
        json={
            "text": "下乡检查防汛，忘记申请",
            "late_order": {"purpose": "防汛检查", "destination": "东坡村"},
        },
    )
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["text"] == "下乡检查防汛，忘记申请" and body["order_status"] == "submitted"
    order = session.get(TripOrder, body["order_id"])
    assert order is not None and order.late_for_flag_id == flag.id and order.vehicle_id == car.id
    assert (order.planned_start_at, order.planned_end_at) == (late.start_at, late.end_at)
    again = staff.post(f"{API}/flags/{flag.id}/replies", json={"late_order": {"purpose": "再报一次"}})
    assert again.status_code == 409 and body["order_no"] in again.json()["detail"]

    session.refresh(flag)
    assert flag.state == "open"  # a late order covers nothing until approved
    approved = approver.post(f"{API}/orders/{order.id}/approve", json={}).json()
    assert approved["status"] == "approved" and approved["late_for_flag_id"] == flag.id
    assert approved["awaiting"] is None  # a late order is for a trip made already: nothing to dispatch
    session.refresh(flag)
    assert (flag.state, flag.resolved_reason, flag.order_id) == ("resolved", "late_order", order.id)
    resolved = staff.post(f"{API}/flags/{flag.id}/replies", json={"late_order": {"purpose": "再报"}})
    assert resolved.status_code == 409 and "已消除" in resolved.json()["detail"]
    # the manager may still review it, and the review is kept through a re-run of the night
    manager.post(f"{API}/flags/{flag.id}/review", json={"status": "explained", "comment": "已补报"})
    reconcile.reconcile_day(session, date(2024, 6, 5))
    session.refresh(flag)
    assert (flag.resolved_reason, flag.review_status) == ("late_order", "explained")

    detail = manager.get(f"{API}/flags/{flag.id}").json()
    assert [(r["text"], r["order_no"], r["order_status"]) for r in detail["replies"]] == [
        ("下乡检查防汛，忘记申请", order.order_no, "approved")
    ]
    assert (
        session.exec(select(AuditLog).where(AuditLog.action == "flag.reply"))
        .one()
        .actor.startswith("t_unit_staff")
    )

    row = next(u for u in queries.unit_report(session, "2024-06")["units"] if u["unit"] == "城关镇")
    assert (row["trips"], row["covered_trips"], row["late_reported_trips"], row["unreported_trips"]) == (
        2, 1, 1, 0,
    )  # fmt: skip
    assert row["reporting_rate"] == 0.5  # on-time coverage only
    assert on_time.order_id is not None
    bulletin = manager.get(f"{API}/reports/bulletin", params={"month": "2024-06", "threshold": 0.9}).json()
    assert [(u["unit"], u["late_reported_trips"]) for u in bulletin["units"]] == [("城关镇", 1)]


def test_two_requests_numbered_at_the_same_moment_both_land(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request numbered while another took the same number (a stale look at the day's numbers) takes
    the next one instead of failing; a number given twice is a clear conflict."""
    from core.errors import Conflict
    from fleet import service

    town = make_unit(session, name="城关镇")
    first = service.create_order(
        session, unit_id=town.id, planned_start_at=cn(4, 8), planned_end_at=cn(4, 9), actor="t"
    )
    assert first.order_no == "GW20240604-001"
    real = service._new_order_no
    stale = iter(["GW20240604-001"])  # what the other request's look saw
    monkeypatch.setattr(service, "_new_order_no", lambda s, start: next(stale, None) or real(s, start))
    second = service.create_order(
        session, unit_id=town.id, planned_start_at=cn(4, 10), planned_end_at=cn(4, 11), actor="t"
    )
    assert second.order_no == "GW20240604-002"
    with pytest.raises(Conflict, match="GW20240604-002"):
        service.create_order(
            session, order_no="GW20240604-002", unit_id=town.id, planned_start_at=cn(4, 10),
            planned_end_at=cn(4, 11), actor="t",
        )  # fmt: skip
