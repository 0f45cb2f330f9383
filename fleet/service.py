"""Fleet use-cases: orders (create, update, cancel) and their expenses, and a vehicle's disposal. Services
never commit; every change is audit-logged with who, before and after. The import kinds are in
fleet/imports.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from accounts import notify
from core import audit
from core import normalize as n
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.i18n import tr
from core.importing import upsert
from core.labels import label_of
from core.models import Unit
from core.settings import get_settings
from core.timeutil import as_utc, china_day, to_china, utcnow
from fleet import flags, reconcile, rules
from fleet.models import (
    ORDER_STATUSES,
    Decision,
    DisposalMethod,
    DisposalStep,
    Driver,
    Flag,
    FlagKind,
    FlagReply,
    OrderApproval,
    OrderStatus,
    TrackerCheck,
    TripExpense,
    TripOrder,
    Vehicle,
    VehicleStatus,
    VehicleUnit,
)
from fleet.rules import licence_class as licence_class_of
from fleet.rules import text_problem, window_problem

CHUNK = 500
ORDER_TEXT = ("applicant", "driver", "purpose", "destination")
MONEY = ("tolls_fen", "meal_allowance_fen", "fuel_fen", "other_fen")
# What changes the cover of an order's trips: after such a change its trips are matched again at once.
ORDER_MATCH_FIELDS = ("vehicle_id", "planned_start_at", "planned_end_at", "status")


# ------------------------------------------------------------------------------------------------ orders


ORDER_FIELDS = (
    "order_no",
    "vehicle_id",
    "unit_id",
    *ORDER_TEXT,
    "planned_start_at",
    "planned_end_at",
    "status",
)
UPDATABLE = ("vehicle_id", "unit_id", *ORDER_TEXT, "planned_start_at", "planned_end_at", "status")


def _only(given: Mapping[str, Any], allowed: Sequence[str], what: tuple[str, str]) -> None:
    """`what`: (Chinese, English) of the refusal, e.g. ("不能修改的字段", "cannot change")."""
    unknown, choices = ", ".join(sorted(set(given) - set(allowed))), ", ".join(allowed)
    if unknown:
        raise ValidationFailed(
            tr(f"{what[0]} {unknown}: 可选 {choices}", f"{what[1]} {unknown}: allowed: {choices}")
        )


def _window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = as_utc(start), as_utc(end)
    problem = window_problem(start, end)
    if problem:
        raise ValidationFailed(problem)
    return start, end


def _order_status(status: str) -> str:
    if status not in ORDER_STATUSES:
        allowed = ", ".join(ORDER_STATUSES)
        raise ValidationFailed(
            tr(
                f"未知的审批状态 '{status}': 可选 {allowed}",
                f"unknown order status '{status}': allowed: {allowed}",
            )
        )
    return status


def _text(name: str, value: Any) -> str:
    s, problem = text_problem(name, value)
    if problem:
        raise ValidationFailed(problem)
    return s


def _vehicle(session: Session, vehicle_id: int) -> Vehicle:
    vehicle = session.get(Vehicle, vehicle_id)
    if vehicle is None:
        raise ValidationFailed(tr(f"车辆不存在：{vehicle_id}", f"vehicle {vehicle_id} not found"))
    return vehicle


def get_order(session: Session, order_id: int) -> TripOrder:
    order = session.get(TripOrder, order_id)
    if order is None:
        raise NotFound(tr(f"出行申请不存在：{order_id}", f"order {order_id} not found"))
    return order


def create_driver(
    session: Session, *, name: str, unit_id: int, phone: str = "", licence_class: str = "C1", actor: str
) -> Driver:
    """A driver of a unit (the center's own are the center's unit); one name per unit."""
    name = _text("name", name)
    if not name:
        raise ValidationFailed(tr("缺少驾驶员姓名", "the driver's name is missing"))
    if session.get(Unit, unit_id) is None:
        raise ValidationFailed(tr(f"单位 {unit_id} 不存在", f"unit {unit_id} not found"))
    if session.exec(select(Driver.id).where(Driver.unit_id == unit_id, Driver.name == name)).first():
        raise Conflict(tr(f"该单位已有驾驶员 {name}", f"the unit already has a driver named {name}"))
    try:
        values = {
            "phone": n.phone(phone) if phone.strip() else "",
            "licence_class": licence_class_of(licence_class),
        }
    except n.FieldError as e:
        raise ValidationFailed(str(e)) from None
    driver, _ = upsert(
        session, None, model=Driver, obj=None, values=values, actor=actor, key=name,
        init={"name": name, "unit_id": unit_id}, detail="driver",
    )  # fmt: skip
    return driver


def _new_order_no(session: Session, start: datetime) -> str:
    """GW + the China day of the planned start + the next number of that day: GW20261207-003."""
    prefix = f"GW{china_day(start):%Y%m%d}-"
    taken = session.exec(select(TripOrder.order_no).where(col(TripOrder.order_no).startswith(prefix))).all()
    numbers = [int(no[len(prefix) :]) for no in taken if no[len(prefix) :].isdigit()]
    return f"{prefix}{max(numbers, default=0) + 1:03d}"


def _driver(session: Session, driver_id: int) -> Driver:
    driver = session.get(Driver, driver_id)
    if driver is None or not driver.is_active:
        raise ValidationFailed(
            tr(f"驾驶员 {driver_id} 不存在或不在岗", f"driver {driver_id} not found or not in service")
        )
    return driver


def create_order(
    session: Session,
    *,
    order_no: str = "",
    vehicle_id: int | None = None,
    planned_start_at: datetime,
    planned_end_at: datetime,
    actor: str,
    unit_id: int | None = None,
    applicant: str = "",
    driver: str = "",
    purpose: str = "",
    destination: str = "",
    status: str = "approved",
    out_of_county: bool = False,
    passengers: int = 1,
    requested_by: str = "",
    driver_id: int | None = None,
    late_for_flag_id: int | None = None,
) -> TripOrder:
    """Enter an order (a late one too: its trips are matched again at once, resolving their flags). A
    request is `submitted` and waits for its approvals (`approve_order`); the center may register a paper
    order as `approved` at once. Without a car it covers nothing until the center dispatches one; without
    a number it gets the next of its day (GW20261207-003)."""
    start, end = _window(planned_start_at, planned_end_at)
    given = bool(_text("order_no", order_no))
    order_no = _text("order_no", order_no) or _new_order_no(session, start)
    if given and session.exec(select(TripOrder.id).where(TripOrder.order_no == order_no)).first():
        raise Conflict(tr(f"申请单号 {order_no} 已存在", f"order {order_no} already exists"))
    vehicle = _vehicle(session, vehicle_id) if vehicle_id is not None else None
    if unit_id is None and vehicle is None:
        raise ValidationFailed(tr("申请须指明用车单位或车辆", "a request names its unit or its car"))
    if unit_id is not None and session.get(Unit, unit_id) is None:
        raise ValidationFailed(tr(f"单位 {unit_id} 不存在", f"unit {unit_id} not found"))
    wanted = _driver(session, driver_id) if driver_id is not None else None
    values = {
        "vehicle_id": vehicle_id,
        "unit_id": unit_id if unit_id is not None else vehicle.unit_id,  # type: ignore[union-attr]
        **{
            name: _text(name, value)
            for name, value in zip(ORDER_TEXT, (applicant, driver, purpose, destination), strict=True)
        },
        "planned_start_at": start,
        "planned_end_at": end,
        "status": _order_status(status),
        "out_of_county": bool(out_of_county),
        "passengers": max(int(passengers), 1),
        "requested_by": requested_by[:64],
        "driver_id": wanted.id if wanted else None,
        "late_for_flag_id": late_for_flag_id,
    }
    if wanted is not None:
        values["driver"] = wanted.name
    for _ in range(5):
        try:
            with session.begin_nested():  # another request may take the same number at the same moment
                order, _ = upsert(
                    session, None, model=TripOrder, obj=None, values=values, actor=actor, key=order_no,
                    init={"order_no": order_no}, detail="order",
                )  # fmt: skip
                session.flush()
            break
        except IntegrityError:
            if given:
                raise Conflict(
                    tr(f"申请单号 {order_no} 已存在", f"order {order_no} already exists")
                ) from None
            order_no = _new_order_no(session, start)
    else:
        raise Conflict(tr("申请单号分配冲突，请重试", "could not number the order: try again"))
    recheck(session, [order])
    if order.status == OrderStatus.submitted:
        _tell_order(session, order, "submitted")
    return order


# --- telling people -------------------------------------------------------------------------------------

MANAGERS = ("vehicle_manager",)  # the center's: dispatch and the second-level approval


def _order_params(session: Session, order: TripOrder, **extra: Any) -> dict[str, Any]:
    unit = session.get(Unit, order.unit_id)
    a, b = to_china(order.planned_start_at), to_china(order.planned_end_at)
    return {
        "order_no": order.order_no, "unit": unit.name if unit else "", "purpose": order.purpose,
        "destination": order.destination, "when": f"{a:%Y-%m-%d %H:%M}–{b:%H:%M}", **extra,
    }  # fmt: skip


def _tell_order(session: Session, order: TripOrder, event: str, **extra: Any) -> None:
    """The notifications an order's step calls for, in the same transaction (issue 24)."""
    url = f"/orders/{order.id}"
    params = _order_params(session, order, **extra)
    key = f"order:{order.id}:{event}"
    applicant = notify.by_username(session, order.requested_by, order.unit_id)
    if event == "submitted":
        approvers = notify.users(session, ("unit_approver",), order.unit_id)
        notify.notify(session, approvers, "order_submitted", params, url="/orders/approvals", key=key)
    elif event == "center":
        managers = notify.users(session, MANAGERS)
        reasons = {**params, "reasons": center_reasons_of(order)}
        notify.notify(session, managers, "order_awaits_center", reasons, url="/orders/approvals", key=key)
    elif event == "approved":
        notify.notify(session, applicant, "order_approved", params, url=url, key=key)
        if order.late_for_flag_id is not None:
            return  # a late order (补报) covers a trip that was driven: no car to send
        notify.notify(session, notify.users(session, MANAGERS), "order_to_dispatch", params,
                      url="/orders/dispatch", key=f"{key}:dispatch")  # fmt: skip
    elif event == "rejected":
        notify.notify(session, applicant, "order_rejected", params, url=url, key=key)
    elif event == "dispatched":
        driver = session.get(Driver, order.driver_id) if order.driver_id else None
        drivers = notify.by_id(session, driver.user_id) if driver else []
        notify.notify(session, [*applicant, *drivers], "order_dispatched", params, url=url, key=key)


