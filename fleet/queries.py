"""Fleet reads for the pages, the API and the reports: the lists (units, vehicles, orders, trips, stops)
with their filters, a vehicle's, a trip's and a flag's context, the flag queue, the unit report per month
and its bulletin (通报), the expense sheet and the cost per vehicle per year (单车核算). Every read of a
unit-scoped object takes the `UnitScope` into its query. SQL aggregates, never a loop over trips; money in
integer fen inside, yuan strings with two decimals outside."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from typing import Any

from sqlalchemy import and_, case, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from accounts.access import UnitScope
from core.errors import ValidationFailed
from core.i18n import tr
from core.models import AuditLog, Unit
from core.settings import get_settings
from core.timeutil import as_utc, china_day, day_bounds, from_ts, to_china, to_ts, utcnow
from fleet import compliance, rules, tags
from fleet.holders import unit_at, unit_history
from fleet.models import (
    COVERING,
    FLAG_KINDS,
    FLAG_STATES,
    REVIEW_STATUSES,
    Driver,
    Flag,
    FlagReply,
    Position,
    Stop,
    TrackerCheck,
    Trip,
    TripExpense,
    TripOrder,
    Vehicle,
)
from fleet.rules import OPEN_START, units_between
from fleet.schemas import DriverFilter, FlagFilter, OrderFilter, StopFilter, TripFilter, VehicleFilter

CENT = Decimal("0.01")


def yuan(fen: int | None) -> str:
    """Integer fen → yuan with two decimals, exactly: 12345 → '123.45'."""
    return str((Decimal(int(fen or 0)) / 100).quantize(CENT))


def _select(*columns: Any) -> Any:
    return sa_select(*columns)


# ------------------------------------------------------------------------------------------------ lists


def units_query(scope: UnitScope, *, kind: str | None = None) -> Any:
    stmt = scope.apply(select(Unit).order_by(col(Unit.name)), Unit.id)
    return stmt.where(Unit.kind == kind) if kind else stmt


def units_in_scope(session: Session, scope: UnitScope) -> list[Unit]:
    """Townships first, then departments, by name — as the unit report lists them."""
    return sorted(session.exec(units_query(scope)).all(), key=lambda u: (u.kind != "township", u.name))


def vehicles_query(scope: UnitScope, f: VehicleFilter | None = None, *, stmt: Any = None) -> Any:
    """Vehicles in scope, filtered, by plate (`stmt`: another select of Vehicle and more columns)."""
    f = f or VehicleFilter()
    stmt = (select(Vehicle) if stmt is None else stmt).order_by(col(Vehicle.plate))
    stmt = scope.apply(stmt, Vehicle.unit_id)
    if f.unit_id is not None:
        stmt = stmt.where(Vehicle.unit_id == f.unit_id)
    if f.status:
        stmt = stmt.where(Vehicle.status == f.status)
    if f.plate:
        stmt = stmt.where(col(Vehicle.plate).contains(f.plate.strip(), autoescape=True))
    return stmt


def drivers_query(scope: UnitScope, f: DriverFilter | None = None) -> Any:
    """Drivers in scope, filtered, by unit and name."""
    f = f or DriverFilter()
    stmt = scope.apply(select(Driver).order_by(col(Driver.unit_id), col(Driver.name)), Driver.unit_id)
    if f.unit_id is not None:
        stmt = stmt.where(Driver.unit_id == f.unit_id)
    if f.active is not None:
        stmt = stmt.where(Driver.is_active == f.active)
    if f.name:
        stmt = stmt.where(col(Driver.name).contains(f.name.strip(), autoescape=True))
    return stmt


def orders_query(scope: UnitScope, f: OrderFilter | None = None) -> Any:
    f = f or OrderFilter()
    stmt = scope.apply(select(TripOrder).order_by(col(TripOrder.planned_start_at).desc()), TripOrder.unit_id)
    if f.vehicle_id is not None:
        stmt = stmt.where(TripOrder.vehicle_id == f.vehicle_id)
    if f.unit_id is not None:
        stmt = stmt.where(TripOrder.unit_id == f.unit_id)
    if f.status:
        stmt = stmt.where(TripOrder.status == f.status)
    return stmt


_BY_VEHICLE_UNIT = (Vehicle.id, Vehicle.unit_id)


def _spans_query(scope: UnitScope, model: Any, f: StopFilter) -> Any:
    """Trips or stops of a vehicle overlapping [from, to), in scope — whole, never clipped."""
    stmt = scope.apply(select(model).order_by(col(model.start_at)), model.vehicle_id, via=_BY_VEHICLE_UNIT)
    if f.vehicle_id is not None:
        stmt = stmt.where(model.vehicle_id == f.vehicle_id)
    if f.start is not None:
        stmt = stmt.where(col(model.end_at) > as_utc(f.start))
    if f.end is not None:
        stmt = stmt.where(col(model.start_at) < as_utc(f.end))
    return stmt


def trips_query(scope: UnitScope, f: TripFilter | None = None) -> Any:
    f = f or TripFilter()
    stmt = _spans_query(scope, Trip, f)
    if f.tag is not None:
        stmt = stmt.where(col(Trip.tags).op("&")(compliance.TAG_BITS[f.tag]) != 0)
    return stmt if f.day is None else stmt.where(Trip.service_day == f.day)


def stops_query(scope: UnitScope, f: StopFilter | None = None) -> Any:
    return _spans_query(scope, Stop, f or StopFilter())


def trip_in_scope(session: Session, scope: UnitScope, trip_id: int, missing: str) -> Trip:
    return scope.get(session, Trip, trip_id, Trip.vehicle_id, via=_BY_VEHICLE_UNIT, missing=missing)


def _last_fix_ts() -> Any:
    """The newest fix of the vehicle's tracker: one descent of the (device, time) key per vehicle."""
    return (
        select(func.max(Position.fix_ts)).where(col(Position.device_id) == col(Vehicle.tracker_id))
    ).scalar_subquery()


def vehicle_rows(session: Session, scope: UnitScope, f: VehicleFilter) -> list[dict[str, Any]]:
    """The vehicle list: each vehicle with its unit's name, last fix, last trip day and open flags."""
    with_unit = select(Vehicle, Unit.name, _last_fix_ts()).join(Unit, col(Unit.id) == col(Vehicle.unit_id))
    stmt = vehicles_query(scope, f, stmt=with_unit)
    rows = session.exec(stmt).all()
    ids = [v.id for v, _, _ in rows]
    open_flags: dict[int, int] = {}
    last_trip: dict[int, date] = {}
    if ids:
        open_flags = dict(
            session.exec(
                select(Flag.vehicle_id, func.count())
                .where(col(Flag.vehicle_id).in_(ids), Flag.state == "open", col(Flag.review_status).is_(None))
                .group_by(col(Flag.vehicle_id))
            ).all()
        )
        last_trip = dict(
            session.exec(
                select(Trip.vehicle_id, func.max(Trip.service_day))
                .where(col(Trip.vehicle_id).in_(ids))
                .group_by(col(Trip.vehicle_id))
            ).all()
        )
    return [
        {
            "vehicle": v,
            "unit": unit_name,
            "last_fix": None if last_fix is None else from_ts(last_fix),
            "last_trip": last_trip.get(v.id or 0),
            "open_flags": open_flags.get(v.id or 0, 0),
        }
        for v, unit_name, last_fix in rows
    ]


FRESH_S = 24 * 3600  # a tracker that reported within this long comes first among free cars


