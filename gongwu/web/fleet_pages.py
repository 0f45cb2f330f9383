"""The vehicle manager's pages: the flag queue with in-place and bulk review, a flag, the vehicles, a
vehicle, a trip drawn from its stored fixes, the unit report and the bulletin with their Excel export.

Reads go through the fleet module's own queries (`queries.flag_rows`, `routes.get_flag`,
`trips.load_fixes`, `queries.unit_report`…); a unit viewer's scope is applied as the API applies it."""

from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import func
from sqlmodel import Session, col, select

from accounts.access import ScopeDep, UnitScope, actor
from core.api import SessionDep
from core.errors import NotFound, ValidationFailed
from core.i18n import tr
from core.models import Unit
from core.settings import get_settings
from core.tabular import Col
from core.timeutil import day_bounds, to_ts, utcnow
from fleet import compliance, flags, queries, reconcile, tags, trackers
from fleet import routes as fleet_routes
from fleet import service as fleet_service
from fleet.models import FLAG_KINDS, Flag, Place, Stop, Trip, TripOrder, Vehicle
from fleet.schemas import TripFilter, VehicleFilter
from fleet.trips import load_fixes, trips_of_day
from gongwu.web import charts, maps
from gongwu.web.common import (
    PAGE_SIZE,
    Listing,
    Order,
    PageRoute,
    can,
    columns,
    i18n,
    is_htmx,
    listing,
    local_path,
    order,
    pager,
    render,
    today,
    with_query,
    xlsx_response,
)
from gongwu.web.i18n import FLAG_STATUS, REVIEW, TRIP_TAG, I18n, flag_summary

router = APIRouter(include_in_schema=False, route_class=PageRoute)

TRIP_DAYS = 30  # the vehicle page's trips-by-day window


# --- small parsers: form fields arrive as text, an empty field means "any" -------------------------------


def opt_int(value: str | None, name: str) -> int | None:
    if value is None or value.strip() == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValidationFailed(
            tr(f"{name} 须为整数，不是 '{value}'", f"{name} must be a whole number, not '{value}'")
        ) from None


def opt_date(value: str | None, name: str) -> date | None:
    if value is None or value.strip() == "":
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(
            tr(f"{name} 日期格式应为 2024-06-01", f"{name}: a date looks like 2024-06-01")
        ) from None


units_in_scope = queries.units_in_scope


# --- the flag queue -------------------------------------------------------------------------------------


def queue_filter(params: Mapping[str, str], scope: UnitScope) -> tuple[queries.FlagFilter, dict[str, Any]]:
    """The queue's filter from its query parameters; a unit viewer's unit replaces any unit asked for.
    `status` defaults to open (待审核); `all` lists every flag."""
    status = params.get("status", "open") or "open"
    unit = opt_int(params.get("unit"), "unit")
    chosen = {
        "kind": params.get("kind") or "",
        "unit": "" if unit is None else str(unit),
        "status": status,
        "from": params.get("from") or "",
        "to": params.get("to") or "",
        "plate": (params.get("plate") or "").strip()[:16],
    }
    f = queries.FlagFilter(
        kind=chosen["kind"] or None,
        unit=scope.unit_id if scope.restricted else unit,
        status=None if status == "all" else status,
        date_from=opt_date(chosen["from"], "from"),
        date_to=opt_date(chosen["to"], "to"),
        plate=chosen["plate"] or None,
    )
    return f, chosen


def _with_id(f: queries.FlagFilter, flag_id: int) -> queries.FlagFilter:
    return f.model_copy(update={"id": flag_id})


open_counts = queries.open_counts


def flag_order(request: Request) -> Order:
    """The queue's columns sort it; until one is clicked it is high severity first, then newest."""
    return order(request, list(queries.FLAG_ORDER), "")


def _sql_order(o: Order) -> tuple[str, bool] | None:
    return (o.key, o.desc) if o.key else None


@router.get("/flags", response_class=HTMLResponse)
def flag_queue(request: Request, session: SessionDep, scope: ScopeDep, page: int = 1) -> HTMLResponse:
    f, chosen = queue_filter(request.query_params, scope)
    total = queries.flag_rows(session, f, limit=0)[1]
    pg = pager(request, page, total)
    o = flag_order(request)
    rows, _ = queries.flag_rows(session, f, limit=PAGE_SIZE, offset=pg.offset, order=_sql_order(o))
    return render(
        request,
        session,
        "flags.html",
        {
            "rows": rows,
            "pager": pg,
            "order": o,
            "chosen": chosen,
            "units": units_in_scope(session, scope),
            "restricted": scope.restricted,
            "kinds": FLAG_KINDS,
            "statuses": [*FLAG_STATUS, "all"],
            "reviews": REVIEW,
            "counts": open_counts(session, scope),
            "here": with_query(request),
            "reviewed": opt_int(request.query_params.get("reviewed"), "reviewed"),
            "msg": request.query_params.get("msg", ""),
        },
        section="flags",
    )


EXPORT_MAX = 20_000  # rows in one download: a year of a county's flags


@router.get("/flags.xlsx")
def flag_queue_xlsx(request: Request, session: SessionDep, scope: ScopeDep) -> Response:
    """The queue as filtered, every page of it."""
    t = i18n(request)
    f, _ = queue_filter(request.query_params, scope)
    rows, _ = queries.flag_rows(session, f, limit=EXPORT_MAX, order=_sql_order(flag_order(request)))
    columns = [
        Col(t("编号"), "int"), Col(t("类型")), Col(t("车牌号")), Col(t("单位")),
        Col(t("开始")), Col(t("说明")), Col(t("里程（公里）"), "km", total=True),
        Col(t("出行申请")), Col(t("状态")), Col(t("审核意见")),
    ]  # fmt: skip
    out = [
        dict(zip([c.header for c in columns], [
            r["id"], t.kind(r["kind"]), r["plate"], r["unit"], t.flag_when(r["kind"], r["start_at"]),
            flag_summary(t, r["kind"], r["detail"], r["trip_km"]), r["trip_km"], r["order_no"],
            t.status(r["status"]), r.get("review_comment") or "",
        ], strict=True))
        for r in rows
    ]  # fmt: skip
    return xlsx_response(t, columns, out, title=t("预警队列"), filename=f"{t('预警队列')}-{today()}.xlsx")