# --- approvals ------------------------------------------------------------------------------------------


def approvals_of(session: Session, order_id: int) -> list[OrderApproval]:
    stmt = select(OrderApproval).where(OrderApproval.order_id == order_id).order_by(col(OrderApproval.id))
    return list(session.exec(stmt).all())


def levels_of(order: TripOrder) -> tuple[int, ...]:
    """The approval levels this order needs (GONGWU_ORDER_CENTER_APPROVAL says what calls for level 2)."""
    return rules.levels_needed(center_reasons_of(order))


def center_reasons_of(order: TripOrder) -> list[str]:
    """Why this order needs the center's approval too, under the settings (empty: the unit's alone)."""
    needs = get_settings().order_center_approval
    return rules.center_reasons(order.out_of_county, order.planned_start_at, order.planned_end_at, needs)


def pending_level(
    session: Session, order: TripOrder, approvals: Sequence[OrderApproval] | None = None
) -> int | None:
    """The level a submitted order waits for (None when it waits for nobody); `approvals`: its decisions,
    when the caller has them already."""
    if order.status != OrderStatus.submitted or order.id is None:
        return None
    if approvals is None:
        approvals = approvals_of(session, order.id)
    done = [a.level for a in approvals if a.decision == Decision.approved]
    return rules.next_level(levels_of(order), done)


