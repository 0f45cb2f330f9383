"""The order pages (#19): 我要用车 (a unit asks for a car), 我的申请, 待我审批 (the unit's approver, then the
center, decide in place), 派车 (the center sends today's and tomorrow's orders out, against a timeline of
its cars), 我的任务 (a driver's orders and their return form), an order's own page, and the reply a unit
gives to its flag. Every change goes through fleet.service, as the API's do; pages are cards, so a 390 px
phone reads them without scrolling sideways."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session, col, func, select

from accounts.access import ScopeDep, UnitScope, actor
from core.api import SessionDep
from core.errors import GongwuError, NotFound, ValidationFailed
from core.models import Unit
from core.timeutil import as_utc, day_bounds, to_china, utcnow
from fleet import queries, rules, service
from fleet.models import Driver, Flag, FlagKind, OrderStatus, Trip, TripOrder, Vehicle
from fleet.schemas import FlagFilter
from gongwu.web.common import FormState, PageRoute, can, i18n, principal_of, render, today
from gongwu.web.i18n import I18n

router = APIRouter(include_in_schema=False, route_class=PageRoute)

LIVE = (OrderStatus.approved, OrderStatus.dispatched)
ODOMETER_TOLERANCE = 0.10  # the order page marks GPS km and odometer km that differ by more


# --- form values --------------------------------------------------------------------------------------


def _when(value: str) -> datetime | None:
    """A datetime-local field (China time) → UTC, or None when empty or malformed."""
    try:
        return as_utc(datetime.fromisoformat(value.strip())) if value.strip() else None
    except ValueError:
        return None


def _fen(value: str) -> int | None:
    """Yuan as typed (¥12.50) → integer fen; None when empty; ValueError when not an amount."""
    text = value.strip().replace("¥", "").replace(",", "")
    if not text:
        return None
    amount = Decimal(text)
    if amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise InvalidOperation
    return int(amount * 100)


def _whole(value: str) -> int | None:
    """A form's whole number (ASCII digits only: `int` would take ² or ٣), or None."""
    text = value.strip()
    return int(text) if text.isascii() and text.isdigit() else None


def _local(value: datetime | None) -> str:
    """For a datetime-local field's value."""
    return "" if value is None else to_china(value).strftime("%Y-%m-%dT%H:%M")


# --- 我要用车 --------------------------------------------------------------------------------------------


def _request_choices(session: Session, scope: UnitScope) -> dict[str, Any]:
    vehicles = session.exec(
        scope.apply(select(Vehicle).where(Vehicle.status == "in_service"), Vehicle.unit_id).order_by(
            col(Vehicle.plate)
        )
    ).all()
    units = queries.units_in_scope(session, scope)
    return {"vehicles": vehicles, "units": units}


def _render_request(request: Request, session: Session, scope: UnitScope, form: FormState) -> HTMLResponse:
    return render(
        request,
        session,
        "order_new.html",
        {"form": form, "restricted": scope.restricted, **_request_choices(session, scope)},
        section="order_new",
        status=422 if form.errors or form.message else 200,
    )


