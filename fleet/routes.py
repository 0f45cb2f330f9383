"""Fleet API under /api/v1: units, vehicles, orders, trips, stops, flags."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from accounts.access import ScopeDep, UnitScope, actor
from core.api import ListOut, PageDep, SessionDep, listing, paginate
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.i18n import tr
from core.models import AuditLog
from core.timeutil import as_utc, china_day, utcnow
from fleet import flags, queries, rules, schemas, service, tags
from fleet.models import Decision, Flag, TrackerCheck, TripExpense, TripOrder, Vehicle

CENTER_ROLES = ("vehicle_manager", "admin")  # the center's own: they may register an approved order

router = APIRouter(tags=["fleet"])


@router.get("/units", response_model=ListOut[schemas.UnitPublic])
def list_units(
    session: SessionDep, scope: ScopeDep, page: PageDep, kind: str | None = None
) -> ListOut[schemas.UnitPublic]:
    return listing(schemas.UnitPublic, session, queries.units_query(scope, kind=kind), page)


@router.get("/vehicles", response_model=ListOut[schemas.VehiclePublic])
def list_vehicles(
    session: SessionDep, scope: ScopeDep, page: PageDep, f: Annotated[schemas.VehicleFilter, Query()]
) -> ListOut[schemas.VehiclePublic]:
    return listing(schemas.VehiclePublic, session, queries.vehicles_query(scope, f), page)


@router.get("/vehicles/available", response_model=list[schemas.AvailableVehicle])
def available_vehicles(
    session: SessionDep,
    scope: ScopeDep,
    from_: Annotated[datetime, Query(alias="from", description="ISO-8601; without a zone, China time")],
    to: Annotated[datetime, Query(description="ISO-8601; without a zone, China time")],
    unit_id: int | None = None,
) -> list[schemas.AvailableVehicle]:
    """Cars free for a trip in [from, to): in service and on no approved or dispatched order then; the
    unit's own before the center's pool, a tracker that reported in the last 24 h first."""
    start, end = as_utc(from_), as_utc(to)
    if end <= start:
        raise ValidationFailed(tr("结束时间须晚于开始时间", "`to` must be after `from`"))
    rows = queries.available_vehicles(session, scope, start, end, unit_id, utcnow())
    return [schemas.AvailableVehicle.model_validate(r, from_attributes=True) for r in rows]


@router.get("/vehicles/{vehicle_id}", response_model=schemas.VehiclePublic)
def get_vehicle(session: SessionDep, scope: ScopeDep, vehicle_id: int) -> schemas.VehiclePublic:
    vehicle = scope.get(
        session, Vehicle, vehicle_id, Vehicle.unit_id, missing=f"vehicle {vehicle_id} not found"
    )
    return schemas.VehiclePublic.model_validate(vehicle)


def _vehicle_in(session: Session, scope: UnitScope, vehicle_id: int) -> Vehicle:
    return scope.get(session, Vehicle, vehicle_id, Vehicle.unit_id, missing=f"vehicle {vehicle_id} not found")


@router.get("/drivers", response_model=ListOut[schemas.DriverPublic])
def list_drivers(
    session: SessionDep, scope: ScopeDep, page: PageDep, f: Annotated[schemas.DriverFilter, Query()]
) -> ListOut[schemas.DriverPublic]:
    """The drivers orders are dispatched to (a unit's staff: their unit's)."""
    return listing(schemas.DriverPublic, session, queries.drivers_query(scope, f), page)


@router.post("/drivers", response_model=schemas.DriverPublic, status_code=201)
def create_driver(session: SessionDep, request: Request, body: schemas.DriverCreate) -> schemas.DriverPublic:
    """Register a driver (or import many: `POST /api/v1/imports/drivers`, 姓名, 单位, 手机, 准驾车型)."""
    driver = service.create_driver(session, **body.model_dump(), actor=actor(request))
    return schemas.DriverPublic.model_validate(driver)


def _order_out(session: Session, order: TripOrder, approvals: list[Any] | None = None) -> schemas.OrderPublic:
    """An order with its decisions and whose approval it waits for (`approvals`: already fetched)."""
    assert order.id is not None
    if approvals is None:
        approvals = service.approvals_of(session, order.id)
    level = service.pending_level(session, order, approvals)
    awaiting = rules.awaiting(order.status, level, order.late_for_flag_id is not None)
    shown = [schemas.ApprovalPublic.model_validate(a) for a in approvals]
    return schemas.OrderPublic.model_validate(order).model_copy(
        update={"approvals": shown, "awaiting": awaiting}
    )


@router.get("/orders", response_model=ListOut[schemas.OrderPublic])
def list_orders(
    session: SessionDep, scope: ScopeDep, page: PageDep, f: Annotated[schemas.OrderFilter, Query()]
) -> ListOut[schemas.OrderPublic]:
    rows, count = paginate(session, queries.orders_query(scope, f), page)
    approvals = service.approvals_by_order(session, [o.id for o in rows])  # one query for the page
    return ListOut(data=[_order_out(session, o, approvals[o.id]) for o in rows], count=count)


@router.get("/orders/{order_id}", response_model=schemas.OrderPublic)
def get_order(session: SessionDep, scope: ScopeDep, order_id: int) -> schemas.OrderPublic:
    order = scope.get(session, TripOrder, order_id, TripOrder.unit_id, missing=f"order {order_id} not found")
    return _order_out(session, order)


@router.get("/trips", response_model=ListOut[schemas.TripPublic])
def list_trips(
    session: SessionDep, scope: ScopeDep, page: PageDep, f: Annotated[schemas.TripFilter, Query()]
) -> ListOut[schemas.TripPublic]:
    """Trips of a day (the China day they start in) or overlapping a range — whole, never clipped."""
    return listing(schemas.TripPublic, session, queries.trips_query(scope, f), page)


@router.get("/trips/{trip_id}", response_model=schemas.TripPublic)
def get_trip(session: SessionDep, scope: ScopeDep, trip_id: int) -> schemas.TripPublic:
    trip = queries.trip_in_scope(session, scope, trip_id, f"trip {trip_id} not found")
    return schemas.TripPublic.model_validate(trip)


@router.get("/stops", response_model=ListOut[schemas.StopPublic])
def list_stops(
    session: SessionDep, scope: ScopeDep, page: PageDep, f: Annotated[schemas.StopFilter, Query()]
) -> ListOut[schemas.StopPublic]:
    return listing(schemas.StopPublic, session, queries.stops_query(scope, f), page)


# --- flags: the queue, detail, review -----------------------------------------------------------------


def _flag_item(row: dict[str, Any]) -> schemas.FlagItem:
    return schemas.FlagItem.model_validate({**row, "vehicle_id": row["vehicle"]})


@router.get("/flags", response_model=ListOut[schemas.FlagItem])
def list_flags(
    session: SessionDep,
    scope: ScopeDep,
    page: PageDep,
    f: Annotated[schemas.FlagFilter, Query()],
    unit_id: Annotated[int | None, Query(description="the same as unit=ID")] = None,
) -> ListOut[schemas.FlagItem]:
    """The flag queue with plate, unit, trip km and order number, newest first."""
    f.unit = scope.unit_id if scope.restricted else (f.unit if unit_id is None else unit_id)
    rows, total = queries.flag_rows(session, f, limit=page.limit, offset=page.offset)
    return ListOut(data=[_flag_item(r) for r in rows], count=total)


@router.get("/flags/{flag_id}", response_model=schemas.FlagDetail)
def get_flag(session: SessionDep, scope: ScopeDep, flag_id: int) -> schemas.FlagDetail:
    """A flag with its vehicle, trip, order, the vehicle's orders within a day, and its review history."""
    flag = scope.get(
        session,
        Flag,
        flag_id,
        Flag.unit_id,
        missing=tr(f"预警不存在：{flag_id}", f"flag {flag_id} not found"),
    )
    ctx = queries.flag_context(session, scope, flag)
    row, vehicle, trip, order = ctx["row"], ctx["vehicle"], ctx["trip"], ctx["order"]
    nearby, history = ctx["nearby_orders"], ctx["history"]
    return schemas.FlagDetail(
        **_flag_item(row).model_dump(),
        vehicle=schemas.VehiclePublic.model_validate(vehicle),
        trip=schemas.TripPublic.model_validate(trip) if trip else None,
        order=schemas.OrderPublic.model_validate(order) if order else None,
        nearby_orders=[schemas.OrderPublic.model_validate(o) for o in nearby],
        replies=[_reply_out(r, o) for r, o in ctx["replies"]],
        history=[schemas.AuditEntry.model_validate(h) for h in history],
    )