def approvals_by_order(session: Session, order_ids: Sequence[int]) -> dict[int, list[OrderApproval]]:
    """The decisions on many orders at once (a page of the order list), by order."""
    found: dict[int, list[OrderApproval]] = {i: [] for i in order_ids}
    if order_ids:
        stmt = select(OrderApproval).where(col(OrderApproval.order_id).in_(order_ids))
        for a in session.exec(stmt.order_by(col(OrderApproval.id))).all():
            found[a.order_id].append(a)
    return found


def _decider_problem(level: int, order: TripOrder, role: str, unit_id: int | None) -> str | None:
    """Why this user may not decide `level` of `order`, or None: level 1 is the order's unit's approver,
    level 2 the center (a vehicle manager; an admin stands in)."""
    if level == 1 and not (role == "unit_approver" and unit_id == order.unit_id):
        return tr("一级审批须由申请单位的审批人作出", "level 1 is for the approver of the order's unit")
    if level == 2 and role not in ("vehicle_manager", "admin"):
        return tr("二级审批须由机关事务服务中心作出", "level 2 is for the center (a vehicle manager)")
    return None


def decide_order(
    session: Session,
    order_id: int,
    decision: str,
    *,
    actor: str,
    role: str,
    unit_id: int | None,
    comment: str = "",
) -> TripOrder:
    """Approve or reject the level a submitted order waits for; the last approval makes it `approved`
    (it covers its trips from then on), a rejection `rejected`. Each decision is kept and audit-logged."""
    order = get_order(session, order_id)
    level = pending_level(session, order)
    if level is None:
        shown = tr(f"状态为{OrderStatus(order.status).zh}", f"it is {order.status}")
        raise Conflict(
            tr(
                f"申请单 {order.order_no} 不在待审批状态（{shown}）",
                f"order {order.order_no} awaits no approval ({shown})",
            )
        )
    problem = _decider_problem(level, order, role, unit_id)
    if problem:
        raise PermissionDenied(problem)
    comment = _text("comment", comment)[:500]
    session.add(
        OrderApproval(order_id=order_id, level=level, decision=decision, actor=actor, comment=comment)
    )
    session.flush()
    if decision == Decision.rejected:
        status = OrderStatus.rejected
    else:
        status = OrderStatus.approved if pending_level(session, order) is None else OrderStatus.submitted
    verb = "approve" if decision == Decision.approved else "reject"
    if status != order.status:
        changed = _apply_order_change(
            session, order, {"status": status}, actor, verb, f"level {level} {comment}"
        )
        _tell_order(session, changed, str(status), plate=_plate(session, changed), comment=comment)
        return changed
    note = f"order {order.order_no} level {level} {comment}".strip()
    audit.record(
        session, actor=actor, action=f"order.{verb}", entity="fleet_order", entity_id=order.id,
        after={"level": level, "decision": decision}, detail=note,
    )  # fmt: skip
    _tell_order(session, order, "center")  # the unit said yes; the center's approval is next
    return order


