"""Fleet API under /api/v1: units, vehicles, orders, trips, stops, flags."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlmodel import col, select

from core.api import ListOut, PageDep, SessionDep, paginate
from core.errors import NotFound
from core.models import AuditLog, Unit
from fleet import reconcile, reports, schemas, service
from fleet.models import Flag, Stop, Trip, TripExpense, TripOrder, Vehicle

router = APIRouter(tags=["fleet"])


@router.get("/units", response_model=ListOut[schemas.UnitPublic])
def list_units(session: SessionDep, page: PageDep, kind: str | None = None) -> ListOut[schemas.UnitPublic]:
    stmt = select(Unit).order_by(col(Unit.name))
    if kind:
        stmt = stmt.where(Unit.kind == kind)
    rows, count = paginate(session, stmt, page)
    return ListOut(data=[schemas.UnitPublic.model_validate(r) for r in rows], count=count)


@router.get("/vehicles", response_model=ListOut[schemas.VehiclePublic])
def list_vehicles(
    session: SessionDep,
    page: PageDep,
    unit_id: int | None = None,
    status: str | None = None,
    plate: Annotated[str | None, Query(description="substring of the plate")] = None,
) -> ListOut[schemas.VehiclePublic]:
    stmt = select(Vehicle).order_by(col(Vehicle.plate))
    if unit_id is not None:
        stmt = stmt.where(Vehicle.unit_id == unit_id)
    if status:
        stmt = stmt.where(Vehicle.status == status)
    if plate:
        stmt = stmt.where(col(Vehicle.plate).contains(plate))
    rows, count = paginate(session, stmt, page)
    return ListOut(data=[schemas.VehiclePublic.model_validate(r) for r in rows], count=count)


@router.get("/vehicles/{vehicle_id}", response_model=schemas.VehiclePublic)
def get_vehicle(session: SessionDep, vehicle_id: int) -> schemas.VehiclePublic:
    vehicle = session.get(Vehicle, vehicle_id)
    if vehicle is None:
        raise NotFound(f"vehicle {vehicle_id} not found")
    return schemas.VehiclePublic.model_validate(vehicle)


@router.get("/orders", response_model=ListOut[schemas.OrderPublic])
def list_orders(
    session: SessionDep,
    page: PageDep,
    vehicle_id: int | None = None,
    unit_id: int | None = None,
    status: str | None = None,
) -> ListOut[schemas.OrderPublic]:
    stmt = select(TripOrder).order_by(col(TripOrder.planned_start_at).desc())
    if vehicle_id is not None:
        stmt = stmt.where(TripOrder.vehicle_id == vehicle_id)
    if unit_id is not None:
        stmt = stmt.where(TripOrder.unit_id == unit_id)
    if status:
        stmt = stmt.where(TripOrder.status == status)
    rows, count = paginate(session, stmt, page)
    return ListOut(data=[schemas.OrderPublic.model_validate(r) for r in rows], count=count)


@router.get("/orders/{order_id}", response_model=schemas.OrderPublic)
def get_order(session: SessionDep, order_id: int) -> schemas.OrderPublic:
    order = session.get(TripOrder, order_id)
    if order is None:
        raise NotFound(f"order {order_id} not found")
    return schemas.OrderPublic.model_validate(order)


@router.get("/trips", response_model=ListOut[schemas.TripPublic])
def list_trips(
    session: SessionDep,
    page: PageDep,
    vehicle_id: int | None = None,
    day: Annotated[date | None, Query(description="China calendar day the trip starts in")] = None,
) -> ListOut[schemas.TripPublic]:
    stmt = select(Trip).order_by(col(Trip.start_at))
    if vehicle_id is not None:
        stmt = stmt.where(Trip.vehicle_id == vehicle_id)
    if day is not None:
        stmt = stmt.where(Trip.service_day == day)
    rows, count = paginate(session, stmt, page)
    return ListOut(data=[schemas.TripPublic.model_validate(r) for r in rows], count=count)


@router.get("/trips/{trip_id}", response_model=schemas.TripPublic)
def get_trip(session: SessionDep, trip_id: int) -> schemas.TripPublic:
    trip = session.get(Trip, trip_id)
    if trip is None:
        raise NotFound(f"trip {trip_id} not found")
    return schemas.TripPublic.model_validate(trip)


@router.get("/stops", response_model=ListOut[schemas.StopPublic])
def list_stops(
    session: SessionDep, page: PageDep, vehicle_id: int | None = None
) -> ListOut[schemas.StopPublic]:
    stmt = select(Stop).order_by(col(Stop.start_at))
    if vehicle_id is not None:
        stmt = stmt.where(Stop.vehicle_id == vehicle_id)
    rows, count = paginate(session, stmt, page)
    return ListOut(data=[schemas.StopPublic.model_validate(r) for r in rows], count=count)


# --- flags: the queue, detail, review -----------------------------------------------------------------


def _actor(request: Request) -> str:
    # Until sign-in lands, changes made through the API are attributed to "api".
    user = getattr(request.state, "user", None)
    return str(getattr(user, "username", "") or "api")


def _flag_item(row: dict[str, Any]) -> schemas.FlagItem:
    return schemas.FlagItem.model_validate({**row, "vehicle_id": row["vehicle"]})


@router.get("/flags", response_model=ListOut[schemas.FlagItem])
def list_flags(
    session: SessionDep,
    page: PageDep,
    kind: str | None = None,
    unit: Annotated[str | None, Query(description="unit id or name")] = None,
    status: Annotated[
        str | None, Query(description="open | resolved (unreviewed), violation | explained | false_alarm")
    ] = None,
    review_status: str | None = None,
    state: str | None = None,
    vehicle_id: int | None = None,
    unit_id: Annotated[int | None, Query(description="the same as unit=ID")] = None,
    plate: Annotated[str | None, Query(description="substring of the plate")] = None,
    date_from: Annotated[date | None, Query(alias="from", description="first China day of the start")] = None,
    date_to: Annotated[date | None, Query(alias="to", description="last China day of the start")] = None,
) -> ListOut[schemas.FlagItem]:
    """The flag queue with plate, unit, trip km and order number, newest first."""
    f = reports.FlagFilter(
        kind=kind,
        unit=unit if unit_id is None else unit_id,
        status=status,
        state=state,
        review_status=review_status,
        date_from=date_from,
        date_to=date_to,
        vehicle_id=vehicle_id,
        plate=plate,
    )
    rows, total = reports.flag_rows(session, f, limit=page.limit, offset=page.offset)
    return ListOut(data=[_flag_item(r) for r in rows], count=total)


@router.get("/flags/{flag_id}", response_model=schemas.FlagDetail)
def get_flag(session: SessionDep, flag_id: int) -> schemas.FlagDetail:
    """A flag with its vehicle, trip, order, the vehicle's orders within a day, and its review history."""
    flag = session.get(Flag, flag_id)
    if flag is None:
        raise NotFound(f"预警不存在 flag {flag_id} not found")
    row = reports.flag_rows(session, reports.FlagFilter(id=flag_id))[0][0]
    vehicle = session.get(Vehicle, flag.vehicle_id)
    trip = session.get(Trip, flag.trip_id) if flag.trip_id else None
    order = session.get(TripOrder, flag.order_id) if flag.order_id else None
    day = timedelta(days=1)
    until = (flag.end_at or flag.start_at) + day
    nearby = session.exec(
        select(TripOrder)
        .where(
            TripOrder.vehicle_id == flag.vehicle_id,
            col(TripOrder.planned_start_at) <= until,
            col(TripOrder.planned_end_at) >= flag.start_at - day,
        )
        .order_by(col(TripOrder.planned_start_at))
    ).all()
    history = session.exec(
        select(AuditLog)
        .where(AuditLog.entity == "fleet_flag", AuditLog.entity_id == str(flag_id))
        .order_by(col(AuditLog.id))
    ).all()
    return schemas.FlagDetail(
        **_flag_item(row).model_dump(),
        vehicle=schemas.VehiclePublic.model_validate(vehicle),
        trip=schemas.TripPublic.model_validate(trip) if trip else None,
        order=schemas.OrderPublic.model_validate(order) if order else None,
        nearby_orders=[schemas.OrderPublic.model_validate(o) for o in nearby],
        history=[schemas.AuditEntry.model_validate(h) for h in history],
    )