@router.get("/orders/new", response_class=HTMLResponse)
def request_page(request: Request, session: SessionDep, scope: ScopeDep) -> HTMLResponse:
    start = datetime.combine(today() + timedelta(days=1), datetime.min.time()).replace(hour=8, minute=30)
    values = {"planned_start_at": start.strftime("%Y-%m-%dT%H:%M"), "passengers": "1"}
    values["planned_end_at"] = (start + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M")
    return _render_request(request, session, scope, FormState(values=values))


@router.post("/orders/new", response_class=HTMLResponse)
def request_submit(
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    purpose: Annotated[str, Form(max_length=500)] = "",
    destination: Annotated[str, Form(max_length=200)] = "",
    passengers: Annotated[str, Form()] = "1",
    planned_start_at: Annotated[str, Form()] = "",
    planned_end_at: Annotated[str, Form()] = "",
    out_of_county: Annotated[str, Form()] = "",
    vehicle_id: Annotated[str, Form()] = "",
    unit_id: Annotated[str, Form()] = "",
) -> Response:
    """A request (`submitted`): the form comes back with what was typed and the problem beside its field."""
    t = i18n(request)
    principal = principal_of(request)
    assert principal is not None
    form = FormState(
        values={
            "purpose": purpose, "destination": destination, "passengers": passengers,
            "planned_start_at": planned_start_at, "planned_end_at": planned_end_at,
            "out_of_county": out_of_county, "vehicle_id": vehicle_id, "unit_id": unit_id,
        }
    )  # fmt: skip
    start, end = _when(planned_start_at), _when(planned_end_at)
    if not purpose.strip():
        form.errors["purpose"] = t("请填写出行事由")
    if not destination.strip():
        form.errors["destination"] = t("请填写目的地")
    if start is None:
        form.errors["planned_start_at"] = t("请填写出发时间")
    if end is None:
        form.errors["planned_end_at"] = t("请填写返回时间")
    elif start is not None and end <= start:
        form.errors["planned_end_at"] = t("返回时间须晚于出发时间")
    if not 1 <= (_whole(passengers) or 0) <= 60:
        form.errors["passengers"] = t("乘车人数须为 1 到 60 的整数")
    car = _whole(vehicle_id)
    unit = principal.unit_id if scope.restricted else _whole(unit_id)
    if car is not None:
        vehicle = session.get(Vehicle, car)
        if vehicle is None or not scope.allows(vehicle.unit_id):
            form.errors["vehicle_id"] = t("只能选择本单位的车辆")
        elif unit is None:
            unit = vehicle.unit_id
    if unit is None and "vehicle_id" not in form.errors:
        form.errors["unit_id"] = t("请选择用车单位")
    if form.errors:
        return _render_request(request, session, scope, form)
    assert start is not None and end is not None
    try:
        with session.begin_nested():
            order = service.create_order(
                session, vehicle_id=car, unit_id=unit, purpose=purpose, destination=destination,
                passengers=_whole(passengers) or 1, planned_start_at=start, planned_end_at=end,
                out_of_county=bool(out_of_county), applicant=principal.username,
                requested_by=principal.username, status=OrderStatus.submitted, actor=actor(request),
            )  # fmt: skip
    except GongwuError as exc:
        form.message = exc.message
        return _render_request(request, session, scope, form)
    return RedirectResponse(f"/orders/{order.id}?done=submitted", status_code=303)


# --- lists of orders as cards -------------------------------------------------------------------------


def _cards(session: Session, orders: list[TripOrder]) -> list[dict[str, Any]]:
    """Orders with what a card shows: plate, unit, decisions, whom it waits for, why the center too."""
    ids = [o.id for o in orders if o.id is not None]
    approvals = service.approvals_by_order(session, ids)
    plates = dict(
        session.exec(
            select(Vehicle.id, Vehicle.plate).where(col(Vehicle.id).in_({o.vehicle_id for o in orders}))
        ).all()
    )
    units = dict(
        session.exec(select(Unit.id, Unit.name).where(col(Unit.id).in_({o.unit_id for o in orders}))).all()
    )
    out = []
    for o in orders:
        decided = approvals.get(o.id or 0, [])
        level = service.pending_level(session, o, decided)
        out.append(
            {
                "order": o,
                "plate": plates.get(o.vehicle_id) if o.vehicle_id else None,
                "unit": units.get(o.unit_id, ""),
                "approvals": decided,
                "level": level,
                "awaiting": rules.awaiting(o.status, level, o.late_for_flag_id is not None),
                "center_reasons": service.center_reasons_of(o),
            }
        )
    return out


@router.get("/orders/mine", response_class=HTMLResponse)
def my_orders(request: Request, session: SessionDep, scope: ScopeDep) -> HTMLResponse:
    """我的申请: what this user asked for, newest first, with where each stands."""
    principal = principal_of(request)
    assert principal is not None
    stmt = scope.apply(select(TripOrder), TripOrder.unit_id).where(
        TripOrder.requested_by == principal.username
    )
    orders = list(session.exec(stmt.order_by(col(TripOrder.planned_start_at).desc()).limit(100)).all())
    return render(
        request, session, "orders_mine.html", {"cards": _cards(session, orders)}, section="orders_mine"
    )


def awaiting_me(session: Session, request: Request, scope: UnitScope) -> list[TripOrder]:
    """The submitted orders whose next level this user decides: a unit's approver level 1 of their unit,
    the center (a vehicle manager, an admin) level 2."""
    principal = principal_of(request)
    if principal is None:
        return []
    stmt = scope.apply(select(TripOrder), TripOrder.unit_id).where(TripOrder.status == OrderStatus.submitted)
    if principal.role == "unit_approver":
        stmt = stmt.where(TripOrder.unit_id == principal.unit_id)
    elif principal.role not in ("vehicle_manager", "admin"):
        return []
    orders = list(session.exec(stmt.order_by(col(TripOrder.planned_start_at)).limit(500)).all())
    decided = service.approvals_by_order(session, [o.id for o in orders if o.id is not None])
    mine = 1 if principal.role == "unit_approver" else 2
    return [o for o in orders if service.pending_level(session, o, decided.get(o.id or 0, [])) == mine]


@router.get("/orders/approvals", response_class=HTMLResponse)
def approvals_page(request: Request, session: SessionDep, scope: ScopeDep) -> HTMLResponse:
    """待我审批: each order with the trip it is for (a late order), the unit's open flags, and the
    approve / reject form in place."""
    cards = _cards(session, awaiting_me(session, request, scope))
    for card in cards:
        order = card["order"]
        card["flags"] = queries.flag_rows(session, FlagFilter(unit=order.unit_id, status="open"), limit=5)[0]
        card["trip"] = None
        if order.late_for_flag_id:
            flag = session.get(Flag, order.late_for_flag_id)
            card["trip"] = session.get(Trip, flag.trip_id) if flag and flag.trip_id else None
    done = request.query_params.get("done", "")
    return render(
        request, session, "orders_approvals.html", {"cards": cards, "done": done}, section="orders_approvals"
    )


def _decide(
    request: Request, session: Session, scope: UnitScope, order_id: int, decision: str, comment: str
) -> Response:
    principal = principal_of(request)
    assert principal is not None
    order = session.get(TripOrder, order_id)
    if order is None or not scope.allows(order.unit_id):
        raise NotFound(i18n(request)("申请单不存在"))
    service.decide_order(
        session, order_id, decision, actor=actor(request), role=principal.role, unit_id=principal.unit_id,
        comment=comment,
    )  # fmt: skip
    return RedirectResponse(f"/orders/approvals?done={decision}", status_code=303)


@router.post("/orders/{order_id}/approve", response_class=HTMLResponse)
def approve(
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    order_id: int,
    comment: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    return _decide(request, session, scope, order_id, "approved", comment)


@router.post("/orders/{order_id}/reject", response_class=HTMLResponse)
def reject(
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    order_id: int,
    comment: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if not comment.strip():
        raise ValidationFailed(i18n(request)("驳回须写明理由"))
    return _decide(request, session, scope, order_id, "rejected", comment)


# --- 派车 ----------------------------------------------------------------------------------------------


def free_drivers(session: Session, start: datetime, end: datetime, order_id: int | None) -> list[Driver]:
    """Drivers in service and on no other approved or dispatched order overlapping [start, end)."""
    busy = select(TripOrder.driver_id).where(
        col(TripOrder.driver_id).is_not(None),
        col(TripOrder.id) != (order_id or 0),
        col(TripOrder.status).in_(LIVE),
        col(TripOrder.planned_start_at) < end,
        col(TripOrder.planned_end_at) > start,
    )
    stmt = select(Driver).where(Driver.is_active == True, col(Driver.id).not_in(busy))  # noqa: E712
    return list(session.exec(stmt.order_by(col(Driver.unit_id), col(Driver.name))).all())


def _timeline(t: I18n, session: Session, lo: datetime, hi: datetime, by: str = "car") -> list[dict[str, Any]]:
    """The cars (or the drivers) out or promised in [lo, hi): one row each, a bar per order, placed by
    percent of the two days."""
    key: Any = Vehicle.plate if by == "car" else Driver.name
    orders = session.exec(
        select(TripOrder, key)
        .outerjoin(Vehicle, col(Vehicle.id) == col(TripOrder.vehicle_id))
        .outerjoin(Driver, col(Driver.id) == col(TripOrder.driver_id))
        .where(
            col(TripOrder.status).in_((*LIVE, OrderStatus.returned)),
            col(TripOrder.planned_start_at) < hi,
            col(TripOrder.planned_end_at) > lo,
        )
        .order_by(key, col(TripOrder.planned_start_at))
    ).all()
    span = (hi - lo).total_seconds()
    rows: dict[str, list[dict[str, Any]]] = {}
    for order, plate in orders:
        a, b = max(order.planned_start_at, lo), min(order.planned_end_at, hi)
        rows.setdefault(plate or (t("未派车") if by == "car" else t("未定驾驶员")), []).append(
            {
                "order": order,
                "left": round((a - lo).total_seconds() / span * 100, 2),
                "width": max(round((b - a).total_seconds() / span * 100, 2), 1.0),
                "label": f"{order.order_no} {t.time(order.planned_start_at)}–{t.time(order.planned_end_at)}",
            }
        )
    return [{"plate": plate, "bars": bars} for plate, bars in rows.items()]


def _dispatch_days() -> tuple[datetime, datetime]:
    lo = day_bounds(today())[0]
    return lo, lo + timedelta(days=2)


def _to_dispatch(lo: datetime, hi: datetime) -> list[Any]:
    """What 派车 lists (and the home page counts): approved orders of [lo, hi), and later ones without a
    car; never a late order, which is for a trip made already."""
    return [
        TripOrder.status == OrderStatus.approved,
        col(TripOrder.late_for_flag_id).is_(None),
        col(TripOrder.planned_end_at) >= lo,
        (col(TripOrder.planned_start_at) < hi) | col(TripOrder.vehicle_id).is_(None),
    ]


@router.get("/orders/dispatch", response_class=HTMLResponse)
def dispatch_page(request: Request, session: SessionDep, scope: ScopeDep) -> HTMLResponse:
    """派车: the approved orders of today and tomorrow (and any later one still without a car), each with
    the cars free in its window — its own first — and the drivers free then; the timeline of both days."""
    t = i18n(request)
    lo, hi = _dispatch_days()
    stmt = select(TripOrder).where(*_to_dispatch(lo, hi))
    orders = list(session.exec(stmt.order_by(col(TripOrder.planned_start_at)).limit(200)).all())
    now = utcnow()
    cards = _cards(session, orders)
    for card in cards:
        o = card["order"]
        free = queries.available_vehicles(
            session, scope, o.planned_start_at, o.planned_end_at, o.unit_id, now
        )
        if o.vehicle_id is not None and all(r["vehicle"].id != o.vehicle_id for r in free):
            own = session.get(Vehicle, o.vehicle_id)
            if own is not None:
                free.insert(0, {"vehicle": own, "last_fix": None, "reasons": ["requested"]})
        card["cars"] = free
        card["drivers"] = free_drivers(session, o.planned_start_at, o.planned_end_at, o.id)
    return render(
        request,
        session,
        "orders_dispatch.html",
        {
            "cards": cards,
            "timeline": _timeline(t, session, lo, hi),
            "driver_timeline": _timeline(t, session, lo, hi, by="driver"),
            "days": [today(), today() + timedelta(days=1)],
            "done": request.query_params.get("done", ""),
        },
        section="orders_dispatch",
    )


@router.post("/orders/{order_id}/dispatch", response_class=HTMLResponse)
def dispatch(
    request: Request,
    session: SessionDep,
    order_id: int,
    vehicle_id: Annotated[str, Form()] = "",
    driver_id: Annotated[str, Form()] = "",
) -> Response:
    service.dispatch_order(
        session,
        order_id,
        vehicle_id=_whole(vehicle_id),
        driver_id=_whole(driver_id),
        actor=actor(request),
    )
    return RedirectResponse("/orders/dispatch?done=dispatched", status_code=303)


# --- 我的任务 ------------------------------------------------------------------------------------------


def my_tasks(session: Session, request: Request) -> list[TripOrder]:
    """A driver's dispatched orders; for the center, every dispatched order not back yet."""
    principal = principal_of(request)
    if principal is None:
        return []
    stmt = select(TripOrder).where(TripOrder.status == OrderStatus.dispatched)
    if principal.role == "driver":
        me = service.driver_of(session, principal.user_id)
        if me is None:
            return []
        stmt = stmt.where(TripOrder.driver_id == me.id)
    return list(session.exec(stmt.order_by(col(TripOrder.planned_start_at)).limit(200)).all())


def _render_tasks(
    request: Request, session: Session, form: FormState | None = None, failed: int | None = None
) -> HTMLResponse:
    principal = principal_of(request)
    assert principal is not None
    linked = principal.role != "driver" or service.driver_of(session, principal.user_id) is not None
    return render(
        request,
        session,
        "orders_tasks.html",
        {
            "cards": _cards(session, my_tasks(session, request)),
            "linked": linked,
            "form": form or FormState(),
            "failed": failed,
            "done": request.query_params.get("done", ""),
            "now_local": _local(utcnow()),
        },
        section="orders_tasks",
        status=422 if failed is not None else 200,
    )


@router.get("/orders/tasks", response_class=HTMLResponse)
def tasks_page(request: Request, session: SessionDep) -> HTMLResponse:
    return _render_tasks(request, session)


@router.post("/orders/{order_id}/return", response_class=HTMLResponse)
def return_submit(
    request: Request,
    session: SessionDep,
    order_id: int,
    returned_at: Annotated[str, Form()] = "",
    odometer_km: Annotated[str, Form()] = "",
    tolls: Annotated[str, Form()] = "",
    fuel: Annotated[str, Form()] = "",
    meal_allowance: Annotated[str, Form()] = "",
    other: Annotated[str, Form()] = "",
) -> Response:
    """The return form of 我的任务: the actual time, the odometer's km, the expenses in yuan."""
    t = i18n(request)
    principal = principal_of(request)
    assert principal is not None
    values = {"returned_at": returned_at, "odometer_km": odometer_km, "tolls": tolls, "fuel": fuel,
              "meal_allowance": meal_allowance, "other": other}  # fmt: skip
    form = FormState(values=values)
    back = _when(returned_at)
    if back is None:
        form.errors["returned_at"] = t("请填写还车时间")
    km = None
    if odometer_km.strip():
        if _whole(odometer_km) is None:
            form.errors["odometer_km"] = t("里程须为整数公里")
        else:
            km = _whole(odometer_km)
    money: dict[str, int | None] = {}
    for name in ("tolls", "fuel", "meal_allowance", "other"):
        try:
            money[f"{name}_fen"] = _fen(values[name])
        except (InvalidOperation, ValueError):
            form.errors[name] = t("金额应为元，最多两位小数，如 35.50")
    if not form.errors:
        assert back is not None
        try:
            with session.begin_nested():
                service.return_order(
                    session, order_id, returned_at=back, odometer_km=km, expenses=money, actor=actor(request),
                    driver_account=principal.user_id if principal.role == "driver" else None,
                )  # fmt: skip
            return RedirectResponse(f"/orders/{order_id}?done=returned", status_code=303)
        except GongwuError as exc:
            if exc.status_code == 403:
                raise
            form.message = exc.message
    return _render_tasks(request, session, form, failed=order_id)


# --- an order -----------------------------------------------------------------------------------------


def km_check(gps_km: float, odometer_km: int | None) -> float | None:
    """How far the odometer's km are from the GPS km of the covered trips, as a share of the odometer's
    (None without a reading)."""
    if odometer_km is None or odometer_km <= 0:
        return None
    return abs(gps_km - odometer_km) / odometer_km


@router.get("/orders/{order_id}", response_class=HTMLResponse)
def order_page(request: Request, session: SessionDep, scope: ScopeDep, order_id: int) -> HTMLResponse:
    """An order: where it stands, its decisions and history, its covered trips' GPS km against the
    odometer's km (a difference over 10 % is marked), its expense sheet."""
    principal = principal_of(request)
    order = session.get(TripOrder, order_id)
    mine = (
        principal is not None
        and principal.role == "driver"
        and order is not None
        and order.status in (OrderStatus.dispatched, OrderStatus.returned)
        and (me := service.driver_of(session, principal.user_id)) is not None
        and me.id == order.driver_id
    )
    readable = order is not None and can(request, "fleet:read") and scope.allows(order.unit_id)
    if order is None or not (readable or mine):
        raise NotFound(i18n(request)("申请单不存在"))
    card = _cards(session, [order])[0]
    trips = list(
        session.exec(select(Trip).where(Trip.order_id == order_id).order_by(col(Trip.start_at))).all()
    )
    gps_km = round(sum(tr.distance_m for tr in trips) / 1000, 1)
    off = km_check(gps_km, order.odometer_km)
    expense = service.get_expense(session, order_id)
    total = service.expense_total_fen(expense)
    from fleet.routes import order_history

    events = order_history(session, scope, order_id)["events"] if readable else []
    return render(
        request,
        session,
        "order.html",
        {
            "card": card,
            "o": order,
            "trips": trips,
            "gps_km": gps_km,
            "off": off,
            "off_limit": ODOMETER_TOLERANCE,
            "expense": expense,
            "total_yuan": queries.yuan(total),
            "yuan": queries.yuan,
            "events": events,
            "done": request.query_params.get("done", ""),
        },
        section="orders_mine",
    )


# --- a unit answers its flag ----------------------------------------------------------------------------


@router.post("/flags/{flag_id}/replies", response_class=HTMLResponse)
def reply(
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    flag_id: int,
    text: Annotated[str, Form(max_length=2000)] = "",
    late: Annotated[str, Form()] = "",
    purpose: Annotated[str, Form(max_length=500)] = "",
    destination: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """情况说明 and/or 补报 from the flag page; the late order then waits for its approvals."""
    flag = session.get(Flag, flag_id)
    if flag is None or not scope.allows(flag.unit_id):
        raise NotFound(i18n(request)("预警不存在"))
    late_order = {"purpose": purpose, "destination": destination} if late else None
    service.reply_to_flag(session, flag_id, text=text, late_order=late_order, actor=actor(request))
    return RedirectResponse(f"/flags/{flag_id}?replied=1", status_code=303)


# --- the home page's to-do counts ------------------------------------------------------------------------


def todo_counts(session: Session, request: Request, scope: UnitScope) -> list[tuple[str, str, int]]:
    """(label, link, count) of what waits for this user: approvals, dispatches, returns, flags to answer,
    their own requests in progress."""
    out: list[tuple[str, str, int]] = []
    if can(request, "orders:approve"):
        out.append(("待我审批", "/orders/approvals", len(awaiting_me(session, request, scope))))
    if can(request, "orders:dispatch"):
        waiting = session.exec(select(func.count()).where(*_to_dispatch(*_dispatch_days()))).one()
        out.append(("待派车", "/orders/dispatch", int(waiting)))
    if can(request, "orders:return"):
        out.append(("待还车", "/orders/tasks", len(my_tasks(session, request))))
    if can(request, "flags:reply") and scope.restricted:
        open_flags = queries.flag_rows(
            session, FlagFilter(kind=FlagKind.unreported_trip, unit=scope.unit_id, status="open"), limit=0
        )[1]
        out.append(("待答复预警", "/flags?kind=unreported_trip&status=open", int(open_flags)))
    principal = principal_of(request)
    if can(request, "orders:request") and principal is not None:
        mine = session.exec(
            select(func.count()).where(
                TripOrder.requested_by == principal.username,
                col(TripOrder.status).in_((OrderStatus.submitted, *LIVE)),
            )
        ).one()
        out.append(("我的申请（进行中）", "/orders/mine", int(mine)))
    return out