def _plate(session: Session, order: TripOrder) -> str:
    vehicle = session.get(Vehicle, order.vehicle_id) if order.vehicle_id else None
    return vehicle.plate if vehicle else ""


def update_order(session: Session, order_id: int, changes: Mapping[str, Any], actor: str) -> TripOrder:
    """Change some fields of an order (the order number never changes)."""
    order = get_order(session, order_id)
    _only(changes, UPDATABLE, ("不能修改的字段", "cannot change"))
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if name in ORDER_TEXT:
            values[name] = _text(name, value)
        elif name == "status":
            values[name] = _order_status(value)
        elif name == "vehicle_id":
            values[name] = _vehicle(session, value).id
        elif name == "unit_id":
            if session.get(Unit, value) is None:
                raise ValidationFailed(tr(f"单位不存在：{value}", f"unit {value} not found"))
            values[name] = value
        elif value is None:
            raise ValidationFailed(tr(f"{name} 不能为空", f"{name} must not be empty"))
        else:
            values[name] = as_utc(value)
    start, end = _window(
        values.get("planned_start_at", order.planned_start_at),
        values.get("planned_end_at", order.planned_end_at),
    )
    if "planned_start_at" in values:
        values["planned_start_at"] = start
    if "planned_end_at" in values:
        values["planned_end_at"] = end
    return _apply_order_change(session, order, values, actor, "update")


def cancel_order(session: Session, order_id: int, actor: str, reason: str = "") -> TripOrder:
    """Cancel an order: it covers nothing any more, its trips are matched again at once."""
    order = get_order(session, order_id)
    return _apply_order_change(session, order, {"status": "cancelled"}, actor, "cancel", reason)


def _apply_order_change(
    session: Session, order: TripOrder, values: dict[str, Any], actor: str, verb: str, note: str = ""
) -> TripOrder:
    _, changed = upsert(
        session, None, obj=order, values=values, actor=actor, key=order.order_no, verb=verb,
        detail=f"order {note}".strip(),
    )  # fmt: skip
    session.flush()
    if set(changed or {}) & set(ORDER_MATCH_FIELDS):
        recheck(session, [order])
    return order


def reassign_order(session: Session, flag_id: int, actor: str) -> TripOrder:
    """改派, the reviewer's answer to a wrong_vehicle flag: the order goes to the car that drove. The flag,
    the order's order_without_track flag and the unreported trips it links resolve as `order_reassigned`;
    the order is matched again at once, so the trips are covered by it. Audit-logged with `actor`."""
    from fleet.models import Flag, FlagKind, FlagState

    flag = session.get(Flag, flag_id)
    if flag is None:
        raise NotFound(tr(f"预警 {flag_id} 不存在", f"flag {flag_id} not found"))
    if flag.kind != FlagKind.wrong_vehicle or flag.order_id is None:
        raise ValidationFailed(
            tr("只有“车辆不符”预警可以改派", "only a wrong_vehicle flag can be reassigned")
        )
    if flag.state != FlagState.open:
        raise Conflict(tr("该预警已处理", "the flag is no longer open"))
    order = get_order(session, flag.order_id)
    other = _vehicle(session, int(flag.detail["other_vehicle_id"]))
    tally = flags.Tally()
    now = utcnow()
    linked = [flag]
    trip_ids = [int(t) for t in flag.detail.get("trip_ids") or []]
    linked += session.exec(
        select(Flag).where(
            Flag.state == FlagState.open,
            or_(
                and_(col(Flag.kind) == FlagKind.order_without_track, col(Flag.order_id) == order.id),
                and_(col(Flag.kind) == FlagKind.unreported_trip, col(Flag.trip_id).in_(trip_ids or [0])),
            ),
        )
    ).all()
    for f in linked:
        flags.resolve(session, tally, f, now, reconcile.REASON_REASSIGNED)
    before = {"vehicle_id": order.vehicle_id}
    order.vehicle_id = other.id
    session.add(order)
    audit.record(
        session, actor=actor, action="order.reassign", entity="fleet_order", entity_id=order.id,
        before=before, after={"vehicle_id": other.id, "plate": other.plate, "flag_id": flag.id},
        detail=f"{order.order_no} → {other.plate}",
    )  # fmt: skip
    session.flush()
    recheck(session, [order])
    return order


def recheck(session: Session, orders: Sequence[TripOrder]) -> None:
    ids = [o.id for o in orders if o.id is not None]
    if ids:
        reconcile.recheck_orders(session, ids)


def expense_total_fen(expense: TripExpense | None) -> int:
    """An expense sheet's total in fen (0 without one)."""
    if expense is None:
        return 0
    return expense.tolls_fen + expense.meal_allowance_fen + expense.fuel_fen + expense.other_fen


def get_expense(session: Session, order_id: int) -> TripExpense | None:
    return session.exec(select(TripExpense).where(TripExpense.order_id == order_id)).first()