@router.post("/flags/review", response_model=list[schemas.FlagPublic])
def review_flags(
    session: SessionDep, request: Request, body: schemas.BulkReviewIn
) -> list[schemas.FlagPublic]:
    """The same review for several flags, all or nothing."""
    flags = reconcile.review_flags(session, body.ids, body.status, body.comment, _actor(request))
    return [schemas.FlagPublic.model_validate(f) for f in flags]


@router.post("/flags/{flag_id}/review", response_model=schemas.FlagPublic)
def review_flag(
    session: SessionDep, request: Request, flag_id: int, body: schemas.ReviewIn
) -> schemas.FlagPublic:
    """Review a flag: violation / explained / false_alarm with a comment, or open to reset."""
    flag = reconcile.review_flag(session, flag_id, body.status, body.comment, _actor(request))
    return schemas.FlagPublic.model_validate(flag)


# --- orders and expenses ------------------------------------------------------------------------------


@router.post("/orders", response_model=schemas.OrderPublic, status_code=201)
def create_order(session: SessionDep, request: Request, body: schemas.OrderCreate) -> schemas.OrderPublic:
    """Enter an order; a late one (补单) resolves the flags of the trips it covers at once."""
    order = service.create_order(session, **body.model_dump(), actor=_actor(request))
    return schemas.OrderPublic.model_validate(order)


