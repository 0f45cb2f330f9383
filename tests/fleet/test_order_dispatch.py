"""Dispatch and return (#19, third part): the center sends an approved order out with a car and a driver,
refused when either is out on an overlapping order or the car is pending disposal; the return records
the actual time, the odometer's km and the expenses, which fill the order's expense sheet; a return
before dispatch is refused. Refusals change nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlmodel import Session, select

from core.timeutil import CHINA
from fleet import reconcile
from fleet.models import Driver, Flag, TripOrder
from tests.conftest import ClientAs
from tests.factories import make_trip, make_unit, make_vehicle

API = "/api/v1"
WINDOW = {"planned_start_at": "2024-06-04T08:30:00", "planned_end_at": "2024-06-04T12:00:00"}


def test_request_approve_dispatch_return(client_as: ClientAs, session: Session) -> None:
    town = make_unit(session, name="城关镇")
    car = make_vehicle(session, town, plate="晋M·A0001", tracker_id="T1")
    spare = make_vehicle(session, town, plate="晋M·A0002", tracker_id="T2")
    manager, staff = client_as("vehicle_manager"), client_as("unit_staff", unit_id=town.id)
    approver = client_as("unit_approver", unit_id=town.id)
    li = manager.post(f"{API}/drivers", json={"name": "李四", "unit_id": town.id}).json()
    wang = manager.post(f"{API}/drivers", json={"name": "王五", "unit_id": town.id}).json()
    first = staff.post(f"{API}/orders", json={"order_no": "D-1", "vehicle_id": car.id, **WINDOW}).json()
    early = manager.post(f"{API}/orders/{first['id']}/dispatch", json={"driver_id": li["id"]})
    assert early.status_code == 409 and "尚未批准" in early.json()["detail"]  # not approved yet
    approver.post(f"{API}/orders/{first['id']}/approve", json={})
    back_early = manager.post(f"{API}/orders/{first['id']}/return", json={"returned_at": "2024-06-04T12:00"})
    assert back_early.status_code == 409 and "未派车" in back_early.json()["detail"]
    out = manager.post(f"{API}/orders/{first['id']}/dispatch", json={"driver_id": li["id"]})
    assert out.status_code == 200, out.text
    assert out.json()["status"] == "dispatched" and out.json()["driver_id"] == li["id"]
    assert out.json()["driver"] == "李四"
    # a second order in the same hours: neither the car nor 李四 can go out on it
    second = manager.post(
        f"{API}/orders", json={"order_no": "D-2", "vehicle_id": car.id, "status": "approved", **WINDOW}
    ).json()
    busy_car = manager.post(f"{API}/orders/{second['id']}/dispatch", json={"driver_id": wang["id"]})
    assert busy_car.status_code == 409 and "D-1" in busy_car.json()["detail"]
    busy_driver = manager.post(
        f"{API}/orders/{second['id']}/dispatch", json={"driver_id": li["id"], "vehicle_id": spare.id}
    )
    assert busy_driver.status_code == 409 and "李四" in busy_driver.json()["detail"]
    order = session.get(TripOrder, second["id"])
    assert order is not None and order.status == "approved" and order.driver_id is None  # unchanged
    ok = manager.post(
        f"{API}/orders/{second['id']}/dispatch", json={"driver_id": wang["id"], "vehicle_id": spare.id}
    )
    assert ok.status_code == 200 and ok.json()["vehicle_id"] == spare.id
    # the return: time, km, expenses on the sheet
    back = {"returned_at": "2024-06-04T12:20:00", "odometer_km": 86, "tolls_fen": 3500, "fuel_fen": 12050}
    returned = manager.post(f"{API}/orders/{first['id']}/return", json={**back, "meal_allowance_fen": 6000})
    assert returned.status_code == 200, returned.text
    body = returned.json()
    assert body["status"] == "returned" and body["odometer_km"] == 86
    assert body["returned_at"].startswith("2024-06-04T04:20:00")  # 12:20 China time, stored UTC
    sheet = manager.get(f"{API}/orders/{first['id']}/expense").json()
    assert (sheet["tolls_fen"], sheet["fuel_fen"], sheet["meal_allowance_fen"]) == (3500, 12050, 6000)
    actions = [e["action"] for e in manager.get(f"{API}/orders/{first['id']}/history").json()["events"]]
    assert actions[-2:] == ["order.return", "expense.create"] and "order.dispatch" in actions
    # unit staff do not dispatch
    assert staff.post(f"{API}/orders/{second['id']}/return", json=back).status_code == 403
    # the night after: the returned order covers the car's trip
    trip = make_trip(session, car, datetime(2024, 6, 4, 9, 0, tzinfo=CHINA).astimezone(UTC), 90)
    reconcile.reconcile_day(session, date(2024, 6, 4))
    session.refresh(trip)
    assert trip.order_id == first["id"]
    assert session.exec(select(Flag).where(Flag.kind == "unreported_trip")).all() == []


def test_a_car_pending_disposal_is_not_sent_out(client_as: ClientAs, session: Session) -> None:
    town = make_unit(session, name="城关镇")
    car = make_vehicle(session, town, plate="晋M·A0009", tracker_id="T9", status="disposal_pending")
    driver = Driver(name="赵六", unit_id=town.id or 0)
    session.add(driver)
    session.flush()
    manager = client_as("vehicle_manager")
    order = manager.post(
        f"{API}/orders", json={"order_no": "D-9", "vehicle_id": car.id, "status": "approved", **WINDOW}
    ).json()
    r = manager.post(f"{API}/orders/{order['id']}/dispatch", json={"driver_id": driver.id})
    assert r.status_code == 409 and "待处置" in r.json()["detail"]


def test_free_cars_for_a_window_with_their_reasons(client_as: ClientAs, session: Session) -> None:
    from datetime import timedelta

    from core.timeutil import utcnow
    from tests.factories import make_fixes

    center, town, other = (
        make_unit(session, name="县机关事务服务中心"),
        make_unit(session, name="城关镇"),
        make_unit(session, name="东郭镇"),
    )
    own_silent = make_vehicle(session, town, plate="晋M·T0001", tracker_id="S1")
    own_fresh = make_vehicle(session, town, plate="晋M·T0002", tracker_id="S2")
    pool = make_vehicle(session, center, plate="晋M·C0001", tracker_id="S3")
    make_vehicle(session, other, plate="晋M·X0001", tracker_id="S4")  # another unit's: not offered
    make_vehicle(session, town, plate="晋M·T0009", tracker_id="S9", status="disposal_pending")
    busy = make_vehicle(session, center, plate="晋M·C0002", tracker_id="S5")
    make_fixes(session, "S2", [utcnow() - timedelta(hours=2)])
    make_fixes(session, "S1", [utcnow() - timedelta(days=3)])
    manager = client_as("vehicle_manager")
    manager.post(
        f"{API}/orders", json={"order_no": "B-1", "vehicle_id": busy.id, "status": "approved", **WINDOW}
    )
    params = {"from": "2024-06-04T09:00:00", "to": "2024-06-04T10:00:00", "unit_id": town.id}
    free = manager.get(f"{API}/vehicles/available", params=params)
    assert free.status_code == 200, free.text
    got = [(r["vehicle"]["plate"], r["reasons"]) for r in free.json()]
    assert got == [
        (own_fresh.plate, ["own_unit", "tracker_fresh"]),
        (own_silent.plate, ["own_unit", "tracker_silent"]),
        (pool.plate, ["center_pool", "tracker_silent"]),
    ]
    # the busy pool car is free again after its order's window
    later = manager.get(
        f"{API}/vehicles/available",
        params={**params, "from": "2024-06-04T13:00:00", "to": "2024-06-04T14:00:00"},
    )
    assert busy.plate in [r["vehicle"]["plate"] for r in later.json()]
    backwards = manager.get(f"{API}/vehicles/available", params={**params, "to": "2024-06-04T08:00:00"})
    assert backwards.status_code == 422
    # unit staff see their unit's own cars only
    staff = client_as("unit_staff", unit_id=town.id)
    mine = [r["vehicle"]["plate"] for r in staff.get(f"{API}/vehicles/available", params=params).json()]
    assert mine == [own_fresh.plate, own_silent.plate]