def upsert_expense(
    session: Session, order_id: int, values: Mapping[str, int | None], actor: str
) -> TripExpense:
    """Set the expense sheet of an order; amounts in integer fen, a missing amount is left as it is."""
    order = get_order(session, order_id)
    _only(values, MONEY, ("未知的费用项", "unknown expense fields"))
    clean: dict[str, int] = {}
    for name, fen in values.items():
        if fen is None:
            continue
        if isinstance(fen, bool) or not isinstance(fen, int) or fen < 0:
            raise ValidationFailed(
                tr(f"{name} 须为非负整数(分)", f"{name} must be a non-negative number of fen")
            )
        clean[name] = fen
    expense, _ = upsert(
        session, None, model=TripExpense, obj=get_expense(session, order_id), values=clean, actor=actor,
        key=order.order_no, init={"order_id": order_id}, detail="expense sheet",
    )  # fmt: skip
    session.flush()
    return expense


# --------------------------------------------------------------------------------------- dispatch, return

OUT_OF_SERVICE = ("disposal_pending", "disposal_approved", "disposed")


def _overlapping(session: Session, order: TripOrder, column: Any, value: int) -> TripOrder | None:
    """Another live order holding `column == value` (the vehicle, the driver) in this order's window."""
    stmt = select(TripOrder).where(
        column == value,
        col(TripOrder.id) != order.id,
        col(TripOrder.status).in_((OrderStatus.approved, OrderStatus.dispatched)),
        col(TripOrder.planned_start_at) < order.planned_end_at,
        col(TripOrder.planned_end_at) > order.planned_start_at,
    )
    return session.exec(stmt.limit(1)).first()


def dispatch_order(
    session: Session,
    order_id: int,
    *,
    driver_id: int | None = None,
    vehicle_id: int | None = None,
    actor: str,
) -> TripOrder:
    """Send an approved order out: its car and driver (those requested unless others are given). A car
    or a driver already out on an overlapping order, or a car pending disposal, is refused."""
    order = get_order(session, order_id)
    if order.status != OrderStatus.approved:
        raise Conflict(
            tr(
                f"申请单 {order.order_no} 尚未批准或已派车（{OrderStatus(order.status).zh}），不能派车",
                f"order {order.order_no} is {order.status}: only an approved order is dispatched",
            )
        )
    vehicle_id = vehicle_id if vehicle_id is not None else order.vehicle_id
    driver_id = driver_id if driver_id is not None else order.driver_id
    if vehicle_id is None or driver_id is None:
        raise ValidationFailed(
            tr(
                f"申请单 {order.order_no} 未指定{'车辆' if vehicle_id is None else '驾驶员'}，派车须选定",
                f"order {order.order_no} names no {'car' if vehicle_id is None else 'driver'}: choose one",
            )
        )
    vehicle = _vehicle(session, vehicle_id)
    if vehicle.status in OUT_OF_SERVICE:
        raise Conflict(
            tr(f"车辆 {vehicle.plate} 待处置或已处置，不能派出", f"{vehicle.plate} is {vehicle.status}")
        )
    driver = _driver(session, driver_id)
    for column, value, what in (
        (TripOrder.vehicle_id, vehicle.id, vehicle.plate),
        (TripOrder.driver_id, driver.id, driver.name),
    ):
        other = _overlapping(session, order, column, int(value or 0))
        if other is not None:
            raise Conflict(
                tr(
                    f"{what} 在这段时间已派给申请单 {other.order_no}",
                    f"{what} is already out on order {other.order_no} at that time",
                )
            )
    values = {
        "vehicle_id": vehicle.id,
        "driver_id": driver.id,
        "driver": driver.name,
        "status": OrderStatus.dispatched,
    }
    sent = _apply_order_change(session, order, values, actor, "dispatch", f"{vehicle.plate} {driver.name}")
    _tell_order(session, sent, "dispatched", plate=vehicle.plate, driver=driver.name)
    return sent


def driver_may_be_asked(session: Session, driver_id: int, unit_id: int | None) -> bool:
    """Whether a unit may name this driver in a request: one of its own, or of the center's pool."""
    driver = session.get(Driver, driver_id)
    if driver is None:
        return False
    center = session.exec(select(Unit.id).where(Unit.name == get_settings().center_unit)).first()
    return driver.unit_id in (unit_id, center)


def driver_of(session: Session, user_id: int) -> Driver | None:
    """The driver record a driver's account is linked to."""
    return session.exec(select(Driver).where(Driver.user_id == user_id)).first()


def link_driver(session: Session, *, user_id: int, unit_id: int, name: str, actor: str) -> Driver:
    """Link a driver account to its unit's driver of that name (one account per driver)."""
    driver = session.exec(select(Driver).where(Driver.unit_id == unit_id, Driver.name == name)).first()
    if driver is None:
        raise ValidationFailed(
            tr(
                f"本单位没有名为 {name} 的驾驶员：请先登记驾驶员（gongwu import drivers）",
                f"the unit has no driver named {name}: register the driver first (gongwu import drivers)",
            )
        )
    if driver.user_id not in (None, user_id):
        raise Conflict(tr(f"驾驶员 {name} 已关联其他账号", f"driver {name} is linked to another account"))
    if driver.user_id is None:
        upsert(
            session, None, obj=driver, values={"user_id": user_id}, actor=actor, key=name,
            verb="link", detail="driver account",
        )  # fmt: skip
    return driver