def available_vehicles(
    session: Session, scope: UnitScope, start: datetime, end: datetime, unit_id: int | None, now: datetime
) -> list[dict[str, Any]]:
    """Cars free in [start, end): in service, not on an approved or dispatched order overlapping it;
    `unit_id`'s own cars before the center's pool (GONGWU_CENTER_UNIT), a tracker that reported in the
    last 24 h before one that did not; each with why it is where it is."""
    center = session.exec(select(Unit.id).where(Unit.name == get_settings().center_unit)).first()
    stmt = scope.apply(
        select(Vehicle, _last_fix_ts()).where(Vehicle.status == "in_service").order_by(col(Vehicle.plate)),
        Vehicle.unit_id,
    )
    if unit_id is not None:
        stmt = stmt.where(col(Vehicle.unit_id).in_([unit_id] + ([center] if center is not None else [])))
    busy = set(
        session.exec(
            select(TripOrder.vehicle_id).where(
                col(TripOrder.status).in_(("approved", "dispatched")),
                col(TripOrder.planned_start_at) < end,
                col(TripOrder.planned_end_at) > start,
            )
        ).all()
    )
    out = []
    for vehicle, last in session.exec(stmt).all():
        if vehicle.id in busy:
            continue
        reasons = [
            "own_unit"
            if vehicle.unit_id == unit_id
            else "center_pool"
            if vehicle.unit_id == center
            else "in_scope"
        ]
        if not vehicle.tracker_id:
            reasons.append("no_tracker")
        elif last is not None and to_ts(now) - int(last) <= FRESH_S:
            reasons.append("tracker_fresh")
        else:
            reasons.append("tracker_silent")
        out.append(
            {"vehicle": vehicle, "last_fix": None if last is None else from_ts(last), "reasons": reasons}
        )
    rank = {"own_unit": 0, "center_pool": 1, "in_scope": 2}
    out.sort(key=lambda r: (rank[r["reasons"][0]], r["reasons"][1] != "tracker_fresh"))
    return out


def vehicle_overview(session: Session, vehicle: Vehicle, first: date) -> dict[str, Any]:
    """A vehicle's page: its unit, last fix, trips and km per day since `first`, its 20 latest trips."""
    last_fix = (
        session.exec(select(func.max(Position.fix_ts)).where(Position.device_id == vehicle.tracker_id)).one()
        if vehicle.tracker_id
        else None
    )
    per_day = {
        d: (int(n), float(m or 0))
        for d, n, m in session.exec(
            select(col(Trip.service_day), func.count(), func.sum(Trip.distance_m))
            .where(Trip.vehicle_id == vehicle.id, col(Trip.service_day) >= first)
            .group_by(col(Trip.service_day))
        ).all()
    }
    recent = session.exec(
        select(Trip).where(Trip.vehicle_id == vehicle.id).order_by(col(Trip.start_at).desc()).limit(20)
    ).all()
    return {
        "unit": session.get(Unit, vehicle.unit_id),
        "last_fix": None if last_fix is None else from_ts(last_fix),
        "per_day": per_day,
        "recent": list(recent),
    }


def trip_context(session: Session, trip: Trip, margin: timedelta = timedelta(hours=1)) -> dict[str, Any]:
    """A trip's page: its vehicle and unit, the stops around it, its covering order and its flags."""
    vehicle = session.get(Vehicle, trip.vehicle_id)
    assert vehicle is not None
    stops = session.exec(
        select(Stop)
        .where(
            Stop.vehicle_id == trip.vehicle_id,
            col(Stop.start_at) <= trip.end_at + margin,
            col(Stop.end_at) >= trip.start_at - margin,
        )
        .order_by(col(Stop.start_at))
    ).all()
    return {
        "vehicle": vehicle,
        "unit": session.get(Unit, vehicle.unit_id),
        "stops": list(stops),
        "order": session.get(TripOrder, trip.order_id) if trip.order_id else None,
        "flags": list(session.exec(select(Flag).where(Flag.trip_id == trip.id).order_by(col(Flag.id))).all()),
    }


def flag_context(session: Session, scope: UnitScope, flag: Flag) -> dict[str, Any]:
    """A flag with its vehicle, trip, order, the vehicle's orders within a day and its review history."""
    day = timedelta(days=1)
    until = (flag.end_at or flag.start_at) + day
    nearby = session.exec(
        select(TripOrder)
        .where(
            TripOrder.vehicle_id == flag.vehicle_id,
            scope.cond(TripOrder.unit_id),
            col(TripOrder.planned_start_at) <= until,
            col(TripOrder.planned_end_at) >= flag.start_at - day,
        )
        .order_by(col(TripOrder.planned_start_at))
    ).all()
    history = session.exec(
        select(AuditLog)
        .where(AuditLog.entity == "fleet_flag", AuditLog.entity_id == str(flag.id))
        .order_by(col(AuditLog.id))
    ).all()
    replies = session.exec(
        select(FlagReply, TripOrder)
        .outerjoin(TripOrder, col(TripOrder.id) == col(FlagReply.order_id))
        .where(FlagReply.flag_id == flag.id)
        .order_by(col(FlagReply.id))
    ).all()
    return {
        "row": flag_rows(session, FlagFilter(id=flag.id))[0][0],
        "replies": [(reply, order) for reply, order in replies],
        "vehicle": session.get(Vehicle, flag.vehicle_id),
        "trip": session.get(Trip, flag.trip_id) if flag.trip_id else None,
        "order": session.get(TripOrder, flag.order_id) if flag.order_id else None,
        "nearby_orders": list(nearby),
        "history": list(history),
    }


def trips_per_day(session: Session, first: date, last: date, scope: UnitScope) -> list[tuple[date, int]]:
    """Trips per China day in [first, last], in scope (the home page's chart)."""
    stmt = (
        select(col(Trip.service_day), func.count())
        .where(col(Trip.service_day) >= first, col(Trip.service_day) <= last)
        .group_by(col(Trip.service_day))
    )
    found = dict(session.exec(scope.apply(stmt, Trip.vehicle_id, via=_BY_VEHICLE_UNIT)).all())
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [(d, int(found.get(d, 0))) for d in days]


def open_counts(session: Session, scope: UnitScope) -> dict[str, int]:
    """Open (unreviewed) flags per kind, in scope."""
    unit = scope.unit_id if scope.restricted else None
    return {
        kind: flag_rows(session, FlagFilter(kind=kind, status="open", unit=unit), limit=0)[1]
        for kind in FLAG_KINDS
    }


# ------------------------------------------------------------------------------------------------ flags

FLAG_STATUSES = (*FLAG_STATES, *REVIEW_STATUSES, "unreviewed", "reviewed")


def flag_status(state: str, review_status: str | None) -> str:
    """What a manager reads: the review if there is one, else open/resolved."""
    return review_status or state


def _flag_where(session: Session, f: FlagFilter) -> list[Any]:
    where: list[Any] = []
    if f.kind:
        if f.kind not in FLAG_KINDS:
            allowed = ", ".join(FLAG_KINDS)
            raise ValidationFailed(
                tr(
                    f"未知的预警类型 '{f.kind}': 可选 {allowed}",
                    f"unknown flag kind '{f.kind}': one of {allowed}",
                )
            )
        where.append(Flag.kind == f.kind)
    if f.unit is not None and f.unit != "":
        where.append(Flag.unit_id == _unit_id(session, f.unit))
    if f.status:
        where += _status_where(f.status)
    if f.state:
        if f.state not in FLAG_STATES:
            allowed = ", ".join(FLAG_STATES)
            raise ValidationFailed(
                tr(f"未知的状态 '{f.state}': 可选 {allowed}", f"unknown state '{f.state}': one of {allowed}")
            )
        where.append(Flag.state == f.state)
    if f.review_status:
        if f.review_status not in REVIEW_STATUSES:
            allowed, given = ", ".join(REVIEW_STATUSES), f.review_status
            raise ValidationFailed(
                tr(
                    f"未知的审核结论 '{given}': 可选 {allowed}",
                    f"unknown review status '{given}': one of {allowed}",
                )
            )
        where.append(Flag.review_status == f.review_status)
    return where + _range_where(f)


def _status_where(s: str) -> list[Any]:
    """What a manager reads as a flag's status: the review if any, else open/resolved; or a group."""
    if s not in FLAG_STATUSES:
        allowed = ", ".join(FLAG_STATUSES)
        raise ValidationFailed(
            tr(f"未知的状态 '{s}': 可选 {allowed}", f"unknown status '{s}': allowed: {allowed}")
        )
    if s in REVIEW_STATUSES:
        return [Flag.review_status == s]
    if s == "reviewed":
        return [col(Flag.review_status).is_not(None)]
    unreviewed = [col(Flag.review_status).is_(None)]
    return [*unreviewed, Flag.state == s] if s in FLAG_STATES else unreviewed


def _range_where(f: FlagFilter) -> list[Any]:
    where: list[Any] = []
    if f.date_from is not None:
        where.append(col(Flag.start_at) >= day_bounds(f.date_from)[0])
    if f.date_to is not None:
        where.append(col(Flag.start_at) < day_bounds(f.date_to)[1])
    if f.vehicle_id is not None:
        where.append(Flag.vehicle_id == f.vehicle_id)
    if f.plate:
        where.append(col(Vehicle.plate).contains(f.plate, autoescape=True))
    if f.id is not None:
        where.append(Flag.id == f.id)
    return where