def _reply_out(reply: Any, order: TripOrder | None) -> schemas.FlagReplyPublic:
    return schemas.FlagReplyPublic.model_validate(reply).model_copy(
        update={
            "order_no": order.order_no if order else None,
            "order_status": order.status if order else None,
        }
    )


@router.post("/flags/{flag_id}/replies", response_model=schemas.FlagReplyPublic, status_code=201)
def reply_to_flag(
    session: SessionDep, request: Request, scope: ScopeDep, flag_id: int, body: schemas.FlagReplyIn
) -> schemas.FlagReplyPublic:
    """A unit answers its unreported_trip flag: an explanation and/or a late order (补报) for the trip,
    which waits for the same approvals and, once approved, resolves the flag as `late_order`."""
    scope.get(
        session,
        Flag,
        flag_id,
        Flag.unit_id,
        missing=tr(f"预警不存在：{flag_id}", f"flag {flag_id} not found"),
    )
    late = body.late_order.model_dump() if body.late_order else None
    reply = service.reply_to_flag(session, flag_id, text=body.text, late_order=late, actor=actor(request))
    order = session.get(TripOrder, reply.order_id) if reply.order_id else None
    return _reply_out(reply, order)


@router.post("/flags/review", response_model=list[schemas.FlagPublic])
def review_flags(
    session: SessionDep, request: Request, body: schemas.BulkReviewIn
) -> list[schemas.FlagPublic]:
    """The same review for several flags, all or nothing."""
    done = flags.review_flags(session, body.ids, body.status, body.comment, actor(request))
    return [schemas.FlagPublic.model_validate(f) for f in done]