def return_order(
    session: Session,
    order_id: int,
    *,
    returned_at: datetime,
    odometer_km: int | None = None,
    expenses: Mapping[str, int | None],
    actor: str,
    driver_account: int | None = None,
) -> TripOrder:
    """The car is back: the actual return time, the odometer's km if read, and the expenses, which fill
    the order's expense sheet. Only a dispatched order returns; `driver_account`: a driver records the
    return, and only of an order dispatched to them."""
    order = get_order(session, order_id)
    if driver_account is not None:
        mine = driver_of(session, driver_account)
        if mine is None or mine.id != order.driver_id:
            raise PermissionDenied(
                tr(
                    f"申请单 {order.order_no} 未派给您，不能由您还车",
                    f"order {order.order_no} is not dispatched to you: you cannot return it",
                )
            )
    if order.status != OrderStatus.dispatched:
        raise Conflict(
            tr(
                f"申请单 {order.order_no} 未派车（{OrderStatus(order.status).zh}），不能还车",
                f"order {order.order_no} is {order.status}: only a dispatched order is returned",
            )
        )
    back = as_utc(returned_at)
    if back < order.planned_start_at:
        raise ValidationFailed(tr("还车时间早于计划出发时间", "the return is before the planned start"))
    if odometer_km is not None and odometer_km < 0:
        raise ValidationFailed(tr("里程不能为负", "odometer km cannot be negative"))
    values = {"returned_at": back, "odometer_km": odometer_km, "status": OrderStatus.returned}
    _apply_order_change(session, order, values, actor, "return")
    if any(v is not None for v in expenses.values()):
        upsert_expense(session, order_id, expenses, actor)
    return order


# ------------------------------------------------------------------------------------- flag replies

REPLY_LIMIT = 2000


def _live_late_order(session: Session, flag_id: int) -> TripOrder | None:
    stmt = select(TripOrder).where(
        TripOrder.late_for_flag_id == flag_id,
        col(TripOrder.status).not_in((OrderStatus.rejected, OrderStatus.cancelled)),
    )
    return session.exec(stmt).first()


def reply_to_flag(
    session: Session,
    flag_id: int,
    *,
    text: str = "",
    late_order: Mapping[str, Any] | None = None,
    actor: str,
) -> FlagReply:
    """A unit answers an unreported_trip flag of its own: an explanation (情况说明) and/or a late order
    (补报) for the trip — its car, unit and times from the trip, purpose and destination from the reply.
    The late order waits for the same approvals as any request; once approved it covers the trip and
    the flag resolves as `late_order`. The manager's review stays possible and is kept."""
    flag = session.get(Flag, flag_id)
    if flag is None:
        raise NotFound(tr(f"预警 {flag_id} 不存在", f"flag {flag_id} not found"))
    if flag.kind != FlagKind.unreported_trip:
        raise ValidationFailed(
            tr("只有“有轨迹无订单”预警可以答复", "only an unreported_trip flag takes a reply")
        )
    text = _text("text", text)
    if len(text) > REPLY_LIMIT:
        raise ValidationFailed(tr(f"说明超过 {REPLY_LIMIT} 字", f"the text is longer than {REPLY_LIMIT}"))
    if not text and late_order is None:
        raise ValidationFailed(
            tr("请填写情况说明或补报出行申请", "write an explanation or file a late order, or both")
        )
    order = None
    if late_order is not None:
        _only(late_order, ("purpose", "destination"), ("补报申请不接受的字段", "a late order takes no"))
        if flag.state != "open":
            raise Conflict(
                tr("该预警已消除，无需补报", "the flag is resolved already: the trip needs no late order")
            )
        if flag.trip_id is None or flag.start_at is None or flag.end_at is None:
            raise ValidationFailed(
                tr("该预警没有行程，无法补报", "the flag has no trip to file an order for")
            )
        other = _live_late_order(session, flag_id)
        if other is not None:
            raise Conflict(
                tr(
                    f"该行程已补报申请单 {other.order_no}（{OrderStatus(other.status).zh}）",
                    f"the trip has a late order already: {other.order_no} ({other.status})",
                )
            )
        purpose = _text("purpose", late_order.get("purpose", ""))
        if not purpose:
            raise ValidationFailed(tr("补报须写明出行事由", "a late order states its purpose"))
        order = create_order(
            session, vehicle_id=flag.vehicle_id, unit_id=flag.unit_id, planned_start_at=flag.start_at,
            planned_end_at=flag.end_at, purpose=purpose, destination=late_order.get("destination", ""),
            applicant=actor, status=OrderStatus.submitted, requested_by=actor, actor=actor,
            late_for_flag_id=flag_id,
        )  # fmt: skip
    reply = FlagReply(flag_id=flag_id, author=actor[:64], text=text, order_id=order.id if order else None)
    session.add(reply)
    session.flush()
    unit, car = session.get(Unit, flag.unit_id), session.get(Vehicle, flag.vehicle_id)
    said = {"unit": unit.name if unit else "", "plate": car.plate if car else "", "text": text[:100]}
    notify.notify(session, notify.users(session, MANAGERS), "flag_reply", said, url=f"/flags/{flag_id}",
                  key=f"flag:{flag_id}:reply:{reply.id}")  # fmt: skip
    audit.record(
        session, actor=actor, action="flag.reply", entity="fleet_flag", entity_id=flag_id,
        after={"reply_id": reply.id, "order_no": order.order_no if order else None, "text": text[:200]},
        detail=f"reply {order.order_no if order else ''}".strip(),
    )  # fmt: skip
    return reply


