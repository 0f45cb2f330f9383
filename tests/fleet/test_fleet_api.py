"""The fleet API: flag queue, detail, review, orders, expenses, disposal and reports."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from core.models import AuditLog
from core.timeutil import CHINA
from fleet import reconcile
from fleet.models import Flag, TripOrder, Vehicle
from tests.factories import make_order, make_trip, make_unit, parked_cars

API = "/api/v1"


def cn(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2024, 6, day, hour, minute, tzinfo=CHINA).astimezone(UTC)


@pytest.fixture
def world(session: Session) -> dict[str, Vehicle]:
    unit = make_unit(session, name="丁镇", kind="township")
    a, b = parked_cars(session, [(unit, "晋M·P0001", "P1"), (unit, "晋M·P0002", "P2")], cn(1), 3, 8 * 10)
    make_order(session, a, order_no="Q-1", planned_start_at=cn(3, 8), planned_end_at=cn(3, 12))
    make_trip(session, a, cn(3, 9), 60)
    make_trip(session, b, cn(3, 10), 30)  # no order
    make_order(session, b, order_no="Q-2", planned_start_at=cn(3, 15), planned_end_at=cn(3, 16))  # no trip
    reconcile.reconcile_day(session, date(2024, 6, 3), rules=reconcile.Rules())
    return {"a": a, "b": b}


def test_flag_list_filters_pagination_and_detail(client: TestClient, world: dict[str, Vehicle]) -> None:
    r = client.get(f"{API}/flags")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 2
    kinds = {f["kind"]: f for f in body["data"]}
    assert set(kinds) == {"unreported_trip", "order_without_track"}
    trip_flag = kinds["unreported_trip"]
    assert trip_flag["plate"] == "晋M·P0002" and trip_flag["unit"] == "丁镇"
    assert trip_flag["trip_km"] == 15.0 and trip_flag["status"] == "open"
    assert kinds["order_without_track"]["order_no"] == "Q-2"

    assert client.get(f"{API}/flags", params={"kind": "unreported_trip"}).json()["count"] == 1
    assert client.get(f"{API}/flags", params={"unit": "丁镇", "limit": 1}).json()["count"] == 2
    assert len(client.get(f"{API}/flags", params={"limit": 1, "offset": 1}).json()["data"]) == 1
    assert client.get(f"{API}/flags", params={"from": "2024-06-04"}).json()["count"] == 0
    assert client.get(f"{API}/flags", params={"to": "2024-06-03", "state": "open"}).json()["count"] == 2
    assert client.get(f"{API}/flags", params={"vehicle_id": world["a"].id}).json()["count"] == 0
    bad = client.get(f"{API}/flags", params={"status": "closed"})
    assert bad.status_code == 422 and "可选" in bad.json()["detail"]

    detail = client.get(f"{API}/flags/{trip_flag['id']}").json()
    assert detail["vehicle"]["plate"] == "晋M·P0002"
    assert detail["trip"]["distance_m"] == 15000.0
    assert [o["order_no"] for o in detail["nearby_orders"]] == ["Q-2"]
    # its history starts with its raising by the nightly run
    assert [(h["action"], h["actor"]) for h in detail["history"]] == [("flag.raise", "system")]
    assert client.get(f"{API}/flags/999999").status_code == 404


def test_review_endpoints(client: TestClient, session: Session, world: dict[str, Vehicle]) -> None:
    ids = [f.id for f in session.exec(select(Flag)).all()]
    r = client.post(f"{API}/flags/{ids[0]}/review", json={"status": "explained", "comment": "急事"})
    assert r.status_code == 200, r.text
    assert r.json()["review_status"] == "explained" and r.json()["reviewed_by"] == "test_admin"
    detail = client.get(f"{API}/flags/{ids[0]}").json()
    assert detail["status"] == "explained"
    assert [h["action"] for h in detail["history"]] == ["flag.raise", "flag.review"]

    r = client.post(f"{API}/flags/{ids[0]}/review", json={"status": "ok"})
    assert r.status_code == 422
    assert "未知的审核结论 'ok'" in r.json()["detail"] and "false_alarm" in r.json()["detail"]
    r = client.post(f"{API}/flags/777777/review", json={"status": "violation"})
    assert r.status_code == 404 and "777777" in r.json()["detail"]

    r = client.post(f"{API}/flags/review", json={"ids": ids, "status": "violation", "comment": "批量"})
    assert r.status_code == 200 and {f["review_status"] for f in r.json()} == {"violation"}
    r = client.post(f"{API}/flags/review", json={"ids": [*ids, 888888], "status": "explained"})
    assert r.status_code == 404
    assert client.get(f"{API}/flags", params={"status": "violation"}).json()["count"] == 2


def test_orders_create_update_cancel_and_late_order(
    client: TestClient, session: Session, world: dict[str, Vehicle]
) -> None:
    b = world["b"]
    # A late paper order (补单) the center registers as approved resolves the trip's flag at once.
    window = {"planned_start_at": "2024-06-03T09:45:00+08:00", "planned_end_at": "2024-06-03T11:00:00"}
    paper = {"order_no": "BD-1", "vehicle_id": b.id, **window, "driver": "周七", "destination": "南山村"}
    r = client.post(f"{API}/orders", json={**paper, "status": "approved"})
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["unit_id"] == b.unit_id and order["planned_end_at"].startswith("2024-06-03T03:00:00")
    flag = session.exec(select(Flag).where(Flag.kind == "unreported_trip")).one()
    session.refresh(flag)
    assert flag.state == "resolved"

    again = {"order_no": "BD-1", "vehicle_id": b.id, **window}
    assert client.post(f"{API}/orders", json=again).status_code == 409
    # what a GET answers is no body to post back: its read-only fields are refused by name
    echoed = client.post(f"{API}/orders", json={**order, "order_no": "BD-2"})
    assert echoed.status_code == 422 and "extra_forbidden" in echoed.text
    backwards = {"planned_start_at": "2024-06-03T12:00+08:00", "planned_end_at": "2024-06-03T11:00+08:00"}
    r = client.post(f"{API}/orders", json={"order_no": "BD-2", "vehicle_id": b.id, **backwards})
    assert r.status_code == 422 and "早于" in r.json()["detail"]

    r = client.patch(f"{API}/orders/{order['id']}", json={"driver": "吴八"})
    assert r.status_code == 200 and r.json()["driver"] == "吴八"
    r = client.post(f"{API}/orders/{order['id']}/cancel", json={"reason": "填错"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    session.refresh(flag)
    assert flag.state == "open"  # the cancelled order covers nothing: the same flag is back
    assert client.post(f"{API}/orders/424242/cancel").status_code == 404
    actions = session.exec(select(AuditLog.action).where(AuditLog.entity == "fleet_order")).all()
    assert sorted(actions) == ["order.cancel", "order.create", "order.update"]


def test_expense_endpoints(client: TestClient, session: Session, world: dict[str, Vehicle]) -> None:
    order = session.exec(select(TripOrder).where(TripOrder.order_no == "Q-1")).one()
    assert client.get(f"{API}/orders/{order.id}/expense").status_code == 404
    r = client.put(f"{API}/orders/{order.id}/expense", json={"tolls_fen": 3500, "fuel_fen": 12050})
    assert r.status_code == 200, r.text
    assert r.json()["total_yuan"] == "155.50"
    r = client.put(f"{API}/orders/{order.id}/expense", json={"other_fen": 1})
    assert r.json()["total_yuan"] == "155.51" and r.json()["tolls_fen"] == 3500
    assert client.put(f"{API}/orders/{order.id}/expense", json={"tolls_fen": -1}).status_code == 422


def test_propose_disposal_endpoint(client: TestClient, session: Session, world: dict[str, Vehicle]) -> None:
    a = world["a"]
    r = client.post(f"{API}/vehicles/{a.id}/propose-disposal")
    assert r.status_code == 200 and r.json()["status"] == "idle_proposed"
    r = client.post(f"{API}/vehicles/{a.id}/propose-disposal", json={"status": "disposal_pending"})
    assert r.json()["status"] == "disposal_pending"
    r = client.post(f"{API}/vehicles/{a.id}/propose-disposal", json={"status": "sold"})
    assert r.status_code == 422
    assert client.post(f"{API}/vehicles/99999/propose-disposal").status_code == 404
    entries = session.exec(select(AuditLog).where(AuditLog.entity == "fleet_vehicle")).all()
    assert [(e.before, e.after["status"] if e.after else None) for e in entries] == [
        ({"status": "in_service"}, "idle_proposed"),
        ({"status": "idle_proposed"}, "disposal_pending"),
    ]


def test_report_endpoints(client: TestClient, world: dict[str, Vehicle]) -> None:
    r = client.get(f"{API}/reports/units", params={"month": "2024-06"})
    assert r.status_code == 200, r.text
    row = next(u for u in r.json()["units"] if u["unit"] == "丁镇")
    assert (row["trips"], row["covered_trips"], row["reporting_rate"]) == (4, 1, 0.25)
    assert client.get(f"{API}/reports/units", params={"month": "6/2024"}).status_code == 422
    b = client.get(f"{API}/reports/bulletin", params={"month": "2024-06"}).json()
    assert b["threshold"] == 0.9 and [u["unit"] for u in b["units"]] == ["丁镇"]
    assert (
        client.get(f"{API}/reports/bulletin", params={"month": "2024-06", "threshold": 0.2}).json()["units"]
        == []
    )
    sheet = client.get(f"{API}/reports/expenses", params={"year": 2024}).json()
    assert [o["order_no"] for o in sheet["orders"]] == ["Q-1", "Q-2"]
    assert sheet["orders"][0]["track_km"] == 30.0


def test_existing_endpoints_still_work(client: TestClient, world: dict[str, Vehicle]) -> None:
    assert client.get(f"{API}/vehicles").json()["count"] == 2
    assert client.get(f"{API}/orders").json()["count"] == 2
    trips = client.get(f"{API}/trips", params={"day": "2024-06-03"}).json()
    assert trips["count"] == 2 and {t["order_id"] is not None for t in trips["data"]} == {True, False}
