"""Import appliers of units, vehicles, orders and expenses (core/importing.py contract)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from accounts import imports as accounts_imports
from core.errors import Conflict, NotFound, ValidationFailed
from core.importing import Row
from core.models import AuditLog, Unit
from core.timeutil import CHINA
from fleet import imports as fleet_imports
from fleet import service
from fleet.models import Flag, Trip, TripExpense, TripOrder, Vehicle
from tests.factories import make_order, make_trip, make_unit, make_vehicle


def cn(day: int, hour: int = 0) -> datetime:
    return datetime(2024, 6, day, hour, tzinfo=CHINA).astimezone(UTC)


def rows(*values: dict[str, object]) -> list[Row]:
    return [Row(line=i + 2, values=dict(v)) for i, v in enumerate(values)]


def audits(session: Session, action: str) -> int:
    return session.exec(select(func.count()).select_from(AuditLog).where(AuditLog.action == action)).one()


# ------------------------------------------------------------------------------------------------ units


def test_units_insert_update_unchanged_and_idempotent(session: Session) -> None:
    data = rows({"name": "城关镇", "kind": "township"}, {"name": "县教育局", "kind": "department"})
    r = accounts_imports.apply_units(session, data, "clerk")
    assert (r.inserted, r.updated, r.unchanged, r.issues) == (2, 0, 0, [])
    r = accounts_imports.apply_units(session, data, "clerk")
    assert (r.inserted, r.updated, r.unchanged) == (0, 0, 2)
    r = accounts_imports.apply_units(session, rows({"name": "城关镇", "kind": "department"}), "clerk")
    assert r.updated == 1 and r.changes == ["城关镇: kind township → department"]
    assert audits(session, "unit.create") == 2 and audits(session, "unit.update") == 1


def test_units_conflicting_duplicate_is_an_issue_on_the_later_line(session: Session) -> None:
    r = accounts_imports.apply_units(
        session,
        rows(
            {"name": "城关镇", "kind": "township"},
            {"name": "城关镇", "kind": "township"},
            {"name": "城关镇", "kind": "department"},
            {"name": "", "kind": "township"},
            {"name": "新单位", "kind": "county"},
        ),
        "clerk",
    )
    assert [(i.line, i.field) for i in r.issues] == [(4, "name"), (5, "name"), (6, "kind")]
    assert "第 2 行" in r.issues[0].reason
    assert r.unchanged == 1


# --------------------------------------------------------------------------------------------- vehicles


def test_vehicles_upsert_unknown_unit_and_tracker_clash(session: Session) -> None:
    unit = make_unit(session, name="县财政局")
    make_vehicle(session, unit, plate="晋M·B0001", tracker_id="DEV1")
    r = fleet_imports.apply_vehicles(
        session,
        rows(
            {
                "plate": "晋M·B0002",
                "unit": "县财政局",
                "model": "比亚迪",
                "tracker_id": "DEV2",
                "status": "in_service",
            },
            {"plate": "晋M·B0003", "unit": "不存在的单位", "tracker_id": "DEV3"},
            {"plate": "晋M·B0004", "unit": "县财政局", "tracker_id": "DEV1"},
            {"plate": "晋M·B0005", "unit": "县财政局", "tracker_id": "DEV2"},
            {"plate": "晋M·B0002", "unit": "县财政局", "model": "大众", "tracker_id": "DEV2"},
        ),
        "clerk",
    )
    issues = [(i.line, i.field) for i in r.issues]
    assert issues == [(3, "unit"), (4, "tracker_id"), (5, "tracker_id"), (6, "plate")]
    assert "不存在的单位" in r.issues[0].reason and "晋M·B0001" in r.issues[1].reason


def test_vehicles_update_only_present_columns_and_status_change(session: Session) -> None:
    unit = make_unit(session, name="县公安局")
    other = make_unit(session, name="县法院")
    vehicle = make_vehicle(session, unit, plate="晋M·C0001", tracker_id="C1", model="帕萨特")
    data = rows({"plate": "晋M·C0001", "status": "idle_proposed"})
    r = fleet_imports.apply_vehicles(session, data, "clerk")
    assert r.updated == 1 and vehicle.model == "帕萨特" and vehicle.status == "idle_proposed"
    assert r.changes == ["晋M·C0001: status in_service → idle_proposed"]
    r = fleet_imports.apply_vehicles(
        session,
        rows({"plate": "晋M·C0001", "unit": "县法院", "tracker_id": None, "acquired_on": date(2019, 3, 1)}),
        "clerk",
    )
    assert (vehicle.unit_id, vehicle.tracker_id, vehicle.acquired_on) == (other.id, None, date(2019, 3, 1))
    r = fleet_imports.apply_vehicles(session, rows({"plate": "晋M·C0001", "status": "disposed"}), "clerk")
    assert vehicle.disposed_on is not None
    entry = session.exec(select(AuditLog).where(AuditLog.action == "vehicle.update")).first()
    assert entry is not None and entry.before == {"status": "in_service"}
    assert entry.after == {"status": "idle_proposed"}


# ----------------------------------------------------------------------------------------------- orders


def order_row(**kw: object) -> dict[str, object]:
    return {
        "order_no": "CC001",
        "plate": "晋M·D0001",
        "applicant": "张三",
        "driver": "李四",
        "purpose": "检查",
        "destination": "东山乡",
        "planned_start": cn(3, 8),
        "planned_end": cn(3, 12),
        "status": "approved",
        **kw,
    }


@pytest.fixture
def car(session: Session) -> Vehicle:
    unit = make_unit(session, name="县审计局")
    make_unit(session, name="县司法局")
    return make_vehicle(session, unit, plate="晋M·D0001", tracker_id="D1")


def test_orders_insert_default_unit_and_idempotent(session: Session, car: Vehicle) -> None:
    r = fleet_imports.apply_orders(session, rows(order_row()), "clerk")
    assert (r.inserted, r.issues) == (1, [])
    order = session.exec(select(TripOrder).where(TripOrder.order_no == "CC001")).one()
    assert order.unit_id == car.unit_id and order.planned_start_at == cn(3, 8)
    r = fleet_imports.apply_orders(session, rows(order_row()), "clerk")
    assert (r.inserted, r.updated, r.unchanged) == (0, 0, 1)
    r = fleet_imports.apply_orders(session, rows(order_row(unit="县司法局", status="cancelled")), "clerk")
    assert r.updated == 1 and order.status == "cancelled"
    assert "status approved → cancelled" in r.changes[0]


def test_orders_issues(session: Session, car: Vehicle) -> None:
    r = fleet_imports.apply_orders(
        session,
        rows(
            order_row(order_no="A1", plate="晋M·Z9999"),
            order_row(order_no="A2", unit="没有的单位"),
            order_row(order_no="A3", planned_end=cn(3, 7)),
            order_row(order_no="A4", planned_end=cn(3, 8) + timedelta(days=40)),
            order_row(order_no="A5", status=None),
            order_row(order_no="A6"),
            order_row(order_no="A6", driver="王五"),
            order_row(order_no="A7", planned_start=None),
        ),
        "clerk",
    )
    assert [(i.line, i.field) for i in r.issues] == [
        (2, "plate"),
        (3, "unit"),
        (4, "planned_end"),
        (5, "planned_end"),
        (6, "status"),
        (8, "order_no"),
        (9, "planned_start"),
    ]
    assert "返回早于" in r.issues[2].reason


def test_late_order_import_resolves_the_flag(session: Session, car: Vehicle) -> None:
    from fleet import reconcile

    trip = make_trip(session, car, cn(3, 9), 60)
    reconcile.reconcile_day(session, date(2024, 6, 3), rules=reconcile.Rules())
    flag = session.exec(select(Flag).where(Flag.kind == "unreported_trip")).one()
    assert flag.state == "open"
    r = fleet_imports.apply_orders(session, rows(order_row(order_no="BD001")), "clerk")
    assert r.inserted == 1
    session.refresh(flag)
    assert flag.state == "resolved"
    session.expire_all()
    stored = session.get(Trip, trip.id)
    assert stored is not None and stored.order_id is not None


# --------------------------------------------------------------------------------------------- expenses


def test_expenses_upsert_and_unknown_order(session: Session, car: Vehicle) -> None:
    order = make_order(session, car, order_no="EX1")
    r = fleet_imports.apply_expenses(
        session,
        rows(
            {"order_no": "EX1", "tolls_fen": 3500, "meal_allowance_fen": 6000, "fuel_fen": 12050},
            {"order_no": "NOPE", "tolls_fen": 1},
        ),
        "clerk",
    )
    assert [(i.line, i.field) for i in r.issues] == [(3, "order_no")]
    expense = session.exec(select(TripExpense).where(TripExpense.order_id == order.id)).one()
    assert (expense.tolls_fen, expense.meal_allowance_fen, expense.fuel_fen, expense.other_fen) == (
        3500,
        6000,
        12050,
        0,
    )
    # The template's names (tolls, ...) are read too; an empty cell clears to 0; absent stays.
    r = fleet_imports.apply_expenses(session, rows({"order_no": "EX1", "tolls": 4000, "fuel": None}), "clerk")
    assert r.updated == 1 and (expense.tolls_fen, expense.fuel_fen, expense.meal_allowance_fen) == (
        4000,
        0,
        6000,
    )
    r = fleet_imports.apply_expenses(session, rows({"order_no": "EX1", "tolls_fen": -5}), "clerk")
    assert [(i.line, i.field) for i in r.issues] == [(2, "tolls_fen")]


# ------------------------------------------------------------------------------------ order use-cases


def test_create_update_cancel_order_with_audit(session: Session, car: Vehicle) -> None:
    assert car.id is not None
    order = service.create_order(
        session,
        order_no="API1",
        vehicle_id=car.id,
        planned_start_at=datetime(2024, 6, 3, 8, 0),  # naive: China time
        planned_end_at=datetime(2024, 6, 3, 10, 0, tzinfo=CHINA),
        actor="wang",
        destination="西山",
    )
    assert order.planned_start_at == cn(3, 8) and order.unit_id == car.unit_id
    with pytest.raises(Conflict, match="API1"):
        service.create_order(
            session,
            order_no="API1",
            vehicle_id=car.id,
            planned_start_at=cn(3),
            planned_end_at=cn(3),
            actor="w",
        )
    with pytest.raises(ValidationFailed, match="早于"):
        service.update_order(session, order.id, {"planned_end_at": cn(3, 7)}, "wang")  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed, match="order_no"):
        service.update_order(session, order.id, {"order_no": "X"}, "wang")  # type: ignore[arg-type]
    service.update_order(session, order.id, {"driver": "赵六"}, "wang")  # type: ignore[arg-type]
    service.cancel_order(session, order.id, "wang", "行程取消")  # type: ignore[arg-type]
    assert order.status == "cancelled"
    actions = session.exec(
        select(AuditLog.action).where(AuditLog.entity == "fleet_order", AuditLog.entity_id == str(order.id))
    ).all()
    assert sorted(actions) == ["order.cancel", "order.create", "order.update"]
    with pytest.raises(NotFound, match="424242"):
        service.cancel_order(session, 424242, "wang")


def test_upsert_expense_validates(session: Session, car: Vehicle) -> None:
    order = make_order(session, car)
    assert order.id is not None
    e = service.upsert_expense(session, order.id, {"tolls_fen": 100}, "wang")
    assert e.tolls_fen == 100
    service.upsert_expense(session, order.id, {"fuel_fen": 250, "tolls_fen": None}, "wang")
    assert (e.tolls_fen, e.fuel_fen) == (100, 250)
    with pytest.raises(ValidationFailed):
        service.upsert_expense(session, order.id, {"fuel_fen": -1}, "wang")
    with pytest.raises(ValidationFailed, match="未知的费用项"):
        service.upsert_expense(session, order.id, {"parking": 1}, "wang")  # type: ignore[dict-item]
    assert audits(session, "expense.create") == 1 and audits(session, "expense.update") == 1


def test_unit_rows_are_visible(session: Session) -> None:
    accounts_imports.apply_units(session, rows({"name": "X镇", "kind": "township"}), "clerk")
    assert session.exec(select(Unit).where(Unit.name == "X镇")).one().kind == "township"


def test_text_too_long_is_a_row_issue(session: Session, car: Vehicle) -> None:
    r = accounts_imports.apply_units(session, rows({"name": "单" * 101, "kind": "township"}), "clerk")
    assert [(i.line, i.field) for i in r.issues] == [(2, "name")]
    r = fleet_imports.apply_vehicles(session, rows({"plate": "晋M·D0001", "model": "型" * 101}), "clerk")
    assert [(i.line, i.field) for i in r.issues] == [(2, "model")]
    r = fleet_imports.apply_orders(
        session, rows(order_row(order_no="N" * 41), order_row(order_no="L1", driver="司" * 51)), "c"
    )
    assert [(i.line, i.field) for i in r.issues] == [(2, "order_no"), (3, "driver")]