def _unit_id(session: Session, unit: str | int) -> int:
    if isinstance(unit, int) or str(unit).isdigit():
        found = session.get(Unit, int(unit))
        if found is not None and found.id is not None:
            return found.id
    by_name = session.exec(select(Unit.id).where(Unit.name == str(unit))).first()
    if by_name is None:
        raise ValidationFailed(tr(f"未知单位 '{unit}'", f"unknown unit '{unit}'"))
    return by_name


# What the queue can be sorted by (a page's column → its SQL expression); the id breaks ties.
FLAG_ORDER: dict[str, Any] = {
    "kind": col(Flag.kind),
    "plate": col(Vehicle.plate),
    "unit": col(Unit.name),
    "time": col(Flag.start_at),
    "km": col(Trip.distance_m),
    "status": func.coalesce(col(Flag.review_status), col(Flag.state)),
}


def _flag_order(order: tuple[str, bool] | None) -> list[Any]:
    if order is None or order[0] not in FLAG_ORDER:
        # high severity first (a tagged unreported trip, overspeed, out of area), then newest
        return [
            case((col(Flag.severity) == "high", 0), else_=1),
            col(Flag.start_at).desc(),
            col(Flag.id).desc(),
        ]
    expr, desc = FLAG_ORDER[order[0]], order[1]
    # blanks (a flag without a trip has no km) last whichever way round, as on every list
    return [
        expr.is_(None),
        expr.desc() if desc else expr.asc(),
        col(Flag.id).desc() if desc else col(Flag.id),
    ]