def _flag_in_scope(session: Session, scope: UnitScope, flag_id: int) -> Flag:
    flag = session.get(Flag, flag_id)
    if flag is None or not scope.allows(flag.unit_id):
        raise NotFound(tr(f"预警 {flag_id} 不存在", f"flag {flag_id} not found"))
    return flag


@router.post("/flags/{flag_id}/review", response_class=HTMLResponse)
def review_flag(
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    flag_id: int,
    status: Annotated[str, Form()] = "",
    comment: Annotated[str, Form(max_length=2000)] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Review one flag. From the queue (htmx) the answer is its row again — or, when the review moved it
    out of the queue's filter, a line saying so — and the queue's new total."""
    t = i18n(request)
    _flag_in_scope(session, scope, flag_id)
    if not status:
        raise ValidationFailed(t("请选择审核结论"))
    flags.review_flag(session, flag_id, status, comment, actor(request))
    back = local_path(next, "/flags")
    if not is_htmx(request):
        return RedirectResponse(_add_query(back, reviewed=1), status_code=303)
    query = dict(parse_qsl(urlsplit(back).query))
    f, _ = queue_filter(query, scope)
    still = queries.flag_rows(session, _with_id(f, flag_id))[0]
    done = queries.flag_rows(session, queries.FlagFilter(id=flag_id))[0][0]
    total = queries.flag_rows(session, f, limit=0)[1]
    return render(
        request,
        session,
        "_flag_row.html",
        {
            "row": still[0] if still else None,
            "done": done,
            "reviews": REVIEW,
            "here": back,
            "oob_total": total,
            "oob_counts": open_counts(session, scope),  # the kind tabs' open counts
        },
    )


@router.post("/flags/review", response_class=HTMLResponse)
def review_flags(
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    ids: Annotated[list[int], Form()] = [],  # noqa: B006 (FastAPI copies defaults)
    status: Annotated[str, Form()] = "",
    comment: Annotated[str, Form(max_length=2000)] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """The same review for the selected flags, all or nothing; back to the queue as it was filtered."""
    t = i18n(request)
    back = local_path(next, "/flags")
    if not ids:
        return RedirectResponse(_add_query(back, msg="none_selected"), status_code=303)
    if not status:
        raise ValidationFailed(t("请选择审核结论"))
    if scope.restricted:
        for flag_id in ids:
            _flag_in_scope(session, scope, flag_id)
    flags.review_flags(session, ids, status, comment, actor(request))
    return RedirectResponse(_add_query(back, reviewed=len(set(ids))), status_code=303)


def _add_query(path: str, **params: Any) -> str:
    parts = urlsplit(path)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in params and k not in ("reviewed", "msg")]
    query += [(k, str(v)) for k, v in params.items()]
    return parts.path + "?" + urlencode(query)


@router.get("/flags/{flag_id}", response_class=HTMLResponse)
def flag_page(request: Request, session: SessionDep, scope: ScopeDep, flag_id: int) -> HTMLResponse:
    flag = _flag_in_scope(session, scope, flag_id)
    detail = fleet_routes.get_flag(session, scope, flag_id)
    return render(
        request,
        session,
        "flag.html",
        {
            "flag": detail,
            "map_data": _flag_map(request, session, i18n(request), flag),
            "arrived": _flag_arrival(session, flag),
            "reviews": REVIEW,
            "here": request.url.path,
            "can_reply": can(request, "flags:reply") and detail.kind == "unreported_trip",
            "last_check": queries.last_check(session, detail.vehicle.tracker_id)
            if detail.kind == "silent_tracker"
            else None,
            "replied": request.query_params.get("replied") == "1",
            "reassigned": request.query_params.get("reassigned") == "1",
        },
        section="flags",
    )


def _flag_arrival(session: Session, flag: Flag) -> str:
    """Where the flag's trip ended, as its place names it ('' without a trip or a named stop)."""
    trip = session.get(Trip, flag.trip_id) if flag.trip_id is not None else None
    return _arrival_places(session, [trip]).get(trip.id or 0, "") if trip is not None else ""


def _flag_map(request: Request, session: Session, t: I18n, flag: Flag) -> dict[str, Any] | None:
    """A small map where the flag has a place: its trip's track, or the spot it is about (a stop at a
    sensitive place, the car at night away from home); None for a flag about no place (idle, silent)."""
    shift = maps.Shift(maps.settings_of(request))
    if flag.trip_id is not None:
        trip = session.get(Trip, flag.trip_id)
        if trip is not None:
            fixes = load_fixes(session, trip.device_id, to_ts(trip.start_at), to_ts(trip.end_at))
            return maps.map_data(session, request, t, tracks=[maps.track(t, fixes, shift)])
    lat, lon = flag.detail.get("lat"), flag.detail.get("lon")
    if isinstance(lat, int | float) and isinstance(lon, int | float):
        where = flag.detail.get("place") or t.kind(flag.kind)
        marker = {"lat": float(lat), "lon": float(lon), "kind": "flag", "title": str(where)}
        return maps.map_data(session, request, t, markers=[marker])
    return None


@router.post("/flags/{flag_id}/reassign", response_class=HTMLResponse)
def reassign_flag_order(request: Request, session: SessionDep, scope: ScopeDep, flag_id: int) -> Response:
    """改派 from the flag page: the wrong_vehicle flag's order goes to the car that drove."""
    _flag_in_scope(session, scope, flag_id)
    fleet_service.reassign_order(session, flag_id, actor(request))
    return RedirectResponse(f"/flags/{flag_id}?reassigned=1", status_code=303)


# --- vehicles -------------------------------------------------------------------------------------------


def _vehicle_in_scope(session: Session, scope: UnitScope, vehicle_id: int) -> Vehicle:
    return scope.get(
        session,
        Vehicle,
        vehicle_id,
        Vehicle.unit_id,
        missing=tr(f"车辆 {vehicle_id} 不存在", f"vehicle {vehicle_id} not found"),
    )


VEHICLE_SORT: dict[str, Callable[[dict[str, Any]], Any]] = {
    "plate": lambda r: r["vehicle"].plate,
    "unit": lambda r: r["unit"],
    "model": lambda r: r["vehicle"].model,
    "status": lambda r: r["vehicle"].status,
    "last_trip": lambda r: r["last_trip"],
    "last_fix": lambda r: r["last_fix"],
    "open_flags": lambda r: r["open_flags"],
}


def _vehicle_search(r: dict[str, Any]) -> str:
    v = r["vehicle"]
    return " ".join(str(x) for x in (v.plate, r["unit"], v.model, v.tracker_id or "") if x)


def _vehicle_list(request: Request, session: Session, scope: UnitScope) -> tuple[Listing, dict[str, str]]:
    """The vehicle list as the page and its export show it: filtered, searched and sorted."""
    params = request.query_params
    chosen = {k: (params.get(k) or "").strip() for k in ("unit", "status", "plate")}
    f = VehicleFilter(
        unit_id=opt_int(chosen["unit"], "unit"),
        status=chosen["status"] or None,
        plate=chosen["plate"] or None,
    )
    rows = queries.vehicle_rows(session, scope, f)
    return listing(request, rows, VEHICLE_SORT, "plate", search=_vehicle_search), chosen


@router.get("/vehicles", response_class=HTMLResponse)
def vehicles_page(request: Request, session: SessionDep, scope: ScopeDep) -> HTMLResponse:
    found, chosen = _vehicle_list(request, session, scope)
    return render(
        request,
        session,
        "vehicles.html",
        {
            "list": found,
            "units": units_in_scope(session, scope),
            "restricted": scope.restricted,
            "chosen": chosen,
            "open_flags": sum(r["open_flags"] for r in found.all_rows),
        },
        section="vehicles",
    )


@router.get("/vehicles.xlsx")
def vehicles_xlsx(request: Request, session: SessionDep, scope: ScopeDep) -> Response:
    t = i18n(request)
    found, _ = _vehicle_list(request, session, scope)
    columns = [
        Col(t("车牌号")), Col(t("单位")), Col(t("品牌型号")), Col(t("状态")),
        Col(t("最近行程"), "date"), Col(t("最后定位"), "datetime"),
        Col(t("未处理预警"), "int", total=True),
    ]  # fmt: skip
    out = [
        dict(zip([c.header for c in columns], [
            r["vehicle"].plate, r["unit"], r["vehicle"].model, t.vehicle_status(r["vehicle"].status),
            r["last_trip"], r["last_fix"], r["open_flags"],
        ], strict=True))
        for r in found.all_rows
    ]  # fmt: skip
    return xlsx_response(t, columns, out, title=t("车辆列表"), filename=f"{t('车辆列表')}-{today()}.xlsx")


@router.get("/vehicles/{vehicle_id}", response_class=HTMLResponse)
def vehicle_page(request: Request, session: SessionDep, scope: ScopeDep, vehicle_id: int) -> HTMLResponse:
    t = i18n(request)
    vehicle = _vehicle_in_scope(session, scope, vehicle_id)
    day = today()
    first = day - timedelta(days=TRIP_DAYS - 1)
    overview = queries.vehicle_overview(session, vehicle, first)
    unit, last_fix, per_day, recent = (overview[k] for k in ("unit", "last_fix", "per_day", "recent"))
    days = [first + timedelta(days=i) for i in range(TRIP_DAYS)]
    flags, flag_total = queries.flag_rows(
        session,
        queries.FlagFilter(vehicle_id=vehicle_id, unit=scope.unit_id if scope.restricted else None),
        limit=30,
    )
    idle_flag = next((f for f in flags if f["kind"] == "idle_vehicle" and f["state"] == "open"), None)
    _, tracker_history = trackers.history(session, vehicle.plate)
    window = (to_ts(day_bounds(first)[0]), min(to_ts(day_bounds(day)[1]), to_ts(utcnow())))
    untracked_s = trackers.timeline(session).untracked_s(vehicle_id, *window)
    sheet = queries.expense_sheet(session, day.year)
    costs = next(
        (r for r in queries.costs_year(session, day.year, scope)["vehicles"] if r["plate"] == vehicle.plate),
        None,
    )
    papers = queries.vehicle_papers(session, vehicle_id, day)
    orders = [r for r in sheet["orders"] if r["vehicle"] == vehicle.plate]
    chart = charts.column_chart(
        [(f"{d.month}/{d.day}", per_day.get(d, (0, 0.0))[0]) for d in days],
        title=t("近 30 天") + " · " + t("每日行程"),
    )
    driven = sorted(d for d, (n, _) in per_day.items() if n)
    map_day = opt_date(request.query_params.get("day"), "day") or (driven[-1] if driven else None)
    return render(
        request,
        session,
        "vehicle.html",
        {
            "map_day": map_day,
            "map_data": _day_map(request, session, t, vehicle, map_day) if map_day else None,
            "driven_days": driven[-14:][::-1],
            "vehicle": vehicle,
            "unit": unit,
            "last_fix": last_fix,
            "last_trip": recent[0] if recent else None,
            "idle_since": (idle_flag or {}).get("detail", {}).get("since") if idle_flag else None,
            "days": [(d, *per_day.get(d, (0, 0.0))) for d in reversed(days)],
            "tracker_history": tracker_history[::-1],
            "untracked_days": round(untracked_s / 86400, 1),
            "chart": chart,
            "recent": recent,
            "flags": flags,
            "flag_total": flag_total,
            "year": day.year,
            "costs": costs,
            "papers": papers,
            "records": queries.vehicle_records(session, vehicle_id, day.year, scope),
            "disposal_units": [u for u in units_in_scope(session, UnitScope()) if u.id != vehicle.unit_id],
            "orders": orders[-30:][::-1],
            "updated": request.query_params.get("updated") == "1",
        },
        section="vehicles",
    )


def _day_map(request: Request, session: Session, t: I18n, vehicle: Vehicle, day: date) -> dict[str, Any]:
    """A car's day on one map: every trip of the day, its stops by name."""
    shift = maps.Shift(maps.settings_of(request))
    tracks = []
    for trip in trips_of_day(session, vehicle.id or 0, day):
        fixes = load_fixes(session, trip.device_id, to_ts(trip.start_at), to_ts(trip.end_at))
        tracks.append(maps.track(t, fixes, shift))
    start, end = day_bounds(day)
    stops = session.exec(
        select(Stop)
        .where(Stop.vehicle_id == vehicle.id, col(Stop.start_at) < end, col(Stop.end_at) >= start)
        .order_by(col(Stop.start_at))
    ).all()
    return maps.map_data(session, request, t, tracks=tracks, stops=list(stops))


@router.post("/vehicles/{vehicle_id}/disposal", response_class=HTMLResponse)
def vehicle_disposal(
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    vehicle_id: int,
    status: Annotated[str, Form()] = "idle_proposed",
    comment: Annotated[str, Form(max_length=500)] = "",
    day: Annotated[str, Form(max_length=10)] = "",
    document_no: Annotated[str, Form(max_length=100)] = "",
    method: Annotated[str, Form(max_length=16)] = "",
    income: Annotated[str, Form(max_length=20)] = "",
    to_unit: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """One step of the car's disposal: proposed, the application (its document no.), the approval (批复文号),
    disposed (the method, the income, the receiving unit of a transfer), or the proposal withdrawn."""
    from core import normalize

    _vehicle_in_scope(session, scope, vehicle_id)
    t = i18n(request)
    try:
        on = date.fromisoformat(day.strip()) if day.strip() else None
    except ValueError:
        raise ValidationFailed(t("日期格式应为 YYYY-MM-DD") + f": {day}") from None
    try:
        fen = normalize.money_fen(income.strip()) if income.strip() else None
    except (ValueError, normalize.FieldError):
        raise ValidationFailed(t("处置收入不是金额") + f": {income}") from None
    fleet_service.advance_disposal(
        session, vehicle_id, actor(request), stage=status, on=on, document_no=document_no,
        method=method or None, income_fen=fen, to_unit=to_unit or None, comment=comment.strip(),
    )  # fmt: skip
    return RedirectResponse(f"/vehicles/{vehicle_id}?updated=1", status_code=303)


# --- a trip ---------------------------------------------------------------------------------------------


def _trips_stmt(t: I18n, scope: UnitScope, day: str | None, plate: str, tag: str | None) -> tuple[Any, str]:
    """The trips asked for (yesterday's by default) and the day shown in the filter."""
    if tag and tag not in compliance.TAGS:
        raise ValidationFailed(t("未知的合规标签") + f" {tag}")
    try:
        on = date.fromisoformat(day) if day else None
    except ValueError:
        raise ValidationFailed(t("日期格式应为 YYYY-MM-DD") + f": {day}") from None
    if on is None and not plate and not tag:
        on = today() - timedelta(days=1)
    stmt = queries.trips_query(scope, TripFilter(day=on, tag=tag or None))
    if plate:
        vehicle_ids = select(Vehicle.id).where(col(Vehicle.plate).contains(plate))
        stmt = stmt.where(col(Trip.vehicle_id).in_(vehicle_ids))
    return stmt, on.isoformat() if on else ""


def _trip_rows(t: I18n, session: Session, trips: list[Trip]) -> list[dict[str, Any]]:
    cars = {
        v.id: v
        for v in session.exec(select(Vehicle).where(col(Vehicle.id).in_({r.vehicle_id for r in trips})))
    }
    units = {u.id: u.name for u in session.exec(select(Unit)).all()}
    orders = dict(
        session.exec(
            select(TripOrder.id, TripOrder.order_no).where(
                col(TripOrder.id).in_({r.order_id for r in trips if r.order_id})
            )
        ).all()
    )
    return [
        {
            "trip": r,
            "plate": cars[r.vehicle_id].plate if r.vehicle_id in cars else "",
            "unit": units.get(cars[r.vehicle_id].unit_id, "") if r.vehicle_id in cars else "",
            "order_no": orders.get(r.order_id or 0, ""),
            "tags": [t(TRIP_TAG[name]) for name in compliance.tag_names(r.tags)],
        }
        for r in trips
    ]


def _trip_order(request: Request) -> tuple[Order, list[Any]]:
    """Newest first until a column is clicked; plate, unit and order number through their rows."""
    plate = select(Vehicle.plate).where(col(Vehicle.id) == col(Trip.vehicle_id)).scalar_subquery()
    unit = (
        select(Unit.name)
        .join(Vehicle, col(Vehicle.unit_id) == col(Unit.id))
        .where(col(Vehicle.id) == col(Trip.vehicle_id))
        .scalar_subquery()
    )
    order_no = select(TripOrder.order_no).where(col(TripOrder.id) == col(Trip.order_id)).scalar_subquery()
    exprs: dict[str, Any] = {
        "start": col(Trip.start_at), "plate": plate, "unit": unit, "km": col(Trip.distance_m),
        "duration": col(Trip.duration_s), "order": order_no, "tags": col(Trip.tags),
    }  # fmt: skip
    o = order(request, list(exprs), "start", desc=True)
    expr = exprs[o.key]
    by = [expr.is_(None), expr.desc() if o.desc else expr.asc()]
    return o, [*by, col(Trip.id).desc() if o.desc else col(Trip.id)]


@router.get("/trips", response_class=HTMLResponse)
def trips_page(
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    day: str | None = None,
    plate: str | None = None,
    tag: str | None = None,
    page: int = 1,
) -> HTMLResponse:
    """行程: a day's trips (yesterday by default), a car's, or those with a compliance tag, newest first."""
    t = i18n(request)
    chosen = {"day": day or "", "plate": (plate or "").strip(), "tag": tag or ""}
    stmt, chosen["day"] = _trips_stmt(t, scope, day, chosen["plate"], tag)
    found = stmt.subquery()
    total, metres = session.exec(select(func.count(), func.sum(found.c.distance_m)).select_from(found)).one()
    pg = pager(request, page, total)
    o, by = _trip_order(request)
    trips = session.exec(stmt.order_by(None).order_by(*by).offset(pg.offset).limit(PAGE_SIZE)).all()
    return render(
        request,
        session,
        "trips.html",
        {
            "rows": _trip_rows(t, session, list(trips)), "pager": pg, "order": o, "chosen": chosen,
            "total_km": (metres or 0) / 1000,
            "tags": compliance.TAGS, "tag_labels": TRIP_TAG,
        },
        section="trips",
    )  # fmt: skip


def _arrival_places(session: Session, trips: list[Trip]) -> dict[int, str]:
    """Each trip's arrival as its place names it: the stop its tracker began within minutes of the end."""
    if not trips:
        return {}
    lo = min(t.end_at for t in trips) - timedelta(minutes=2)
    hi = max(t.end_at for t in trips) + timedelta(minutes=15)
    by_device: dict[str, list[Stop]] = {}
    for stop in session.exec(
        select(Stop)
        .where(col(Stop.device_id).in_({t.device_id for t in trips}), col(Stop.start_at) >= lo)
        .where(col(Stop.start_at) <= hi)
        .order_by(col(Stop.start_at))
    ).all():
        by_device.setdefault(stop.device_id, []).append(stop)
    out = {}
    for trip in trips:
        after = [
            s
            for s in by_device.get(trip.device_id, [])
            if abs((s.start_at - trip.end_at).total_seconds()) <= 900
        ]
        if after and trip.id is not None:
            out[trip.id] = maps.stop_name(after[0])
    return out


@router.get("/trips.xlsx")
def trips_xlsx(
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    day: str | None = None,
    plate: str | None = None,
    tag: str | None = None,
) -> Response:
    t = i18n(request)
    stmt, shown_day = _trips_stmt(t, scope, day, (plate or "").strip(), tag)
    trips = session.exec(stmt.order_by(col(Trip.start_at), col(Trip.id)).limit(EXPORT_MAX)).all()
    columns = [
        Col(t("出发"), "datetime"), Col(t("到达"), "datetime"), Col(t("车牌号")),
        Col(t("单位")), Col(t("里程（公里）"), "km", total=True), Col(t("出行申请")),
        Col(t("合规标签")), Col(t("到达地点")),
    ]  # fmt: skip
    sep = ", " if t.en else "、"
    arrived = _arrival_places(session, list(trips))
    out = [
        dict(zip([c.header for c in columns], [
            r["trip"].start_at, r["trip"].end_at, r["plate"], r["unit"],
            round(r["trip"].distance_m / 1000, 1), r["order_no"] or "", sep.join(r["tags"]),
            arrived.get(r["trip"].id or 0, ""),
        ], strict=True))
        for r in _trip_rows(t, session, list(trips))
    ]  # fmt: skip
    return xlsx_response(
        t,
        columns, out, title=t("行程"), period=t.date(shown_day) if shown_day else "",
        filename=f"{t('行程')}-{shown_day or today()}.xlsx",
    )  # fmt: skip


def _destination(session: Session, order: TripOrder | None) -> Place | None:
    """The order's destination when the gazetteer knows a place of that name."""
    if order is None or not order.destination:
        return None
    return session.exec(select(Place).where(Place.name == order.destination.strip())).first()


@router.get("/trips/{trip_id}", response_class=HTMLResponse)
def trip_page(request: Request, session: SessionDep, scope: ScopeDep, trip_id: int) -> HTMLResponse:
    t = i18n(request)
    trip = queries.trip_in_scope(
        session, scope, trip_id, tr(f"行程 {trip_id} 不存在", f"trip {trip_id} not found")
    )
    fixes = load_fixes(session, trip.device_id, to_ts(trip.start_at), to_ts(trip.end_at))
    ctx = queries.trip_context(session, trip)
    vehicle, unit, stops, order = ctx["vehicle"], ctx["unit"], ctx["stops"], ctx["order"]
    flags = ctx["flags"]
    details = [fleet_routes.get_flag(session, scope, f.id) for f in flags if f.id is not None]
    nearby = details[0].nearby_orders if details else []
    rules = reconcile.Rules.from_settings()
    markers = [
        charts.Marker(
            trip.start_lat, trip.start_lon, t("起点")[:1], f"{t('出发')} {t.dt(trip.start_at)}", "start"
        ),
        charts.Marker(trip.end_lat, trip.end_lon, t("终点")[:1], f"{t('到达')} {t.dt(trip.end_at)}", "end"),
    ]
    for i, s in enumerate(stops, start=1):
        markers.append(
            charts.Marker(
                s.lat,
                s.lon,
                str(i),
                f"{t('停留点')} {i}: {t.dt(s.start_at)}, {t.duration(s.duration_s)}",
                "stop",
            )
        )
    track = charts.track_map(
        fixes["lat"].tolist(), fixes["lon"].tolist(), markers, title=t("轨迹"), north=t("北")
    )
    ends = [
        {"lat": trip.start_lat, "lon": trip.start_lon, "kind": "start",
         "title": f"{t('出发')} {t.dt(trip.start_at)}"},
        {"lat": trip.end_lat, "lon": trip.end_lon, "kind": "end",
         "title": f"{t('到达')} {t.dt(trip.end_at)}"},
    ]  # fmt: skip
    destination = _destination(session, order)
    if destination is not None:
        ends.append({"lat": destination.lat, "lon": destination.lon, "kind": "place",
                     "title": f"{t('申请目的地')}: {destination.name}"})  # fmt: skip
    shift = maps.Shift(maps.settings_of(request))
    map_data = maps.map_data(
        session, request, t, tracks=[maps.track(t, fixes, shift)], stops=stops, markers=ends, playback=True
    )
    window = charts.window_chart(
        _spans(t, trip, order, nearby, rules),
        title=t("时间窗"),
        tick=t.time,
        day_tick=t.short,
    )
    return render(
        request,
        session,
        "trip.html",
        {
            "trip_tags": [t(TRIP_TAG[name]) for name in compliance.tag_names(trip.tags)],
            "trip": trip,
            "vehicle": vehicle,
            "unit": unit,
            "fix_count": len(fixes["t"]),
            "stops": stops,
            "order": order,
            "nearby": nearby,
            "flags": details,
            "track": track,
            "map_data": map_data,
            "destination": destination,
            "window": window,
            "rules": rules,
            "reviews": REVIEW,
            "here": request.url.path,
        },
        section="vehicles",
    )


def _spans(
    t: I18n, trip: Trip, order: TripOrder | None, nearby: list[Any], rules: reconcile.Rules
) -> list[charts.Span]:
    """The covering order's planned and tolerated windows and the trip; with no covering order, the
    vehicle's orders nearest in time (any status: a rejected one tells its own story)."""
    mid = trip.start_at + (trip.end_at - trip.start_at) / 2
    shown = [order] if order is not None else sorted(nearby, key=lambda o: abs(o.planned_start_at - mid))[:3]
    lead, lag = timedelta(seconds=rules.lead_s), timedelta(seconds=rules.lag_s)
    spans = []
    for o in sorted(shown, key=lambda o: o.planned_start_at):
        if o.status == "approved":
            start, end = o.planned_start_at - lead, o.planned_end_at + lag
            spans.append(charts.Span(t("容许时间窗"), start, end, "#c7d7ee"))
            spans.append(charts.Span(o.order_no, o.planned_start_at, o.planned_end_at, charts.BAR))
        else:
            label = f"{o.order_no} {t.order_status(o.status)}"
            spans.append(charts.Span(label, o.planned_start_at, o.planned_end_at, charts.MUTED))
    colour = charts.GOOD if order else charts.BAD
    spans.append(charts.Span(t("行程"), trip.start_at, trip.end_at, colour))
    return spans


# --- the unit report and the bulletin -------------------------------------------------------------------


def _month(value: str | None) -> date:
    return queries.parse_month(value) if value else today().replace(day=1)


def _shift(first: date, months: int) -> date:
    m = first.year * 12 + first.month - 1 + months
    return date(m // 12, m % 12 + 1, 1)


def _scoped_units(session: Session, scope: UnitScope, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not scope.restricted:
        return rows
    unit = session.get(Unit, scope.unit_id)
    return [r for r in rows if unit is not None and r["unit"] == unit.name]


def _report_columns(t: I18n) -> list[tuple[str, str]]:
    return [
        ("unit", t("单位")),
        ("vehicles", t("车辆数")),
        ("trips", t("行程数")),
        ("km", t("里程") + f"（{t('公里')}）" if not t.en else "km"),
        ("covered_trips", t("已报备行程")),
        ("late_reported_trips", t("补报行程")),
        ("unreported_trips", t("未报备行程")),
        ("reporting_rate", t("报备率")),
        ("idle_vehicles", t("闲置车辆")),
        ("silent_trackers", t("离线终端")),
        ("untracked_vehicles", t("无终端")),
        ("expenses_yuan", t("费用（元）")),
    ]


def _compliance_columns(t: I18n) -> list[tuple[str, str]]:
    """The compliance rules per unit: trips with each tag and those of them without an order."""
    out = [("unit", t("单位"))]
    for tag in compliance.TAGS:
        label = TRIP_TAG[tag]
        out += [(f"{tag}_trips", t(label + "行程")), (f"{tag}_unreported", t(label + "未报备"))]
    return [*out, ("nights_away", t("夜间未归"))]


def _review_columns(t: I18n) -> list[tuple[str, str]]:
    """How the unreported trips were reviewed; explained ones still count as unreported in the rate."""
    return [
        ("unit", t("单位")),
        ("unreported_trips", t("未报备行程")),
        ("reviewed_violation", t("违规")),
        ("reviewed_explained", t("已说明")),
        ("not_reviewed", t("未审核")),
        ("reviewed_false_alarm", t("误报（不计入）")),
    ]


# how each report column looks in Excel and whether the totals row adds it up
_FORMATS = {"unit": "text", "km": "km", "reporting_rate": "percent", "expenses_yuan": "yuan"}


def _xlsx_columns(columns: list[tuple[str, str]]) -> list[Col]:
    return [
        Col(header, _FORMATS.get(key, "int"), total=key not in ("unit", "reporting_rate"))
        for key, header in columns
    ]


def _xlsx_rows(columns: list[tuple[str, str]], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        line: dict[str, Any] = {}
        for key, header in columns:
            value = r.get(key)
            if key == "reporting_rate":
                value = None if value is None else float(value)
            elif key == "expenses_yuan":
                value = float(value or 0)
            line[header] = value
        out.append(line)
    return out


def _all_report_columns(t: I18n) -> list[tuple[str, str]]:
    return _report_columns(t) + _review_columns(t)[2:] + _compliance_columns(t)[1:]


@router.get("/reports/units", response_class=HTMLResponse)
def unit_report_page(
    request: Request, session: SessionDep, scope: ScopeDep, month: str | None = None
) -> HTMLResponse:
    t = i18n(request)
    first = _month(month)
    report = queries.unit_report(session, first)
    rows = _scoped_units(session, scope, report["units"])
    threshold = get_settings().bulletin_threshold
    # the chart worst first: the units under the threshold on top, those without trips last
    ranked = sorted(rows, key=lambda r: (r["reporting_rate"] is None, r["reporting_rate"] or 0, r["unit"]))
    chart = charts.hbar_chart(
        [(r["unit"], r["reporting_rate"]) for r in ranked],
        title=t("各单位报备率"),
        max_value=1.0,
        threshold=threshold,
        fmt=t.pct,
        none_label=t("无行程"),
    )
    totals = {
        k: sum(r[k] for r in rows)
        for k in (
            "vehicles",
            "trips",
            "covered_trips",
            "late_reported_trips",
            "unreported_trips",
            "idle_vehicles",
            "silent_trackers",
            "untracked_vehicles",
        )
    }
    totals["km"] = round(sum(r["km"] for r in rows), 1)
    totals["rate"] = totals["covered_trips"] / totals["trips"] if totals["trips"] else None
    return render(
        request,
        session,
        "unit_report.html",
        {
            "first": first,
            "month": f"{first:%Y-%m}",
            "prev": f"{_shift(first, -1):%Y-%m}",
            "next": f"{_shift(first, 1):%Y-%m}",
            "rows": rows,
            "totals": totals,
            "chart": chart,
            "threshold": threshold,
            "columns": _report_columns(t),
            "compliance_columns": _compliance_columns(t),
            "review_columns": _review_columns(t),
        },
        section="units",
    )


# --- trends and utilisation ----------------------------------------------------------------------------


UTILISATION_NOTE = (
    "出车率 = 有行程的工作日 ÷ 工作日；工作日按国务院节假日安排（含调休）和本中心设定的日子计。"
)
UTILISATION_SORT = columns("vehicle", "unit", "working_days_used", "utilisation", "rest_days_used")


def _trends(request: Request, session: Session, scope: UnitScope) -> tuple[dict[str, Any], dict[str, str]]:
    """The months asked for (`from`, `to`: YYYY-MM), the last twelve by default."""
    params = request.query_params
    last = _month(params.get("to") or None)
    first = queries.parse_month(params["from"]) if params.get("from") else _shift(last, -11)
    report = queries.trends(session, first, last, scope, today())
    return report, {"from": report["first"], "to": report["last"], "unit": params.get("unit") or ""}


def _month_label(t: I18n, month: str, count: int) -> str:
    """A bar's label: 11月 (Nov) for a year's bars, 26-11 for more; the table beside says the year."""
    if count > 12:
        return month[2:]
    number = int(month[5:])
    return calendar.month_abbr[number] if t.en else f"{number}月"


@router.get("/reports/trends", response_class=HTMLResponse)
def trends_page(request: Request, session: SessionDep, scope: ScopeDep) -> HTMLResponse:
    """趋势: km and running cost by month (the county's, or one unit's) as bars with the table beside them,
    every unit's months, and each car's utilisation, the least used first."""
    t = i18n(request)
    report, chosen = _trends(request, session, scope)
    unit = opt_int(chosen["unit"], "unit")
    shown = next((u for u in report["units"] if u["unit_id"] == unit), None)
    months = shown["months"] if shown else report["county"]
    labels = [_month_label(t, m["month"], len(months)) for m in months]
    km_chart = charts.column_chart(
        [(label, m["km"]) for label, m in zip(labels, months, strict=True)], title=t("每月行驶里程（公里）")
    )
    cost_chart = charts.column_chart(
        [(label, float(m["cost_yuan"])) for label, m in zip(labels, months, strict=True)],
        title=t("每月运行费用（元）"),
        colour=charts.BAR_ALT,
    )
    used = listing(request, report["vehicles"], UTILISATION_SORT, "utilisation")
    return render(
        request,
        session,
        "trends.html",
        {
            "report": report,
            "chosen": chosen,
            "shown": shown,
            "months": months,
            "km_chart": km_chart,
            "cost_chart": cost_chart,
            "used": used,
            "units": units_in_scope(session, scope),
            "restricted": scope.restricted,
            "totals": {
                "trips": sum(m["trips"] for m in months),
                "km": round(sum(m["km"] for m in months), 1),
                "cost_yuan": sum(Decimal(m["cost_yuan"]) for m in months),
            },
        },
        section="trends",
    )


@router.get("/reports/trends.xlsx")
def trends_xlsx(request: Request, session: SessionDep, scope: ScopeDep) -> Response:
    """Every unit's months, then the county's, one row a month."""
    t = i18n(request)
    report, chosen = _trends(request, session, scope)
    columns = [
        Col(t("单位")), Col(t("月份")), Col(t("行程数"), "int", total=True),
        Col(t("里程（公里）"), "km", total=True), Col(t("运行费用（元）"), "yuan", total=True),
    ]  # fmt: skip
    headers = [c.header for c in columns]
    rows = [
        dict(zip(headers, [u["unit"], m["month"], m["trips"], m["km"], float(m["cost_yuan"])], strict=True))
        for u in report["units"]
        for m in u["months"]
    ]
    period = f"{report['first']} – {report['last']}"
    return xlsx_response(
        t, columns, rows, title=t("里程与运行费用趋势"), period=period,
        notes=[t("运行费用：各车出行申请登记的费用（过路费、餐补、油费、其他），按申请的计划出发月份计。")],
        filename=f"{t('里程与运行费用趋势')}-{chosen['from']}-{chosen['to']}.xlsx",
    )  # fmt: skip


@router.get("/reports/utilisation.xlsx")
def utilisation_xlsx(request: Request, session: SessionDep, scope: ScopeDep) -> Response:
    t = i18n(request)
    report, chosen = _trends(request, session, scope)
    used = listing(request, report["vehicles"], UTILISATION_SORT, "utilisation")
    columns = [
        Col(t("车牌号")), Col(t("单位")), Col(t("工作日"), "int"),
        Col(t("有行程的工作日"), "int", total=True), Col(t("出车率"), "percent"),
        Col(t("休息日出车天数"), "int", total=True),
    ]  # fmt: skip
    rows = [
        dict(zip([c.header for c in columns], [
            r["vehicle"], r["unit"], r["working_days"], r["working_days_used"], r["utilisation"],
            r["rest_days_used"],
        ], strict=True))
        for r in used.all_rows
    ]  # fmt: skip
    period = f"{report['first']} – {report['counted_to'] or report['last']}"
    return xlsx_response(
        t, columns, rows, title=t("车辆出车率"), period=period,
        notes=[t(UTILISATION_NOTE)], filename=f"{t('车辆出车率')}-{chosen['from']}-{chosen['to']}.xlsx",
    )  # fmt: skip


@router.get("/reports/units.xlsx")
def unit_report_xlsx(
    request: Request, session: SessionDep, scope: ScopeDep, month: str | None = None
) -> Response:
    t = i18n(request)
    first = _month(month)
    rows = _scoped_units(session, scope, queries.unit_report(session, first)["units"])
    columns = _all_report_columns(t)
    return xlsx_response(
        t,
        _xlsx_columns(columns),
        _xlsx_rows(columns, rows),
        title=t("单位报表"),
        period=t.month(first),
        filename=f"{t('单位报表')}-{first:%Y-%m}.xlsx",
    )


def _threshold(value: str | None) -> float | None:
    if value is None or value.strip() == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise ValidationFailed(
            tr(f"阈值须为数字，不是 '{value}'", f"threshold must be a number, not '{value}'")
        ) from None
    return number / 100 if number > 1 else number  # 90 and 0.9 both mean 90 %


@router.get("/reports/bulletin", response_class=HTMLResponse)
def bulletin_page(
    request: Request, session: SessionDep, month: str | None = None, threshold: str | None = None
) -> HTMLResponse:
    t = i18n(request)
    first = _month(month)
    data = queries.bulletin(session, first, _threshold(threshold))
    everyone = queries.unit_report(session, first)["units"]
    counted = [u for u in everyone if u["trips"]]
    return render(
        request,
        session,
        "bulletin.html",
        {
            "first": first,
            "month": f"{first:%Y-%m}",
            "prev": f"{_shift(first, -1):%Y-%m}",
            "next": f"{_shift(first, 1):%Y-%m}",
            "data": data,
            "units_counted": len(counted),
            "trips": sum(u["trips"] for u in counted),
            "unreported": sum(u["unreported_trips"] for u in counted),
            "threshold_pct": round(data["threshold"] * 100, 1),
            "columns": _report_columns(t),
            "tag_labels": TRIP_TAG,
        },
        section="bulletin",
    )


@router.get("/reports/bulletin.xlsx")
def bulletin_xlsx(
    request: Request, session: SessionDep, month: str | None = None, threshold: str | None = None
) -> Response:
    t = i18n(request)
    first = _month(month)
    data = queries.bulletin(session, first, _threshold(threshold))
    counted = [u for u in queries.unit_report(session, first)["units"] if u["trips"]]
    columns = _all_report_columns(t)
    return xlsx_response(
        t,
        _xlsx_columns(columns),
        _xlsx_rows(columns, data["units"]),
        title=t("通报"),
        period=t.month(first),
        filename=f"{t('通报')}-{first:%Y-%m}.xlsx",
        notes=bulletin_text(t, first, data, counted),
        notes_title=t("通报正文"),
    )


def bulletin_text(t: I18n, first: date, data: dict[str, Any], counted: list[dict[str, Any]]) -> list[str]:
    """The bulletin as paragraphs of text, for the sheet a clerk pastes into the notice."""
    trips = sum(u["trips"] for u in counted)
    unreported = sum(u["unreported_trips"] for u in counted)
    n_under = len(data["units"])
    pct = t.pct(data["threshold"])
    if t.en:
        lines = [
            f"Bulletin on the use of official cars, {t.month(first)}",
            f"In {t.month(first)}, {len(counted)} units made {trips} trips with official cars, {unreported} "
            "of them without an approved order."
            + (f" {n_under} units reported under {pct} of their trips:" if n_under else
               " No unit reported under the threshold."),
        ]  # fmt: skip
    else:
        lines = [
            f"关于{t.month(first)}公务用车出行报备情况的通报",
            f"{t.month(first)}，全县 {len(counted)} 个单位公务用车共出行 {trips} 次，"
            f"其中 {unreported} 次无已批准的出行申请（有轨迹无订单）。"
            + (f"出行报备率低于 {pct} 的单位共 {n_under} 个，现予通报：" if n_under
               else "本月没有报备率低于阈值的单位。"),
        ]  # fmt: skip
    sep = ", " if t.en else "，"
    for n, u in enumerate(data["units"], start=1):
        parts = [
            f"{n}. {u['unit']}",
            f"{t('报备率')} {t.pct(u['reporting_rate'])}",
            f"{t('未报备行程')} {u['unreported_trips']} / {u['trips']}",
            f"{t('违规')} {u['reviewed_violation']}",
            f"{t('已说明')} {u['reviewed_explained']}",
            f"{t('未审核')} {u['not_reviewed']}",
        ]
        if u["late_reported_trips"]:
            parts.append(f"{t('补报行程')} {u['late_reported_trips']}")
        lines.append(sep.join(parts) + ("." if t.en else "。"))
    if data["high_risk"]:
        lines.append(t("高风险未报备行程") + (":" if t.en else "："))
        for u in data["high_risk"]:
            lines.append(f"{u['unit']} — {u['count']}")
    return lines


trips_per_day = queries.trips_per_day


# --- tracker upkeep -------------------------------------------------------------------------------------

CHECK_STATE = {"overdue": "逾期未检修", "due": "30天内到期", "ok": "正常"}


TRACKER_SORT = columns(
    "plate", "unit", device="device_id", last_fix="last_fix_at", last_check="last_check_on", due="due_on"
)
TRACKER_SORT_LABELS = {
    "plate": "车牌号", "unit": "单位", "device": "终端号", "last_fix": "最后定位", "last_check": "最近检修",
    "due": "下次检修",
}  # fmt: skip


def _tracker_search(r: dict[str, Any]) -> str:
    return " ".join(str(x) for x in (r["plate"], r["unit"], r["device_id"]) if x)


@router.get("/reports/trackers", response_class=HTMLResponse)
def trackers_page(request: Request, session: SessionDep) -> HTMLResponse:
    """终端检修: every tracker's last check and the next one due, overdue first."""
    rows = queries.tracker_report(session, today())
    counts = {
        "overdue": sum(1 for r in rows if r["state"] == "overdue"),
        "due": sum(1 for r in rows if r["state"] == "due"),
        "silent": sum(1 for r in rows if r["silent_since"]),
    }
    ctx = {
        "list": listing(request, rows, TRACKER_SORT, "", search=_tracker_search),
        "sort_labels": TRACKER_SORT_LABELS,
        "rows": rows,
        "counts": counts,
        "state_labels": CHECK_STATE,
        "months": get_settings().tracker_check_months,
    }
    return render(request, session, "trackers.html", ctx, section="trackers")


@router.get("/rules", response_class=HTMLResponse)
def rules_page(request: Request, session: SessionDep, year: int | None = None) -> HTMLResponse:
    """合规规则: every rule with its value and meaning, the year's holidays and 调休, the service area."""
    from fleet.models import ServiceArea

    year = year if year and 2000 <= year <= 2100 else today().year
    area = session.exec(select(ServiceArea).order_by(col(ServiceArea.id).desc())).first()
    t = i18n(request)
    rules = [
        {**r, "meaning": tags.RULE_MEANINGS[r["key"]][1 if t.en else 0]} for r in tags.rules_table(session)
    ]
    ctx = {
        "rules": rules,
        "year": year,
        "known": year in compliance.calendar_years(),
        "days": tags.calendar(session, year),
        "area": area,
    }
    return render(request, session, "rules.html", ctx, section="rules")


@router.get("/reports/trackers.xlsx")
def trackers_xlsx(request: Request, session: SessionDep) -> Response:
    t = i18n(request)
    columns = [
        Col(t("车牌号")), Col(t("单位")), Col(t("终端号"), "text"), Col(t("最后定位"), "datetime"),
        Col(t("最近检修"), "date"), Col(t("检修结果")), Col(t("下次检修"), "date"), Col(t("状态")),
        Col(t("离线自"), "datetime"), Col(t("更换记录")),
    ]  # fmt: skip
    rows = [
        dict(zip([c.header for c in columns], [
            r["plate"], r["unit"], r["device_id"], r["last_fix_at"], r["last_check_on"],
            t.check_result(r["last_check_result"]), r["due_on"], t(CHECK_STATE[r["state"]]),
            r["silent_since"],
            (", " if t.en else "、").join(t.date(d) for d in r["replaced_on"]),
        ], strict=True))
        for r in queries.tracker_report(session, today())
    ]  # fmt: skip
    return xlsx_response(
        t,
        columns,
        rows,
        title=t("终端检修"),
        period=t.date(today()),
        filename=f"{t('终端检修')}-{today()}.xlsx",
    )