@router.post("/flags/{flag_id}/review", response_model=schemas.FlagPublic)
def review_flag(
    session: SessionDep, request: Request, flag_id: int, body: schemas.ReviewIn
) -> schemas.FlagPublic:
    """Review a flag: violation / explained / false_alarm with a comment, or open to reset."""
    flag = flags.review_flag(session, flag_id, body.status, body.comment, actor(request))
    return schemas.FlagPublic.model_validate(flag)


# --- orders and expenses ------------------------------------------------------------------------------


@router.post("/orders", response_model=schemas.OrderPublic, status_code=201)
def create_order(
    session: SessionDep, request: Request, scope: ScopeDep, body: schemas.OrderCreate
) -> schemas.OrderPublic:
    """Request a trip (`submitted`: it waits for the unit's approver, and for the center when it leaves
    the county, falls on a rest day or spans a night). Unit staff request for their own unit with one of
    its cars; the center may register a paper order as `approved` at once (a late one, 补单, resolves the
    flags of the trips it covers)."""
    principal = request.state.principal
    data = body.model_dump()
    if data["status"] != "submitted" and principal.role not in CENTER_ROLES:
        raise PermissionDenied(
            tr(
                "只有机关事务服务中心可以直接登记已批准的派车单",
                "only the center registers an order as approved",
            )
        )
    if scope.restricted:  # a unit requests for itself, with one of its own cars or none
        if data["unit_id"] not in (None, principal.unit_id):
            raise PermissionDenied(tr("只能为本单位申请用车", "you request trips for your own unit only"))
        data["unit_id"] = principal.unit_id
        if body.vehicle_id is not None:
            missing = tr(f"本单位没有车辆 {body.vehicle_id}", f"your unit has no vehicle {body.vehicle_id}")
            scope.get(session, Vehicle, body.vehicle_id, Vehicle.unit_id, missing=missing)
        if body.driver_id is not None and not service.driver_may_be_asked(
            session, body.driver_id, principal.unit_id
        ):
            raise ValidationFailed(
                tr("只能指定本单位或中心的驾驶员", "name a driver of your unit or of the center")
            )
    order = service.create_order(session, **data, actor=actor(request), requested_by=principal.username)
    return _order_out(session, order)


def _decide(
    request: Request, session: Session, scope: Any, order_id: int, decision: str, comment: str
) -> Any:
    scope.get(session, TripOrder, order_id, TripOrder.unit_id, missing=f"order {order_id} not found")
    principal = request.state.principal
    order = service.decide_order(
        session, order_id, decision, actor=principal.username, role=principal.role,
        unit_id=principal.unit_id, comment=comment,
    )  # fmt: skip
    return _order_out(session, order)