@router.patch("/orders/{order_id}", response_model=schemas.OrderPublic)
def update_order(
    session: SessionDep, request: Request, order_id: int, body: schemas.OrderUpdate
) -> schemas.OrderPublic:
    order = service.update_order(session, order_id, body.model_dump(exclude_unset=True), _actor(request))
    return schemas.OrderPublic.model_validate(order)


@router.post("/orders/{order_id}/cancel", response_model=schemas.OrderPublic)
def cancel_order(
    session: SessionDep, request: Request, order_id: int, body: schemas.OrderCancel | None = None
) -> schemas.OrderPublic:
    order = service.cancel_order(session, order_id, _actor(request), body.reason if body else "")
    return schemas.OrderPublic.model_validate(order)


def _expense_out(expense: TripExpense) -> schemas.ExpensePublic:
    total = expense.tolls_fen + expense.meal_allowance_fen + expense.fuel_fen + expense.other_fen
    return schemas.ExpensePublic.model_validate({**expense.model_dump(), "total_yuan": reports.yuan(total)})


@router.get("/orders/{order_id}/expense", response_model=schemas.ExpensePublic)
def get_expense(session: SessionDep, order_id: int) -> schemas.ExpensePublic:
    service.get_order(session, order_id)
    expense = service.get_expense(session, order_id)
    if expense is None:
        raise NotFound(f"该出行申请没有费用单 order {order_id} has no expense sheet")
    return _expense_out(expense)


@router.put("/orders/{order_id}/expense", response_model=schemas.ExpensePublic)
def put_expense(
    session: SessionDep, request: Request, order_id: int, body: schemas.ExpenseIn
) -> schemas.ExpensePublic:
    expense = service.upsert_expense(session, order_id, body.model_dump(exclude_unset=True), _actor(request))
    return _expense_out(expense)


# --- vehicles -----------------------------------------------------------------------------------------


@router.post("/vehicles/{vehicle_id}/propose-disposal", response_model=schemas.VehiclePublic)
def propose_disposal(
    session: SessionDep, request: Request, vehicle_id: int, body: schemas.DisposalIn | None = None
) -> schemas.VehiclePublic:
    """Propose an idle vehicle for disposal (idle_proposed → disposal_pending), or withdraw (in_service)."""
    body = body or schemas.DisposalIn()
    vehicle = reconcile.propose_disposal(
        session, vehicle_id, _actor(request), status=body.status, comment=body.comment
    )
    return schemas.VehiclePublic.model_validate(vehicle)


# --- reports ------------------------------------------------------------------------------------------


@router.get("/reports/units", response_model=schemas.UnitReport)
def unit_report(
    session: SessionDep, month: Annotated[str, Query(description="YYYY-MM", examples=["2024-06"])]
) -> dict[str, Any]:
    """Per unit for one month: vehicles, trips, km, covered and unreported trips, reporting rate, idle
    vehicles, silent trackers, expenses."""
    return reports.unit_report(session, month)


@router.get("/reports/bulletin", response_model=schemas.Bulletin)
def bulletin(
    session: SessionDep,
    month: Annotated[str, Query(description="YYYY-MM")],
    threshold: Annotated[
        float | None, Query(ge=0, le=1, description="default GONGWU_BULLETIN_THRESHOLD")
    ] = None,
) -> dict[str, Any]:
    """通报: units under the reporting-rate threshold, worst first."""
    return reports.bulletin(session, month, threshold)


@router.get("/reports/expenses", response_model=schemas.ExpenseSheet)
def expense_sheet(session: SessionDep, year: int) -> dict[str, Any]:
    """出行费用单 of a year, one row per order, and the operating cost and cost per km per vehicle."""
    return reports.expense_sheet(session, year)


# The permission each route of this module needs (gongwu/permissions.py holds THE table; these are the
# routes added for issue 10, for it to take over).
ROUTE_PERMISSIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/flags"): "fleet:county",
    ("GET", "/api/v1/flags/{flag_id}"): "fleet:county",
    ("POST", "/api/v1/flags/review"): "fleet:review",
    ("POST", "/api/v1/flags/{flag_id}/review"): "fleet:review",
    ("POST", "/api/v1/orders"): "fleet:write",
    ("PATCH", "/api/v1/orders/{order_id}"): "fleet:write",
    ("POST", "/api/v1/orders/{order_id}/cancel"): "fleet:write",
    ("GET", "/api/v1/orders/{order_id}/expense"): "fleet:county",
    ("PUT", "/api/v1/orders/{order_id}/expense"): "fleet:write",
    ("POST", "/api/v1/vehicles/{vehicle_id}/propose-disposal"): "fleet:write",
    ("GET", "/api/v1/reports/units"): "fleet:county",
    ("GET", "/api/v1/reports/bulletin"): "fleet:county",
    ("GET", "/api/v1/reports/expenses"): "fleet:county",
}