# --------------------------------------------------------------------------------------- tracker checks


def record_tracker_check(
    session: Session, *, device_id: str, checked_on: date, result: str, checked_by: str = "", note: str = "",
    actor: str,
) -> TrackerCheck:  # fmt: skip
    """检修 of a vehicle's tracker on a day (a second one the same day replaces it)."""
    if session.exec(select(Vehicle.id).where(Vehicle.tracker_id == device_id)).first() is None:
        raise ValidationFailed(tr(f"未登记的终端号 {device_id}", f"unknown tracker {device_id}"))
    try:
        code = rules.check_result(result)
    except n.FieldError as e:
        raise ValidationFailed(str(e)) from None
    existing = session.exec(
        select(TrackerCheck).where(TrackerCheck.device_id == device_id, TrackerCheck.checked_on == checked_on)
    ).first()
    check, _ = upsert(
        session, None, model=TrackerCheck, obj=existing, actor=actor, key=f"{device_id} {checked_on}",
        values={"result": code, "checked_by": checked_by.strip()[:50], "note": note.strip()[:500]},
        init={"device_id": device_id, "checked_on": checked_on}, detail="tracker check",
    )  # fmt: skip
    session.flush()
    return check


# --------------------------------------------------------------------------------------------- disposal


DISPOSAL_STATUSES = ("idle_proposed", "disposal_pending", "in_service")
# the stage a car must be in to reach each stage (in_service: the proposal withdrawn, from any stage)
STAGE_FROM = {
    "idle_proposed": ("in_service",),
    "disposal_pending": ("in_service", "idle_proposed"),
    "disposal_approved": ("disposal_pending",),
    "disposed": ("disposal_approved",),
    "in_service": ("idle_proposed", "disposal_pending", "disposal_approved"),
}
METHODS = DisposalMethod.codes()


def propose_disposal(
    session: Session, vehicle_id: int, actor: str, *, status: str = "idle_proposed", comment: str = ""
) -> Vehicle:
    """Propose an idle vehicle for disposal or the public asset warehouse: in_service → idle_proposed →
    disposal_pending (or back to in_service to withdraw), today, without a document number."""
    if status not in DISPOSAL_STATUSES:
        raise ValidationFailed(
            tr(
                f"未知的车辆状态 '{status}': 可选 idle_proposed 闲置待处置, disposal_pending 待处置, "
                "in_service 撤回",
                f"unknown status '{status}': allowed: idle_proposed, disposal_pending, in_service (withdraw)",
            )
        )
    vehicle = session.get(Vehicle, vehicle_id)
    if vehicle is not None and vehicle.status == status:
        return vehicle
    return advance_disposal(session, vehicle_id, actor, stage=status, comment=comment, lenient=True)