@router.post("/orders/{order_id}/approve", response_model=schemas.OrderPublic)
def approve_order(
    session: SessionDep, request: Request, scope: ScopeDep, order_id: int, body: schemas.OrderDecision
) -> schemas.OrderPublic:
    """Approve the level the order waits for (`awaiting`: unit → its approver, center → a vehicle
    manager); the last approval makes it `approved`, and it covers its trips from then on."""
    return _decide(request, session, scope, order_id, Decision.approved, body.comment)  # type: ignore[no-any-return]


@router.post("/orders/{order_id}/reject", response_model=schemas.OrderPublic)
def reject_order(
    session: SessionDep, request: Request, scope: ScopeDep, order_id: int, body: schemas.OrderDecision
) -> schemas.OrderPublic:
    """Reject the order at the level it waits for (a comment says why)."""
    return _decide(request, session, scope, order_id, Decision.rejected, body.comment)  # type: ignore[no-any-return]


@router.post("/orders/{order_id}/dispatch", response_model=schemas.OrderPublic)
def dispatch_order(
    session: SessionDep, request: Request, order_id: int, body: schemas.OrderDispatch
) -> schemas.OrderPublic:
    """Send an approved order out with its car and driver (409 naming the overlapping order when either
    is already out then, or when the car is pending disposal)."""
    order = service.dispatch_order(
        session, order_id, driver_id=body.driver_id, vehicle_id=body.vehicle_id, actor=actor(request)
    )
    return _order_out(session, order)


@router.post("/orders/{order_id}/return", response_model=schemas.OrderPublic)
def return_order(
    session: SessionDep, request: Request, order_id: int, body: schemas.OrderReturn
) -> schemas.OrderPublic:
    """The car is back: actual return time, odometer km, and the expenses (filling the expense sheet). A
    driver returns only the orders dispatched to them."""
    money = body.model_dump(include={"tolls_fen", "fuel_fen", "meal_allowance_fen", "other_fen"})
    principal = request.state.principal
    order = service.return_order(
        session, order_id, returned_at=body.returned_at, odometer_km=body.odometer_km, expenses=money,
        actor=actor(request), driver_account=principal.user_id if principal.role == "driver" else None,
    )  # fmt: skip
    return _order_out(session, order)


@router.get("/orders/{order_id}/history")
def order_history(session: SessionDep, scope: ScopeDep, order_id: int) -> dict[str, Any]:
    """The order's decisions and every change the audit log holds of it, oldest first."""
    order = scope.get(session, TripOrder, order_id, TripOrder.unit_id, missing=f"order {order_id} not found")
    expense = service.get_expense(session, order_id)
    mine = [and_(col(AuditLog.entity) == "fleet_order", col(AuditLog.entity_id) == str(order_id))]
    if expense is not None:  # its expense sheet's changes are the order's too
        mine.append(and_(col(AuditLog.entity) == "fleet_expense", col(AuditLog.entity_id) == str(expense.id)))
    events = session.exec(select(AuditLog).where(or_(*mine)).order_by(col(AuditLog.id))).all()
    return {
        "order": _order_out(session, order),
        "events": [
            {
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "before": e.before,
                "after": e.after,
                "detail": e.detail,
            }
            for e in events
        ],
    }


@router.patch("/orders/{order_id}", response_model=schemas.OrderPublic)
def update_order(
    session: SessionDep, request: Request, order_id: int, body: schemas.OrderUpdate
) -> schemas.OrderPublic:
    order = service.update_order(session, order_id, body.model_dump(exclude_unset=True), actor(request))
    return _order_out(session, order)


@router.post("/orders/{order_id}/cancel", response_model=schemas.OrderPublic)
def cancel_order(
    session: SessionDep, request: Request, order_id: int, body: schemas.OrderCancel | None = None
) -> schemas.OrderPublic:
    order = service.cancel_order(session, order_id, actor(request), body.reason if body else "")
    return _order_out(session, order)


def _expense_out(expense: TripExpense) -> schemas.ExpensePublic:
    total = service.expense_total_fen(expense)
    return schemas.ExpensePublic.model_validate({**expense.model_dump(), "total_yuan": queries.yuan(total)})


@router.get("/orders/{order_id}/expense", response_model=schemas.ExpensePublic)
def get_expense(session: SessionDep, scope: ScopeDep, order_id: int) -> schemas.ExpensePublic:
    scope.get(session, TripOrder, order_id, TripOrder.unit_id, missing=f"order {order_id} not found")
    expense = service.get_expense(session, order_id)
    if expense is None:
        raise NotFound(tr("该出行申请没有费用单", f"order {order_id} has no expense sheet"))
    return _expense_out(expense)