def flag_rows(
    session: Session,
    f: FlagFilter | None = None,
    *,
    limit: int | None = None,
    offset: int = 0,
    order: tuple[str, bool] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the flag queue with plate, unit, trip km and order number, and the total count of the
    filtered queue. By default high severity first, then newest; `order` = (a FLAG_ORDER key, descending)."""
    f = f or FlagFilter()
    where = _flag_where(session, f)
    base = _select(col(Flag.id)).join(Vehicle, col(Vehicle.id) == col(Flag.vehicle_id)).where(*where)
    total = session.exec(select(func.count()).select_from(base.subquery())).one()
    stmt = (
        _select(
            Flag,
            Vehicle.plate,
            Unit.name,
            Trip.distance_m,
            TripOrder.order_no,
        )
        .join(Vehicle, col(Vehicle.id) == col(Flag.vehicle_id))
        .join(Unit, col(Unit.id) == col(Flag.unit_id))
        .outerjoin(Trip, col(Trip.id) == col(Flag.trip_id))
        .outerjoin(TripOrder, col(TripOrder.id) == col(Flag.order_id))
        .where(*where)
        .order_by(*_flag_order(order))
        .offset(offset)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = []
    for flag, plate, unit_name, distance_m, order_no in session.exec(stmt).all():
        rows.append(
            {
                "id": flag.id,
                "kind": flag.kind,
                "vehicle": flag.vehicle_id,
                "plate": plate,
                "unit": unit_name,
                "start_at": flag.start_at,
                "end_at": flag.end_at,
                "trip_km": None if distance_m is None else round(distance_m / 1000, 2),
                "order_no": order_no,
                "status": flag_status(flag.state, flag.review_status),
                "detail": flag.detail,
                # the rest, for the API
                "unit_id": flag.unit_id,
                "trip_id": flag.trip_id,
                "order_id": flag.order_id,
                "state": flag.state,
                "raised_at": flag.raised_at,
                "resolved_at": flag.resolved_at,
                "resolved_reason": flag.resolved_reason,
                "review_status": flag.review_status,
                "review_comment": flag.review_comment,
                "reviewed_by": flag.reviewed_by,
                "reviewed_at": flag.reviewed_at,
            }
        )
    return rows, int(total)


# ------------------------------------------------------------------------------------------ unit report


def parse_month(month: str | date) -> date:
    """'2024-06' (or a date) → the first day of that month."""
    if isinstance(month, date):
        return month.replace(day=1)
    m = re.fullmatch(r"\s*(\d{4})-(\d{1,2})\s*", month or "")
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValidationFailed(
            tr(
                f"月份格式应为 YYYY-MM (如 2024-06), 不是 '{month}'",
                f"month must look like 2024-06, not '{month}'",
            )
        )
    return date(int(m.group(1)), int(m.group(2)), 1)


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _span(first_day: date, next_first: date) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the China days first_day .. next_first - 1."""
    return day_bounds(first_day)[0], day_bounds(next_first)[0]


def _not_false_alarm() -> Any:
    return or_(col(Flag.review_status).is_(None), col(Flag.review_status) != "false_alarm")


REVIEW_OUTCOMES = ("violation", "explained", "false_alarm")
REVIEW_KEYS = (*(f"reviewed_{o}" for o in REVIEW_OUTCOMES), "not_reviewed")


def unit_report(session: Session, month: str | date) -> dict[str, Any]:
    """Per unit for one month: vehicles, trips, km, covered and unreported trips, reporting rate (covered /
    trips), vehicles idle and trackers silent at some time in the month, expenses. A trip the manager
    judged a false alarm (GPS drift, ...) counts nowhere."""
    first = parse_month(month)
    nxt = _next_month(first)
    start, end = _span(first, nxt)

    # Townships first, then departments, by name (sorted here: collations differ between databases).
    units = sorted(session.exec(select(Unit)).all(), key=lambda u: (u.kind != "township", u.name))
    # a car counts for every unit that held it at some day of the month (a transfer: for both)
    history = unit_history(session)
    vehicles: dict[int, int] = defaultdict(int)
    for vid, unit_id in session.exec(
        _select(col(Vehicle.id), col(Vehicle.unit_id)).where(
            or_(
                col(Vehicle.status) != "disposed",
                col(Vehicle.disposed_on).is_(None),
                col(Vehicle.disposed_on) >= first,
            )
        )
    ).all():
        for held in units_between(history.get(vid, []), first, nxt - timedelta(days=1), unit_id):
            vehicles[held] += 1
    false_alarm = (
        select(Flag.id)
        .where(
            col(Flag.trip_id) == col(Trip.id),
            Flag.kind == "unreported_trip",
            Flag.review_status == "false_alarm",
        )
        .exists()
    )
    # On time: covered by an order filed before the reply to the trip's flag; late: by a late order (补报).
    late_order = col(TripOrder.late_for_flag_id).is_not(None)
    on_time = and_(col(Trip.order_id).is_not(None), ~late_order)
    # each trip for the unit that held the car on its day
    rows = (
        _select(
            unit_at(Trip.vehicle_id, Trip.service_day).label("unit_id"),
            col(Trip.distance_m).label("metres"),
            case((on_time, 1), else_=0).label("on_time"),
            case((late_order, 1), else_=0).label("late"),
            col(Trip.tags).label("tags"),
            col(Trip.order_id).label("order_id"),
        )
        .outerjoin(TripOrder, col(TripOrder.id) == col(Trip.order_id))
        .where(col(Trip.service_day) >= first, col(Trip.service_day) < nxt, ~false_alarm)
        .subquery()
    )
    trips = {
        unit_id: (n, km_m, covered, late)
        for unit_id, n, km_m, covered, late in session.exec(
            _select(
                rows.c.unit_id,
                func.count(),
                func.coalesce(func.sum(rows.c.metres), 0.0),
                func.coalesce(func.sum(rows.c.on_time), 0),
                func.coalesce(func.sum(rows.c.late), 0),
            ).group_by(rows.c.unit_id)
        ).all()
    }
    # the compliance tags: per unit and tag, trips in total and those without an order
    tagged: dict[int, dict[str, int]] = {}
    tag_cols = []
    for bit in compliance.TAG_BITS.values():
        has = rows.c.tags.op("&")(bit) != 0
        tag_cols += [
            func.coalesce(func.sum(case((has, 1), else_=0)), 0),
            func.coalesce(func.sum(case((and_(has, rows.c.order_id.is_(None)), 1), else_=0)), 0),
        ]
    for unit_id, *numbers in session.exec(
        _select(rows.c.unit_id, *tag_cols).where(rows.c.tags != 0).group_by(rows.c.unit_id)
    ).all():
        tagged[unit_id] = {
            f"{name}_{what}": int(numbers[2 * k + j])
            for k, name in enumerate(compliance.TAG_BITS)
            for j, what in enumerate(("trips", "unreported"))
        }
    no_tags = {f"{name}_{what}": 0 for name in compliance.TAG_BITS for what in ("trips", "unreported")}
    spells: dict[tuple[str, int], int] = {}
    for kind, unit_id, n in session.exec(
        _select(col(Flag.kind), col(Flag.unit_id), func.count(func.distinct(Flag.vehicle_id)))
        .where(
            col(Flag.kind).in_(["idle_vehicle", "silent_tracker"]),
            col(Flag.start_at) < end,
            or_(col(Flag.end_at).is_(None), col(Flag.end_at) >= start),
            _not_false_alarm(),
        )
        .group_by(col(Flag.kind), col(Flag.unit_id))
    ).all():
        spells[(kind, unit_id)] = int(n)
    nights = dict(
        session.exec(
            _select(col(Flag.unit_id), func.count()).where(
                Flag.kind == "away_overnight", col(Flag.start_at) >= start, col(Flag.start_at) < end,
                _not_false_alarm(),
            ).group_by(col(Flag.unit_id))
        ).all()
    )  # fmt: skip
    expenses = dict(
        session.exec(
            _select(
                col(TripOrder.unit_id),
                func.sum(
                    TripExpense.tolls_fen
                    + TripExpense.meal_allowance_fen
                    + TripExpense.fuel_fen
                    + TripExpense.other_fen
                ),
            )
            .join(TripExpense, col(TripExpense.order_id) == col(TripOrder.id))
            .where(col(TripOrder.planned_start_at) >= start, col(TripOrder.planned_start_at) < end)
            .group_by(col(TripOrder.unit_id))
        ).all()
    )
    untracked = _untracked_by_unit(session, first, start, end)
    # how the month's unreported trips were reviewed (a false alarm is shown, though it counts nowhere)
    reviews: dict[int, dict[str, int]] = {}
    for unit_id, status, n in session.exec(
        _select(col(Flag.unit_id), col(Flag.review_status), func.count())
        .join(Trip, col(Trip.id) == col(Flag.trip_id))
        .where(Flag.kind == "unreported_trip", col(Trip.service_day) >= first, col(Trip.service_day) < nxt,
               col(Trip.order_id).is_(None))
        .group_by(col(Flag.unit_id), col(Flag.review_status))
    ).all():  # fmt: skip
        key = f"reviewed_{status}" if status in REVIEW_OUTCOMES else "not_reviewed"
        per = reviews.setdefault(unit_id, dict.fromkeys(REVIEW_KEYS, 0))
        per[key] += int(n)
    out = []
    for unit in units:
        n, km_m, covered, late = trips.get(unit.id, (0, 0.0, 0, 0))
        n, covered, late = int(n), int(covered), int(late)
        out.append(
            {
                "unit": unit.name,
                "vehicles": int(vehicles.get(unit.id or 0, 0)),
                "trips": n,
                "km": round(float(km_m) / 1000, 1),
                "covered_trips": covered,
                "late_reported_trips": late,
                "unreported_trips": n - covered - late,
                "reporting_rate": round(covered / n, 4) if n else None,
                "idle_vehicles": spells.get(("idle_vehicle", unit.id or 0), 0),
                "silent_trackers": spells.get(("silent_tracker", unit.id or 0), 0),
                "untracked_vehicles": untracked.get(unit.id or 0, 0),
                **tagged.get(unit.id or 0, no_tags),
                "nights_away": int(nights.get(unit.id or 0, 0)),
                **reviews.get(unit.id or 0, dict.fromkeys(REVIEW_KEYS, 0)),
                "expenses_yuan": yuan(expenses.get(unit.id, 0)),
            }
        )
    return {"month": f"{first:%Y-%m}", "units": out}


def _untracked_by_unit(session: Session, first: date, start: datetime, end: datetime) -> dict[int, int]:
    """Per unit, the cars (not disposed before the month) that held no tracker for some time of the month
    up to now (无终端): they have no trips then and are not judged idle, so the report says so."""
    from fleet import trackers

    timeline = trackers.timeline(session)
    stop = min(to_ts(end), to_ts(utcnow()))
    out: dict[int, int] = {}
    for vid, unit_id, acquired in session.exec(
        _select(col(Vehicle.id), col(Vehicle.unit_id), col(Vehicle.acquired_on)).where(
            or_(col(Vehicle.status) != "disposed", col(Vehicle.disposed_on).is_(None),
                col(Vehicle.disposed_on) >= first)
        )
    ).all():  # fmt: skip
        a = max(to_ts(start), to_ts(day_bounds(acquired)[0]) if acquired else 0)
        if a < stop and timeline.untracked_s(vid, a, stop) > 0:
            out[unit_id] = out.get(unit_id, 0) + 1
    return out


def bulletin(session: Session, month: str | date, threshold: float | None = None) -> dict[str, Any]:
    """通报: the units whose reporting rate is under the threshold (default from settings), worst first.
    A unit without trips in the month has no rate and is not listed."""
    if threshold is None:
        threshold = get_settings().bulletin_threshold
    if not 0 <= threshold <= 1:
        raise ValidationFailed(
            tr(
                f"阈值须在 0 到 1 之间, 不是 {threshold}",
                f"threshold must be between 0 and 1, not {threshold}",
            )
        )
    report = unit_report(session, month)
    under = [
        u for u in report["units"] if u["reporting_rate"] is not None and u["reporting_rate"] < threshold
    ]
    under.sort(key=lambda u: (u["reporting_rate"], -u["unreported_trips"], u["unit"]))
    return {
        "month": report["month"], "threshold": threshold, "units": under,
        "high_risk": high_risk_trips(session, parse_month(month)),
    }  # fmt: skip


HIGH_RISK = ("rest_day", "off_hours", "out_of_area")  # what the bulletin names first


def high_risk_trips(session: Session, first: date, per_unit: int = 20) -> list[dict[str, Any]]:
    """The month's unreported trips on a rest day, at night or out of the area, by unit (most first):
    each unit's count and its first `per_unit` trips, oldest first. False alarms count nowhere."""
    bits = 0
    for name in HIGH_RISK:
        bits |= compliance.TAG_BITS[name]
    nxt = _next_month(first)
    rows = session.exec(
        _select(
            col(Flag.unit_id), col(Unit.name), col(Flag.id), col(Trip.id), col(Vehicle.plate),
            col(Trip.start_at), col(Trip.distance_m), col(Trip.tags),
        )
        .join(Trip, col(Trip.id) == col(Flag.trip_id))
        .join(Vehicle, col(Vehicle.id) == col(Trip.vehicle_id))
        .join(Unit, col(Unit.id) == col(Flag.unit_id))
        .where(
            Flag.kind == "unreported_trip", Flag.state == "open", col(Trip.service_day) >= first,
            col(Trip.service_day) < nxt, col(Trip.tags).op("&")(bits) != 0, _not_false_alarm(),
        )
        .order_by(col(Trip.start_at))
    ).all()  # fmt: skip
    units: dict[int, dict[str, Any]] = {}
    for unit_id, name, flag_id, trip_id, plate, start, distance, tag_bits in rows:
        u = units.setdefault(unit_id, {"unit": name, "count": 0, "trips": []})
        u["count"] += 1
        if len(u["trips"]) < per_unit:
            names = [t for t in compliance.tag_names(int(tag_bits)) if t in HIGH_RISK]
            u["trips"].append({
                "flag_id": flag_id, "trip_id": trip_id, "plate": plate,
                "start_at": to_china(start).isoformat(), "km": round(distance / 1000, 1), "tags": names,
            })  # fmt: skip
    return sorted(units.values(), key=lambda u: (-u["count"], u["unit"]))


# ---------------------------------------------------------------------------------------- expense sheet


def _total_fen() -> Any:
    return (
        func.coalesce(TripExpense.tolls_fen, 0)
        + func.coalesce(TripExpense.meal_allowance_fen, 0)
        + func.coalesce(TripExpense.fuel_fen, 0)
        + func.coalesce(TripExpense.other_fen, 0)
    )


def _per_km(fen: int, km: float) -> str | None:
    if km <= 0:
        return None
    value = Decimal(int(fen)) / 100 / Decimal(str(round(km, 3)))
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def expense_sheet(session: Session, year: int) -> dict[str, Any]:
    """出行费用单 of one year (orders by planned start, China time): one row per approved order or order
    with expenses; and per vehicle the operating cost (the expenses of its orders), the km of all its
    trips and the cost per km."""
    if not 1990 <= year <= 2200:
        raise ValidationFailed(tr(f"年份不合理: {year}", f"year {year} out of range"))
    start, end = _span(date(year, 1, 1), date(year + 1, 1, 1))
    track_m = (
        select(func.coalesce(func.sum(Trip.distance_m), 0.0))
        .where(col(Trip.order_id) == col(TripOrder.id))
        .scalar_subquery()
    )
    rows = session.exec(
        _select(
            col(TripOrder.order_no),
            col(TripOrder.planned_start_at),
            col(Vehicle.plate),
            col(TripOrder.driver),
            col(TripOrder.destination),
            track_m,
            func.coalesce(TripExpense.tolls_fen, 0),
            func.coalesce(TripExpense.meal_allowance_fen, 0),
            func.coalesce(TripExpense.fuel_fen, 0),
            func.coalesce(TripExpense.other_fen, 0),
        )
        .join(Vehicle, col(Vehicle.id) == col(TripOrder.vehicle_id))
        .outerjoin(TripExpense, col(TripExpense.order_id) == col(TripOrder.id))
        .where(
            col(TripOrder.planned_start_at) >= start,
            col(TripOrder.planned_start_at) < end,
            or_(col(TripOrder.status).in_(COVERING), col(TripExpense.id).is_not(None)),
        )
        .order_by(col(TripOrder.planned_start_at), col(TripOrder.order_no))
    ).all()
    orders = []
    for order_no, planned, plate, driver, destination, m, tolls, meal, fuel, other in rows:
        orders.append(
            {
                "order_no": order_no,
                "date": china_day(planned).isoformat(),
                "vehicle": plate,
                "driver": driver,
                "destination": destination,
                "track_km": round(float(m) / 1000, 1),
                "tolls": yuan(tolls),
                "meal_allowance": yuan(meal),
                "fuel": yuan(fuel),
                "other": yuan(other),
                "total": yuan(int(tolls) + int(meal) + int(fuel) + int(other)),
            }
        )

    cost = dict(
        session.exec(
            _select(col(TripOrder.vehicle_id), func.sum(_total_fen()))
            .join(TripExpense, col(TripExpense.order_id) == col(TripOrder.id))
            .where(
                col(TripOrder.vehicle_id).is_not(None),
                col(TripOrder.planned_start_at) >= start,
                col(TripOrder.planned_start_at) < end,
            )
            .group_by(col(TripOrder.vehicle_id))
        ).all()
    )
    order_count = dict(
        session.exec(
            _select(col(TripOrder.vehicle_id), func.count())
            .where(
                col(TripOrder.vehicle_id).is_not(None),
                col(TripOrder.planned_start_at) >= start,
                col(TripOrder.planned_start_at) < end,
                col(TripOrder.status).in_(COVERING),
            )
            .group_by(col(TripOrder.vehicle_id))
        ).all()
    )
    driven = {
        vid: (int(n), float(m))
        for vid, n, m in session.exec(
            _select(col(Trip.vehicle_id), func.count(), func.sum(Trip.distance_m))
            .where(
                and_(col(Trip.service_day) >= date(year, 1, 1), col(Trip.service_day) < date(year + 1, 1, 1))
            )
            .group_by(col(Trip.vehicle_id))
        ).all()
    }
    ids = sorted(set(cost) | set(driven) | set(order_count))
    vehicles = []
    if ids:
        info = {
            vid: (plate, unit)
            for vid, plate, unit in session.exec(
                _select(col(Vehicle.id), col(Vehicle.plate), col(Unit.name))
                .join(Unit, col(Unit.id) == col(Vehicle.unit_id))
                .where(col(Vehicle.id).in_(ids))
            ).all()
        }
        for vid in sorted(ids, key=lambda v: info[v][0]):
            trips, m = driven.get(vid, (0, 0.0))
            fen = int(cost.get(vid, 0) or 0)
            km = round(m / 1000, 1)
            vehicles.append(
                {
                    "vehicle": info[vid][0],
                    "unit": info[vid][1],
                    "orders": int(order_count.get(vid, 0)),
                    "trips": trips,
                    "km": km,
                    "cost_yuan": yuan(fen),
                    "cost_per_km_yuan": _per_km(fen, km),
                }
            )
    return {"year": year, "orders": orders, "vehicles": vehicles}


# ------------------------------------------------------------------------------------------------ trends

TREND_MONTHS_MAX = 36


def month_range(first: date, last: date) -> list[date]:
    """The first days of the months first..last (both given as any day of their month)."""
    out, m = [], first.replace(day=1)
    while m <= last:
        out.append(m)
        m = _next_month(m)
    return out


def utilisation(days_used: int, working_days: int) -> float | None:
    """出车率: the working days a car made a trip over the working days of the period (None: no day yet)."""
    return days_used / working_days if working_days else None


def trends(session: Session, first: date, last: date, scope: UnitScope, today: date) -> dict[str, Any]:
    """Km, trips and running cost (the expenses of the cars' orders, by planned start) per month of
    first..last, for each unit in scope and all of them together; and each car's utilisation over the
    working days (State Council calendar with 调休, and the center's own days) from `first` — or the first
    trip gongwu holds, if later — to yesterday. A month's trips count for the unit that held the car then;
    a car's utilisation is listed under its unit of today."""
    months = month_range(first, last)
    if not months:
        raise ValidationFailed(tr("起始月份晚于截止月份", "the first month is after the last"))
    if len(months) > TREND_MONTHS_MAX:
        raise ValidationFailed(
            tr(f"最多查看 {TREND_MONTHS_MAX} 个月", f"at most {TREND_MONTHS_MAX} months at a time")
        )
    end = _next_month(months[-1])  # the day after the period
    cars = session.exec(vehicles_query(scope)).all()
    ids = [v.id for v in cars if v.id is not None]
    unit_name = {u.id: u.name for u in units_in_scope(session, scope)}
    # a trip and an order's cost count for the unit that held the car on its day (a transfer splits a
    # car's months between two units): the cars of the units in scope then, not only of today
    history = unit_history(session)
    current = {vid: unit for vid, unit in session.exec(_select(Vehicle.id, Vehicle.unit_id)).all()}
    moved = [vid for vid, spans in history.items() if any(scope.allows(u) for _, _, u in spans)]
    counted = sorted(set(ids) | set(moved))

    def unit_of(vid: int, day: date) -> int:
        return rules.unit_on(history.get(vid, []), day, current[vid])

    per_unit: dict[int, dict[date, list[float]]] = defaultdict(lambda: {m: [0, 0.0, 0] for m in months})
    days_with_trips: dict[int, set[date]] = defaultdict(set)
    if counted:
        for vid, day, n, metres in session.exec(
            _select(col(Trip.vehicle_id), col(Trip.service_day), func.count(), func.sum(Trip.distance_m))
            .where(
                col(Trip.vehicle_id).in_(counted), col(Trip.service_day) >= months[0],
                col(Trip.service_day) < end,
            )
            .group_by(col(Trip.vehicle_id), col(Trip.service_day))
        ).all():  # fmt: skip
            days_with_trips[vid].add(day)
            if not scope.allows(uid := unit_of(vid, day)):
                continue
            cell = per_unit[uid][day.replace(day=1)]
            cell[0] += int(n)
            cell[1] += float(metres or 0)
        start, stop = _span(months[0], end)
        for vid, planned, fen in session.exec(
            _select(col(TripOrder.vehicle_id), col(TripOrder.planned_start_at), _total_fen())
            .join(TripExpense, col(TripExpense.order_id) == col(TripOrder.id))
            .where(
                col(TripOrder.vehicle_id).in_(counted),
                col(TripOrder.planned_start_at) >= start,
                col(TripOrder.planned_start_at) < stop,
            )
        ).all():
            day = china_day(planned)
            if scope.allows(uid := unit_of(vid, day)):
                per_unit[uid][day.replace(day=1)][2] += int(fen or 0)

    def row(cells: dict[date, list[float]]) -> list[dict[str, Any]]:
        return [
            {
                "month": f"{m:%Y-%m}",
                "trips": int(c[0]),
                "km": round(c[1] / 1000, 1),
                "cost_yuan": yuan(int(c[2])),
            }
            for m, c in cells.items()
        ]

    county = {m: [0, 0.0, 0] for m in months}
    units = []
    for uid in sorted(per_unit, key=lambda u: unit_name.get(u, "")):
        for m, c in per_unit[uid].items():
            county[m] = [a + b for a, b in zip(county[m], c, strict=True)]
        cells = row(per_unit[uid])
        units.append(
            {
                "unit_id": uid,
                "unit": unit_name.get(uid, ""),
                "months": cells,
                "trips": sum(c["trips"] for c in cells),
                "km": round(sum(per_unit[uid][m][1] for m in months) / 1000, 1),
                "cost_yuan": yuan(int(sum(per_unit[uid][m][2] for m in months))),
            }
        )
    # utilisation over the days that have passed since gongwu holds trips: before its first trip of any
    # car the county's records are elsewhere, and a car cannot be called unused for them
    upto = min(end - timedelta(days=1), today - timedelta(days=1))
    first_trip = (
        session.exec(select(func.min(Trip.service_day)).where(col(Trip.vehicle_id).in_(ids))).one()
        if ids
        else None
    )
    since = max(months[0], first_trip) if first_trip else months[0]
    working: set[date] = set()
    if upto >= since:
        local = tags.local_days(session, since, upto)
        every = {since + timedelta(days=i) for i in range((upto - since).days + 1)}
        working = every - compliance.rest_days(since, upto, local)
    vehicles = []
    for v in cars:
        if v.status == "disposed" or v.id is None:
            continue
        used = days_with_trips.get(v.id, set())
        on_working = len(used & working)
        vehicles.append(
            {
                "vehicle_id": v.id,
                "vehicle": v.plate,
                "unit": unit_name.get(v.unit_id, ""),
                "working_days": len(working),
                "working_days_used": on_working,
                "rest_days_used": len({d for d in used if since <= d <= upto} - working),
                "utilisation": utilisation(on_working, len(working)),
            }
        )
    return {
        "first": f"{months[0]:%Y-%m}",
        "last": f"{months[-1]:%Y-%m}",
        "months": [f"{m:%Y-%m}" for m in months],
        "county": row(county),
        "units": units,
        "working_days": len(working),
        "counted_from": since.isoformat() if working else None,
        "counted_to": upto.isoformat() if working else None,
        "vehicles": vehicles,
    }


# ------------------------------------------------------------------------------------------ tracker upkeep


def tracker_report(session: Session, today: date, scope: UnitScope | None = None) -> list[dict[str, Any]]:
    """Per vehicle with a tracker: last fix, last check (检修), when the next is due and whether it is
    overdue, silent since (its open silent_tracker flag), and the tracker's replacements. Overdue first."""
    months = get_settings().tracker_check_months
    stmt = select(Vehicle, Unit.name).join(Unit, col(Unit.id) == col(Vehicle.unit_id))
    stmt = stmt.where(col(Vehicle.tracker_id).is_not(None), Vehicle.status != "disposed")
    if scope is not None:
        stmt = scope.apply(stmt, Vehicle.unit_id)
    vehicles = session.exec(stmt).all()
    devices = [v.tracker_id for v, _ in vehicles if v.tracker_id]
    checks: dict[str, list[TrackerCheck]] = defaultdict(list)
    last_fix: dict[str, int] = {}
    silent: dict[int, datetime] = {}
    for chunk in [devices[i : i + 500] for i in range(0, len(devices), 500)]:
        for c in session.exec(
            select(TrackerCheck)
            .where(col(TrackerCheck.device_id).in_(chunk))
            .order_by(col(TrackerCheck.checked_on))
        ).all():
            checks[c.device_id].append(c)
        last_fix.update(
            session.exec(
                _select(col(Position.device_id), func.max(Position.fix_ts))
                .where(col(Position.device_id).in_(chunk))
                .group_by(col(Position.device_id))
            ).all()
        )
    for vid, since in session.exec(
        _select(col(Flag.vehicle_id), col(Flag.start_at)).where(
            Flag.kind == "silent_tracker", Flag.state == "open"
        )
    ).all():
        silent[int(vid)] = since
    from fleet import trackers

    timeline = trackers.timeline(session)
    now = to_ts(utcnow())
    out: list[dict[str, Any]] = []
    for vehicle, unit in vehicles:
        device = vehicle.tracker_id or ""
        done = checks.get(device, [])
        last = done[-1] if done else None
        # installed: when the car got the tracker it holds now (its history), else its acquisition
        held = timeline.vehicle_segment_at(vehicle.id or 0, now)
        installed = (
            china_day(from_ts(held.start)) if held and held.start > OPEN_START else vehicle.acquired_on
        )
        due = rules.check_due(last.checked_on if last else None, installed, months)
        segs = timeline.of_vehicle(vehicle.id or 0)
        swaps = {china_day(from_ts(b.start)) for a, b in pairwise(segs) if a.device != b.device}
        fix = last_fix.get(device)
        out.append(
            {
                "plate": vehicle.plate,
                "unit": unit,
                "device_id": device,
                "last_fix_at": from_ts(int(fix)) if fix is not None else None,
                "last_check_on": last.checked_on if last else None,
                "last_check_result": last.result if last else None,
                "due_on": due,
                "state": rules.check_state(due, today),
                "silent_since": silent.get(vehicle.id or 0),
                "installed_on": installed,
                "replaced_on": sorted(swaps | {c.checked_on for c in done if c.result == "replaced"}),
            }
        )
    rank: dict[str, int] = {"overdue": 0, "due": 1, "ok": 2}
    out.sort(key=lambda r: (rank[r["state"]], r["due_on"] or date.min, r["plate"]))
    return out


def last_check(session: Session, device: str | None) -> TrackerCheck | None:
    """A tracker's latest check (a silent_tracker flag shows it)."""
    if not device:
        return None
    stmt = (
        select(TrackerCheck)
        .where(TrackerCheck.device_id == device)
        .order_by(col(TrackerCheck.checked_on).desc())
    )
    return session.exec(stmt.limit(1)).first()


# ------------------------------------------------------------------------------- running costs (issue 25)

COST_CATEGORIES = ("fuel", "maintenance", "insurance", "tolls", "meals", "other")
# the other running costs' categories in the report's six
_COST_CATEGORY = {
    "tolls": "tolls",
    "parking": "other",
    "washing": "other",
    "travel": "other",
    "other": "other",
}


def _held_in(v: Vehicle, first: date, last: date) -> bool:
    """A car the county held at some day of first..last (acquired by its end, not disposed before it)."""
    return (v.acquired_on is None or v.acquired_on <= last) and (
        v.disposed_on is None or v.disposed_on >= first
    )


def _cost_items(
    session: Session, first: date, last: date, vehicle_id: int | None = None
) -> list[tuple[int, date, str, int]]:
    """Every cost of first..last as (car, day, category, fen): fill-ups, workshop bills, premiums (on the
    policy's first day), inspection fees, other costs, and the orders' expense sheets (by the planned
    start) — an order's fuel only when no fuel slip names the order, so a fill-up is never counted twice."""
    from fleet.models import FuelFill, Inspection, Insurance, Maintenance, RunningCost

    start, end = day_bounds(first)[0], day_bounds(last)[1]
    items: list[tuple[int, date, str, int]] = []
    for vid, at, fen in session.exec(
        _select(FuelFill.vehicle_id, FuelFill.filled_at, FuelFill.amount_fen).where(
            col(FuelFill.filled_at) >= start, col(FuelFill.filled_at) < end
        )
    ).all():
        items.append((vid, china_day(at), "fuel", int(fen)))
    dated: tuple[tuple[Any, Any, Any, str], ...] = (
        (Maintenance, Maintenance.done_on, Maintenance.amount_fen, "maintenance"),
        (Insurance, Insurance.start_on, Insurance.premium_fen, "insurance"),
        (Inspection, Inspection.inspected_on, Inspection.amount_fen, "other"),
    )
    for model, day_col, fen_col, category in dated:
        for vid, day, fen in session.exec(
            _select(model.vehicle_id, day_col, fen_col).where(col(day_col) >= first, col(day_col) <= last)
        ).all():
            items.append((vid, day, category, int(fen)))
    for vid, day, kind, fen in session.exec(
        _select(
            RunningCost.vehicle_id, RunningCost.spent_on, RunningCost.category, RunningCost.amount_fen
        ).where(col(RunningCost.spent_on) >= first, col(RunningCost.spent_on) <= last)
    ).all():
        items.append((vid, day, _COST_CATEGORY.get(kind, "other"), int(fen)))
    slipped = select(FuelFill.id).where(col(FuelFill.order_id) == col(TripOrder.id)).exists()
    for vid, planned, tolls, meals, fuel, other, has_slip in session.exec(
        _select(
            TripOrder.vehicle_id, TripOrder.planned_start_at, TripExpense.tolls_fen,
            TripExpense.meal_allowance_fen, TripExpense.fuel_fen, TripExpense.other_fen, slipped,
        )
        .join(TripExpense, col(TripExpense.order_id) == col(TripOrder.id))
        .where(
            col(TripOrder.vehicle_id).is_not(None), col(TripOrder.planned_start_at) >= start,
            col(TripOrder.planned_start_at) < end,
        )
    ).all():  # fmt: skip
        day = china_day(planned)
        for category, fen in (
            ("tolls", tolls),
            ("meals", meals),
            ("fuel", 0 if has_slip else fuel),
            ("other", other),
        ):
            if fen:
                items.append((vid, day, category, int(fen)))
    return items if vehicle_id is None else [i for i in items if i[0] == vehicle_id]


def _cost_row(cars: int, fen: dict[str, int], km: float, trips: int) -> dict[str, Any]:
    total = sum(fen.values())
    return {
        "cars": cars,
        **{f"{c}_fen": fen.get(c, 0) for c in COST_CATEGORIES},
        "total_fen": total,
        "km": round(km, 1),
        "trips": trips,
        "per_car_fen": round(total / cars) if cars else None,
        "per_km_fen": round(total / km) if km else None,
        "per_trip_fen": round(total / trips) if trips else None,
    }


def costs_year(
    session: Session, year: int, scope: UnitScope, vehicle_id: int | None = None
) -> dict[str, Any]:
    """One year's running costs per car, per unit and for the county (the cars each held that year): fuel,
    maintenance, insurance, tolls, meals, other, with cost per car, per km (GPS) and per trip. A cost and a
    trip count for the unit that held the car on its day (a transfer splits a car between two units)."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    history = unit_history(session)
    cars = {v.id: v for v in session.exec(select(Vehicle)).all() if v.id is not None}
    units = {u.id: u.name for u in session.exec(select(Unit)).all()}
    per_car: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_unit: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    km_car: dict[int, list[float]] = defaultdict(lambda: [0.0, 0])
    km_unit: dict[int, list[float]] = defaultdict(lambda: [0.0, 0])

    def unit_of(vid: int, day: date) -> int:
        return rules.unit_on(history.get(vid, []), day, cars[vid].unit_id)

    for vid, day, category, fen in _cost_items(session, first, last, vehicle_id):
        if vid not in cars or not scope.allows(uid := unit_of(vid, day)):
            continue
        per_car[vid][category] += fen
        per_unit[uid][category] += fen
    trips = _select(Trip.vehicle_id, Trip.service_day, func.count(), func.sum(Trip.distance_m)).where(
        col(Trip.service_day) >= first, col(Trip.service_day) <= last
    )
    if vehicle_id is not None:
        trips = trips.where(col(Trip.vehicle_id) == vehicle_id)
        cars = {vehicle_id: cars[vehicle_id]} if vehicle_id in cars else {}
    for vid, day, n, metres in session.exec(
        trips.group_by(col(Trip.vehicle_id), col(Trip.service_day))
    ).all():
        if vid not in cars or not scope.allows(uid := unit_of(vid, day)):
            continue
        for cell in (km_car[vid], km_unit[uid]):
            cell[0] += float(metres or 0) / 1000
            cell[1] += int(n)
    held = {vid for vid, v in cars.items() if _held_in(v, first, last)}
    unit_cars: dict[int, int] = defaultdict(int)
    for vid in held:
        for uid in rules.units_between(history.get(vid, []), first, last, cars[vid].unit_id):
            if scope.allows(uid):
                unit_cars[uid] += 1
    vehicles = [
        {"plate": cars[vid].plate, "unit": units.get(cars[vid].unit_id, ""),
         **_cost_row(1, per_car.get(vid, {}), km_car[vid][0], int(km_car[vid][1]))}
        for vid in sorted(held | set(per_car), key=lambda v: cars[v].plate)
        if scope.allows(cars[vid].unit_id) or vid in per_car
    ]  # fmt: skip
    unit_rows = [
        {"unit": units.get(uid, ""),
         **_cost_row(unit_cars.get(uid, 0), per_unit.get(uid, {}), km_unit[uid][0], int(km_unit[uid][1]))}
        for uid in sorted(set(unit_cars) | set(per_unit), key=lambda u: units.get(u, ""))
    ]  # fmt: skip
    county_fen: dict[str, int] = defaultdict(int)
    for spent in per_unit.values():
        for c, fen in spent.items():
            county_fen[c] += fen
    county_cars = sum(1 for vid in held if any(scope.allows(u) for u in
                      rules.units_between(history.get(vid, []), first, last, cars[vid].unit_id)))  # fmt: skip
    county = _cost_row(
        county_cars, county_fen, sum(c[0] for c in km_unit.values()), int(sum(c[1] for c in km_unit.values()))
    )
    return {"year": year, "vehicles": vehicles, "units": unit_rows, "county": county}


def _pct(old: int | None, new: int | None) -> float | None:
    return round((new - old) / old * 100, 1) if old and new is not None else None


def costs_report(session: Session, year: int, scope: UnitScope, compare: int | None = None) -> dict[str, Any]:
    """`costs_year` of `year`; with `compare`, that year too and the change (the audit's line: 31 cars
    ¥340,000 → 32 cars ¥491,000) for the county and each unit."""
    data = costs_year(session, year, scope)
    if compare is None:
        return data
    then = costs_year(session, compare, scope)
    before = {u["unit"]: u for u in then["units"]}

    def change(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        return {
            "cars_from": old.get("cars", 0), "cars_to": new.get("cars", 0),
            "total_fen_from": old.get("total_fen", 0), "total_fen_to": new.get("total_fen", 0),
            "total_pct": _pct(old.get("total_fen"), new.get("total_fen")),
            "per_car_pct": _pct(old.get("per_car_fen"), new.get("per_car_fen")),
        }  # fmt: skip

    data["compare"] = then
    data["change"] = {
        "county": change(then["county"], data["county"]),
        "units": [{"unit": u["unit"], **change(before.get(u["unit"], {}), u)} for u in data["units"]],
    }
    return data


# ------------------------------------------------------------------------------------ disposal (issue 25)

DISPOSAL_STAGES = ("idle_proposed", "disposal_pending", "disposal_approved", "disposed")


def disposals(session: Session, scope: UnitScope, today: date) -> list[dict[str, Any]]:
    """Each disposal case — from a proposal to `disposed`, or still under way — with its stage, the day
    each stage began with its paper, and the days it spent in each (the current one up to today): the
    audit's 8 idle cars took from the application (28 August) to the end of October. A withdrawn proposal
    is no case; a car transferred (调剂) and later proposed again has two. A case belongs to the unit that
    held the car when it began. The cars judged idle and not in a case are listed too: where one begins."""
    from core.labels import label_of
    from fleet.models import DisposalStep, VehicleStatus

    units = {u.id: u.name for u in session.exec(select(Unit)).all()}
    cars = {v.id or 0: v for v in session.exec(select(Vehicle)).all()}
    history = unit_history(session)
    cases: dict[int, list[list[DisposalStep]]] = defaultdict(list)
    live: dict[int, list[DisposalStep]] = {}
    for step in session.exec(select(DisposalStep).order_by(col(DisposalStep.id))).all():
        vid = step.vehicle_id
        if step.stage == "in_service":  # withdrawn: that proposal is no case
            if vid in live:
                cases[vid].remove(live.pop(vid))
            continue
        if vid not in live:
            live[vid] = []
            cases[vid].append(live[vid])
        live[vid].append(step)
        if step.stage == "disposed":
            del live[vid]  # the case is closed: a later proposal opens another
    # the cars judged idle and not yet proposed: where a disposal begins (the audit's 8 cars that never moved)
    idle = {
        vid: start
        for vid, start in session.exec(
            _select(Flag.vehicle_id, Flag.start_at).where(Flag.kind == "idle_vehicle", Flag.state == "open")
        ).all()
    }
    out = []
    for vid, v in sorted(cars.items(), key=lambda kv: kv[1].plate):
        for steps in cases.get(vid, []):
            # a transfer's case is the giving unit's: the one holding the car the day before it moved
            moved = steps[-1].stage == "disposed" and steps[-1].method == "transfer"
            day = steps[-1].on_day - timedelta(days=1) if moved else steps[0].on_day
            unit = rules.unit_on(history.get(vid, []), day, v.unit_id)
            if scope.allows(unit):
                out.append(_disposal_row(v.plate, units.get(unit, ""), steps, idle.get(vid), today, units))
        if vid in idle and vid not in live and v.status == "in_service" and scope.allows(v.unit_id):
            row = _disposal_row(v.plate, units.get(v.unit_id, ""), [], idle[vid], today, units)
            out.append(row | {"stage": "in_service", "stage_label": label_of(VehicleStatus, "in_service")})
    return out


def _disposal_row(
    plate: str, unit: str, steps: list[Any], idle: datetime | None, today: date, units: dict[Any, str]
) -> dict[str, Any]:
    from core.labels import label_of
    from fleet.models import DisposalMethod, VehicleStatus

    began = {s.stage: s for s in steps}
    stage = steps[-1].stage if steps else "in_service"
    row: dict[str, Any] = {
        "plate": plate, "unit": unit, "stage": stage, "stage_label": label_of(VehicleStatus, stage),
        "idle_since": china_day(idle) if idle is not None and stage != "disposed" else None,
    }  # fmt: skip
    for name, nxt in zip(DISPOSAL_STAGES, (*DISPOSAL_STAGES[1:], None), strict=True):
        s = began.get(name)
        row[f"{name}_on"] = s.on_day if s else None
        if nxt is not None:  # the days until the next stage began, or until today in the current one
            later = began.get(nxt)
            then = later.on_day if later else today if stage == name else None
            row[f"days_{name}"] = (then - s.on_day).days if s and then else None
    row["application_no"] = began["disposal_pending"].document_no if "disposal_pending" in began else ""
    row["approval_no"] = began["disposal_approved"].document_no if "disposal_approved" in began else ""
    last = began.get("disposed")
    row["method"] = label_of(DisposalMethod, last.method) if last and last.method else ""
    row["income_yuan"] = yuan(last.income_fen) if last and last.income_fen is not None else None
    row["to_unit"] = units.get(last.to_unit_id, "") if last and last.to_unit_id else ""
    end_on = today if last is None else last.on_day
    row["days_total"] = (end_on - steps[0].on_day).days if steps else None
    return row


def vehicle_records(
    session: Session, vehicle_id: int, year: int | None = None, scope: UnitScope | None = None
) -> dict[str, list[dict[str, Any]]]:
    """A car's fill-ups, workshop bills, policies, inspections and other costs (of `year`, or all), newest
    first, money as exact yuan; for a unit's staff, those of the days their unit held the car."""
    from fleet.models import FuelFill, Inspection, Insurance, Maintenance, RunningCost

    def within(day_col: Any, stmt: Any) -> Any:
        if year is None:
            return stmt
        if day_col is FuelFill.filled_at:
            lo, hi = day_bounds(date(year, 1, 1))[0], day_bounds(date(year, 12, 31))[1]
            return stmt.where(col(day_col) >= lo, col(day_col) < hi)
        return stmt.where(col(day_col) >= date(year, 1, 1), col(day_col) <= date(year, 12, 31))

    spans = unit_history(session).get(vehicle_id, [])
    car = session.get(Vehicle, vehicle_id)
    current = car.unit_id if car is not None else 0

    def rows(model: Any, day_col: Any) -> list[Any]:
        stmt = select(model).where(model.vehicle_id == vehicle_id).order_by(col(day_col).desc())
        found = list(session.exec(within(day_col, stmt)).all())
        if scope is None or not scope.restricted or not spans:
            return found
        day_of = (
            (lambda r: china_day(r.filled_at)) if model is FuelFill else (lambda r: getattr(r, day_col.key))
        )
        return [r for r in found if scope.allows(rules.unit_on(spans, day_of(r), current))]

    return {
        "fuel": [
            {"id": f.id, "filled_at": to_china(f.filled_at).isoformat(), "litres": f.litres,
             "amount_yuan": yuan(f.amount_fen), "card_no": f.card_no, "station": f.station,
             "order_id": f.order_id}
            for f in rows(FuelFill, FuelFill.filled_at)
        ],
        "maintenance": [
            {"id": m.id, "done_on": m.done_on.isoformat(), "workshop": m.workshop, "kind": m.kind,
             "odometer_km": m.odometer_km, "amount_yuan": yuan(m.amount_fen), "reason": m.reason,
             "document_no": m.document_no}
            for m in rows(Maintenance, Maintenance.done_on)
        ],
        "insurance": [
            {"id": i.id, "insurer": i.insurer, "policy_no": i.policy_no, "start_on": i.start_on.isoformat(),
             "end_on": i.end_on.isoformat(), "premium_yuan": yuan(i.premium_fen)}
            for i in rows(Insurance, Insurance.start_on)
        ],
        "inspections": [
            {"id": i.id, "inspected_on": i.inspected_on.isoformat(), "next_due_on": i.next_due_on.isoformat(),
             "station": i.station, "amount_yuan": yuan(i.amount_fen)}
            for i in rows(Inspection, Inspection.inspected_on)
        ],
        "costs": [
            {"id": c.id, "spent_on": c.spent_on.isoformat(), "category": c.category,
             "amount_yuan": yuan(c.amount_fen), "reason": c.reason, "document_no": c.document_no}
            for c in rows(RunningCost, RunningCost.spent_on)
        ],
    }  # fmt: skip


def vehicle_papers(session: Session, vehicle_id: int, today: date) -> dict[str, Any]:
    """A car's cover as of today — the policy and the inspection in force (or the last one), the day the
    cover ends and its state (valid, due within GONGWU_DUE_REMINDER_DAYS, lapsed, none) — and the steps of
    its disposal."""
    from fleet.models import DisposalStep, Inspection, Insurance

    ahead = get_settings().due_reminder_days

    def state(spans: list[tuple[date, date]]) -> tuple[str, date | None]:
        if not spans:
            return "none", None
        until = rules.cover_end(spans, today)
        if until is None:
            return "lapsed", max(hi for _, hi in spans)
        return ("due" if (until - today).days <= ahead else "valid"), until

    policies = session.exec(
        select(Insurance).where(Insurance.vehicle_id == vehicle_id).order_by(col(Insurance.end_on).desc())
    ).all()
    checks = session.exec(
        select(Inspection)
        .where(Inspection.vehicle_id == vehicle_id)
        .order_by(col(Inspection.inspected_on).desc())
    ).all()
    insured, insured_until = state([(p.start_on, p.end_on) for p in policies])
    inspected, inspected_until = state([(c.inspected_on, c.next_due_on) for c in checks])
    steps = session.exec(
        select(DisposalStep).where(DisposalStep.vehicle_id == vehicle_id).order_by(col(DisposalStep.id))
    ).all()
    units = {u.id: u.name for u in session.exec(select(Unit)).all()}
    return {
        "insurance": {"state": insured, "until": insured_until, "last": policies[0] if policies else None},
        "inspection": {"state": inspected, "until": inspected_until, "last": checks[0] if checks else None},
        "steps": [
            {"stage": s.stage, "on": s.on_day, "document_no": s.document_no, "method": s.method,
             "income_yuan": yuan(s.income_fen) if s.income_fen is not None else None,
             "to_unit": units.get(s.to_unit_id, "") if s.to_unit_id else "", "actor": s.actor,
             "comment": s.comment}
            for s in steps
        ],
    }  # fmt: skip