def advance_disposal(
    session: Session,
    vehicle_id: int,
    actor: str,
    *,
    stage: str,
    on: date | None = None,
    document_no: str = "",
    method: str | None = None,
    income_fen: int | None = None,
    to_unit: str | None = None,
    comment: str = "",
    lenient: bool = False,
) -> Vehicle:
    """One step of a car's disposal, dated `on` (today by default, never before the previous step):
    idle_proposed → disposal_pending (the application to the finance bureau, its document no.) →
    disposal_approved (批复文号) → disposed (拍卖 auction, 报废 scrap, 调剂 transfer to another unit,
    公物仓 the public asset warehouse; the income). A transfer moves the car to `to_unit` from that day:
    its trips and costs before stay with the old unit (fleet_vehicle_unit). Audit-logged."""
    if stage not in STAGE_FROM:
        raise ValidationFailed(
            tr(
                f"未知的处置阶段 '{stage}': 可选 {', '.join(STAGE_FROM)}",
                f"unknown disposal stage '{stage}': allowed: {', '.join(STAGE_FROM)}",
            )
        )
    vehicle = session.get(Vehicle, vehicle_id)
    if vehicle is None:
        raise NotFound(tr(f"车辆不存在：{vehicle_id}", f"vehicle {vehicle_id} not found"))
    if vehicle.status == "disposed":
        raise Conflict(tr(f"车辆 {vehicle.plate} 已处置", f"vehicle {vehicle.plate} already disposed"))
    if vehicle.status not in STAGE_FROM[stage]:
        here, there = label_of(VehicleStatus, vehicle.status), label_of(VehicleStatus, stage)
        raise Conflict(
            tr(
                f"车辆 {vehicle.plate} 现为「{here}」，不能直接转为「{there}」",
                f"vehicle {vehicle.plate} is '{here}': it cannot go to '{there}' from there",
            )
        )
    on = on or china_day(utcnow())
    last = session.exec(
        select(DisposalStep)
        .where(DisposalStep.vehicle_id == vehicle_id)
        .order_by(col(DisposalStep.id).desc())
    ).first()
    if on > china_day(utcnow()):
        raise ValidationFailed(tr(f"日期 {on} 在今天之后", f"{on} is in the future"))
    if last is not None and last.stage != "in_service" and on < last.on_day:
        raise ValidationFailed(
            tr(f"日期 {on} 早于上一步 ({last.on_day})", f"{on} is before the previous step ({last.on_day})")
        )
    document_no = document_no.strip()[:100]
    if stage in ("disposal_pending", "disposal_approved") and not document_no and not lenient:
        raise ValidationFailed(
            tr(
                "请填写文号 (申请文号或批复文号)",
                "give the document no. (of the application or the approval)",
            )
        )
    step = DisposalStep(
        vehicle_id=vehicle_id, stage=stage, on_day=on, document_no=document_no, actor=actor,
        comment=comment.strip()[:500],
    )  # fmt: skip
    before: dict[str, Any] = {"status": vehicle.status}
    if stage == "disposed":
        before["unit_id"] = vehicle.unit_id
        _dispose(session, vehicle, step, method, income_fen, to_unit)
    vehicle.status = "in_service" if step.method == "transfer" else stage
    vehicle.updated_at = utcnow()
    idle_flag = flags.open_flag_id(session, FlagKind.idle_vehicle, vehicle_id)
    session.add_all([vehicle, step])
    action = {"in_service": "vehicle.withdraw_disposal", "disposed": "vehicle.dispose"}.get(
        stage, "vehicle.propose_disposal"
    )
    audit.record(
        session, actor=actor, action=action, entity="fleet_vehicle", entity_id=vehicle_id, before=before,
        after={
            "status": vehicle.status, "stage": stage, "on": on.isoformat(), "document_no": document_no,
            "method": step.method, "income_fen": step.income_fen, "unit_id": vehicle.unit_id,
            "idle_flag_id": idle_flag,
        },
        detail=f"{vehicle.plate} {comment}".strip(),
    )  # fmt: skip
    session.flush()
    return vehicle


def _dispose(
    session: Session,
    vehicle: Vehicle,
    step: DisposalStep,
    method: str | None,
    income_fen: int | None,
    to_unit: str | None,
) -> None:
    given = method or ""
    named = DisposalMethod.by_word(given)
    method = named.value if named is not None else None
    if method not in METHODS:
        raise ValidationFailed(
            tr(
                f"处置方式 '{given}' 无效: 可选 拍卖、报废、调剂、公物仓",
                f"disposal method '{given}' is not one of auction, scrap, transfer, warehouse",
            )
        )
    if income_fen is not None and income_fen < 0:
        raise ValidationFailed(tr("处置收入不能为负数", "the income cannot be negative"))
    step.method, step.income_fen = method, income_fen
    if method != "transfer":
        vehicle.disposed_on = step.on_day
        return
    unit = session.exec(select(Unit).where(Unit.name == (to_unit or "").strip())).first()
    if unit is None or unit.id is None:
        raise ValidationFailed(
            tr(
                f"调剂的接收单位 '{to_unit or ''}' 不存在",
                f"the receiving unit '{to_unit or ''}' does not exist",
            )
        )
    if unit.id == vehicle.unit_id:
        raise ValidationFailed(tr("接收单位与原单位相同", "the receiving unit is the car's own unit"))
    step.to_unit_id = unit.id
    held = session.exec(
        select(VehicleUnit).where(VehicleUnit.vehicle_id == vehicle.id, col(VehicleUnit.to_on).is_(None))
    ).first()
    if held is None:  # the first move: until now the car has always been its unit's
        held = VehicleUnit(vehicle_id=vehicle.id or 0, unit_id=vehicle.unit_id, from_on=None)
    if held.from_on is not None and held.from_on > step.on_day:
        raise ValidationFailed(
            tr(
                f"调剂日期早于上次调入 ({held.from_on})",
                f"the transfer is before the last one ({held.from_on})",
            )
        )
    held.to_on = step.on_day
    session.add_all([held, VehicleUnit(vehicle_id=vehicle.id or 0, unit_id=unit.id, from_on=step.on_day)])
    vehicle.unit_id = unit.id