@router.put("/orders/{order_id}/expense", response_model=schemas.ExpensePublic)
def put_expense(
    session: SessionDep, request: Request, order_id: int, body: schemas.ExpenseIn
) -> schemas.ExpensePublic:
    expense = service.upsert_expense(session, order_id, body.model_dump(exclude_unset=True), actor(request))
    return _expense_out(expense)


# --- vehicles -----------------------------------------------------------------------------------------


@router.post("/vehicles/{vehicle_id}/propose-disposal", response_model=schemas.VehiclePublic)
def propose_disposal(
    session: SessionDep, request: Request, vehicle_id: int, body: schemas.DisposalIn | None = None
) -> schemas.VehiclePublic:
    """Propose an idle vehicle for disposal (idle_proposed → disposal_pending), or withdraw (in_service)."""
    body = body or schemas.DisposalIn()
    vehicle = service.propose_disposal(
        session, vehicle_id, actor(request), status=body.status, comment=body.comment
    )
    return schemas.VehiclePublic.model_validate(vehicle)


@router.post("/vehicles/{vehicle_id}/disposal", response_model=schemas.VehiclePublic)
def disposal_step(
    session: SessionDep, scope: ScopeDep, request: Request, vehicle_id: int, body: schemas.DisposalStepIn
) -> schemas.VehiclePublic:
    """One step of a car's disposal: idle_proposed → disposal_pending (the application's document no.) →
    disposal_approved (批复文号) → disposed (method, income; a transfer names the receiving unit and moves
    the car there from the day); in_service withdraws."""
    _vehicle_in(session, scope, vehicle_id)
    vehicle = service.advance_disposal(
        session, vehicle_id, actor(request), stage=body.stage, on=body.day, document_no=body.document_no,
        method=body.method, income_fen=body.income_fen, to_unit=body.to_unit, comment=body.comment,
    )  # fmt: skip
    return schemas.VehiclePublic.model_validate(vehicle)


@router.get("/vehicles/{vehicle_id}/records", response_model=schemas.VehicleRecords)
def vehicle_records(
    session: SessionDep, scope: ScopeDep, vehicle_id: int, year: Annotated[int | None, Query()] = None
) -> dict[str, Any]:
    """A car's fill-ups, workshop bills, policies, inspections and other costs (of a year, or all)."""
    _vehicle_in(session, scope, vehicle_id)
    return queries.vehicle_records(session, vehicle_id, year, scope)


# --- tracker upkeep ------------------------------------------------------------------------------------


@router.post("/flags/{flag_id}/reassign", response_model=schemas.OrderPublic)
def reassign_order(session: SessionDep, request: Request, flag_id: int) -> Any:
    """改派: a wrong_vehicle flag's order goes to the car that drove; the flag and the ones it links
    resolve as `order_reassigned`."""
    return service.reassign_order(session, flag_id, actor(request))


# --- compliance rules and the calendar ----------------------------------------------------------------


@router.get("/rules", response_model=list[schemas.RuleRow])
def list_rules(session: SessionDep) -> list[dict[str, Any]]:
    """Every compliance rule's value, default and meaning (fleet/compliance.py)."""
    return tags.rules_table(session)


@router.put("/rules", response_model=list[schemas.RuleRow])
def put_rules(session: SessionDep, request: Request, body: schemas.RulesIn) -> list[dict[str, Any]]:
    """Set rules (admin; all or nothing, each audit-logged); the next nightly run or `gongwu reconcile
    --since D` re-evaluates the trips with them."""
    for key, value in body.values.items():
        tags.set_rule(session, key, value, actor=actor(request))
    return tags.rules_table(session)


@router.get("/calendar", response_model=list[schemas.CalendarRow])
def list_calendar(session: SessionDep, year: Annotated[int, Query(ge=2000, le=2100)]) -> list[dict[str, Any]]:
    """The year's rest days that are not weekends and weekends that are working days (调休上班)."""
    return tags.calendar(session, year)


@router.post("/calendar", response_model=schemas.CalendarRow, status_code=201)
def add_calendar_day(session: SessionDep, request: Request, body: schemas.CalendarDayIn) -> dict[str, Any]:
    """The center's own rest or working day (over the State Council's calendar); audit-logged."""
    row = tags.set_day(session, body.day, body.rest, body.note, actor=actor(request))
    return {"day": row.day, "rest": row.rest, "source": "local"}


@router.get("/tracker-checks", response_model=list[schemas.TrackerCheckPublic])
def list_tracker_checks(
    session: SessionDep, device_id: str | None = None
) -> list[schemas.TrackerCheckPublic]:
    """检修 records, newest first (of one tracker with `device_id`)."""
    stmt = select(TrackerCheck).order_by(col(TrackerCheck.checked_on).desc())
    if device_id:
        stmt = stmt.where(TrackerCheck.device_id == device_id)
    return [schemas.TrackerCheckPublic.model_validate(c) for c in session.exec(stmt.limit(1000)).all()]


@router.post("/tracker-checks", response_model=schemas.TrackerCheckPublic, status_code=201)
def record_tracker_check(
    session: SessionDep, request: Request, body: schemas.TrackerCheckIn
) -> schemas.TrackerCheckPublic:
    """Record a check (or import many: `POST /api/v1/imports/tracker-checks`)."""
    check = service.record_tracker_check(session, **body.model_dump(), actor=actor(request))
    return schemas.TrackerCheckPublic.model_validate(check)


@router.get("/reports/trackers", response_model=list[schemas.TrackerRow])
def tracker_report(session: SessionDep) -> list[dict[str, Any]]:
    """Per tracker: last fix, last check, next check due (overdue first), silent since, replacements."""
    from core.timeutil import china_day

    return queries.tracker_report(session, china_day(utcnow()))


# --- reports ------------------------------------------------------------------------------------------


@router.get("/reports/units", response_model=schemas.UnitReport)
def unit_report(
    session: SessionDep, month: Annotated[str, Query(description="YYYY-MM", examples=["2024-06"])]
) -> dict[str, Any]:
    """Per unit for one month: vehicles, trips, km, covered and unreported trips, reporting rate, idle
    vehicles, silent trackers, expenses."""
    return queries.unit_report(session, month)


@router.get("/reports/bulletin", response_model=schemas.Bulletin)
def bulletin(
    session: SessionDep,
    month: Annotated[str, Query(description="YYYY-MM")],
    threshold: Annotated[
        float | None, Query(ge=0, le=1, description="default GONGWU_BULLETIN_THRESHOLD")
    ] = None,
) -> dict[str, Any]:
    """通报: units under the reporting-rate threshold, worst first."""
    return queries.bulletin(session, month, threshold)


@router.get("/reports/trends", response_model=schemas.Trends)
def trends(
    session: SessionDep,
    scope: ScopeDep,
    first: Annotated[str, Query(alias="from", description="YYYY-MM", examples=["2026-01"])],
    last: Annotated[str, Query(alias="to", description="YYYY-MM", examples=["2026-12"])],
) -> dict[str, Any]:
    """Km, trips and running cost by month per unit and for the county, and each car's utilisation
    (working days with trips / working days); a unit's staff see their own unit."""
    return queries.trends(
        session, queries.parse_month(first), queries.parse_month(last), scope, china_day(utcnow())
    )


@router.get("/reports/costs", response_model=schemas.CostReport)
def costs_report(
    session: SessionDep,
    scope: ScopeDep,
    year: Annotated[int, Query(ge=2000, le=2100)],
    compare: Annotated[int | None, Query(ge=2000, le=2100, description="the year to compare with")] = None,
) -> dict[str, Any]:
    """运行费用 of a year per car, unit and county (fuel, maintenance, insurance, tolls, meals, other in fen;
    per car, per km, per trip), with another year and the change; a unit's staff see their unit."""
    return queries.costs_report(session, year, scope, compare)


@router.get("/reports/disposals", response_model=list[schemas.DisposalRow])
def disposals_report(session: SessionDep, scope: ScopeDep) -> list[dict[str, Any]]:
    """车辆处置: the cars in disposal or through it, the day and paper of each stage, the days in each."""
    from core.timeutil import china_day

    return queries.disposals(session, scope, china_day(utcnow()))


@router.get("/reports/expenses", response_model=schemas.ExpenseSheet)
def expense_sheet(session: SessionDep, year: int) -> dict[str, Any]:
    """出行费用单 of a year, one row per order, and the operating cost and cost per km per vehicle."""
    return queries.expense_sheet(session, year)
