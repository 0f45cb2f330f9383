"""Fleet use-cases: orders (create, update, cancel) and their expenses, and the import appliers of units,
vehicles, orders and expenses (the contract of core/importing.py). Services never commit; every change is
audit-logged with who, before and after."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlmodel import Session, col, select

from core import audit
from core.errors import Conflict, NotFound, ValidationFailed
from core.importing import ApplyResult, Row, diff
from core.models import UNIT_KINDS, Unit
from core.timeutil import as_utc, china_day, to_china, utcnow
from fleet import reconcile
from fleet.models import ORDER_STATUSES, VEHICLE_STATUSES, TripExpense, TripOrder, Vehicle

CHUNK = 500
ORDER_TEXT = ("applicant", "driver", "purpose", "destination")
MONEY = ("tolls_fen", "meal_allowance_fen", "fuel_fen", "other_fen")
# What changes the cover of an order's trips: after such a change its trips are matched again at once.
ORDER_MATCH_FIELDS = ("vehicle_id", "planned_start_at", "planned_end_at", "status")
_TEXT_LIMITS = {
    "applicant": 50,
    "driver": 50,
    "purpose": 500,
    "destination": 200,
    "order_no": 40,
    "model": 100,
    "name": 100,
    "plate": 16,
    "tracker_id": 32,
}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_china(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _state(obj: Any, fields: Sequence[str]) -> dict[str, Any]:
    return {f: _jsonable(getattr(obj, f)) for f in fields}


def _changes(changed: Mapping[str, tuple[Any, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    return (
        {k: _jsonable(a) for k, (a, _) in changed.items()},
        {k: _jsonable(b) for k, (_, b) in changed.items()},
    )


def _show(value: Any) -> str:
    value = _jsonable(value)
    return "空" if value is None or value == "" else str(value)


def _describe(name: str, changed: Mapping[str, tuple[Any, Any]]) -> str:
    return f"{name}: " + ", ".join(f"{k} {_show(a)} → {_show(b)}" for k, (a, b) in changed.items())


def _by(session: Session, model: Any, column: Any, keys: Sequence[Any]) -> dict[Any, Any]:
    """Rows of `model` whose `column` is one of `keys`, by that column (chunked IN)."""
    found: dict[Any, Any] = {}
    wanted = sorted({k for k in keys if k is not None})
    for i in range(0, len(wanted), CHUNK):
        for obj in session.exec(select(model).where(col(column).in_(wanted[i : i + CHUNK]))).all():
            found[getattr(obj, column.key)] = obj
    return found


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


def _window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = as_utc(start), as_utc(end)
    if end < start:
        raise ValidationFailed("计划返回早于计划出发 planned return is before the planned start")
    if end - start > timedelta(days=reconcile.MAX_ORDER_DAYS):
        raise ValidationFailed(
            f"出行时长超过 {reconcile.MAX_ORDER_DAYS} 天 an order may span at most "
            f"{reconcile.MAX_ORDER_DAYS} days: split it"
        )
    return start, end


def _order_status(status: str) -> str:
    if status not in ORDER_STATUSES:
        raise ValidationFailed(
            f"未知的审批状态 unknown order status '{status}': 可选 allowed: {', '.join(ORDER_STATUSES)}"
        )
    return status


def _text(name: str, value: Any) -> str:
    s = "" if value is None else str(value).strip()
    limit = _TEXT_LIMITS.get(name)
    if limit and len(s) > limit:
        raise ValidationFailed(f"{name} 超过 {limit} 字 longer than {limit} characters")
    return s


def _vehicle(session: Session, vehicle_id: int) -> Vehicle:
    vehicle = session.get(Vehicle, vehicle_id)
    if vehicle is None:
        raise ValidationFailed(f"车辆不存在 vehicle {vehicle_id} not found")
    return vehicle


def get_order(session: Session, order_id: int) -> TripOrder:
    order = session.get(TripOrder, order_id)
    if order is None:
        raise NotFound(f"出行申请不存在 order {order_id} not found")
    return order


def create_order(
    session: Session,
    *,
    order_no: str,
    vehicle_id: int,
    planned_start_at: datetime,
    planned_end_at: datetime,
    actor: str,
    unit_id: int | None = None,
    applicant: str = "",
    driver: str = "",
    purpose: str = "",
    destination: str = "",
    status: str = "approved",
) -> TripOrder:
    """Enter an order (a late one too: its trips are matched again at once, resolving their flags)."""
    order_no = _text("order_no", order_no)
    if not order_no:
        raise ValidationFailed("缺少申请单号 order_no missing")
    if session.exec(select(TripOrder.id).where(TripOrder.order_no == order_no)).first() is not None:
        raise Conflict(f"申请单号已存在 order {order_no} already exists")
    vehicle = _vehicle(session, vehicle_id)
    if unit_id is not None and session.get(Unit, unit_id) is None:
        raise ValidationFailed(f"单位不存在 unit {unit_id} not found")
    start, end = _window(planned_start_at, planned_end_at)
    order = TripOrder(
        order_no=order_no,
        vehicle_id=vehicle_id,
        unit_id=unit_id if unit_id is not None else vehicle.unit_id,
        applicant=_text("applicant", applicant),
        driver=_text("driver", driver),
        purpose=_text("purpose", purpose),
        destination=_text("destination", destination),
        planned_start_at=start,
        planned_end_at=end,
        status=_order_status(status),
    )
    session.add(order)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="order.create",
        entity="fleet_order",
        entity_id=order.id,
        after=_state(order, ORDER_FIELDS),
        detail=order_no,
    )
    _recheck(session, [order])
    return order


def update_order(session: Session, order_id: int, changes: Mapping[str, Any], actor: str) -> TripOrder:
    """Change some fields of an order (the order number never changes)."""
    order = get_order(session, order_id)
    unknown = sorted(set(changes) - set(UPDATABLE))
    if unknown:
        raise ValidationFailed(
            f"不能修改的字段 cannot change {', '.join(unknown)}: 可改 allowed: {', '.join(UPDATABLE)}"
        )
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
                raise ValidationFailed(f"单位不存在 unit {value} not found")
            values[name] = value
        elif value is None:
            raise ValidationFailed(f"{name} 不能为空 must not be empty")
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
    return _apply_order_change(session, order, values, actor, "order.update")


def cancel_order(session: Session, order_id: int, actor: str, reason: str = "") -> TripOrder:
    """Cancel an order: it covers nothing any more, its trips are matched again at once."""
    order = get_order(session, order_id)
    return _apply_order_change(session, order, {"status": "cancelled"}, actor, "order.cancel", reason)


def _apply_order_change(
    session: Session, order: TripOrder, values: dict[str, Any], actor: str, action: str, note: str = ""
) -> TripOrder:
    changed = diff(order, values)
    if not changed:
        return order
    for name, (_, new) in changed.items():
        setattr(order, name, new)
    order.updated_at = utcnow()
    session.add(order)
    before, after = _changes(changed)
    audit.record(
        session,
        actor=actor,
        action=action,
        entity="fleet_order",
        entity_id=order.id,
        before=before,
        after=after,
        detail=f"{order.order_no} {note}".strip(),
    )
    session.flush()
    if set(changed) & set(ORDER_MATCH_FIELDS):
        _recheck(session, [order])
    return order


def _recheck(session: Session, orders: Sequence[TripOrder]) -> None:
    ids = [o.id for o in orders if o.id is not None]
    if ids:
        reconcile.recheck_orders(session, ids)


def get_expense(session: Session, order_id: int) -> TripExpense | None:
    return session.exec(select(TripExpense).where(TripExpense.order_id == order_id)).first()


def upsert_expense(
    session: Session, order_id: int, values: Mapping[str, int | None], actor: str
) -> TripExpense:
    """Set the expense sheet of an order; amounts in integer fen, a missing amount is left as it is."""
    order = get_order(session, order_id)
    unknown = sorted(set(values) - set(MONEY))
    if unknown:
        raise ValidationFailed(
            f"未知的费用项 unknown expense fields {', '.join(unknown)}: 可选 {', '.join(MONEY)}"
        )
    clean: dict[str, int] = {}
    for name, fen in values.items():
        if fen is None:
            continue
        if isinstance(fen, bool) or not isinstance(fen, int) or fen < 0:
            raise ValidationFailed(f"{name} 须为非负整数(分) must be a non-negative number of fen")
        clean[name] = fen
    expense = get_expense(session, order_id)
    if expense is None:
        expense = TripExpense(order_id=order_id, **clean)
        session.add(expense)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="expense.create",
            entity="fleet_expense",
            entity_id=expense.id,
            after=_state(expense, MONEY),
            detail=order.order_no,
        )
        return expense
    changed = diff(expense, clean)
    if changed:
        for name, (_, new) in changed.items():
            setattr(expense, name, new)
        session.add(expense)
        before, after = _changes(changed)
        audit.record(
            session,
            actor=actor,
            action="expense.update",
            entity="fleet_expense",
            entity_id=expense.id,
            before=before,
            after=after,
            detail=order.order_no,
        )
        session.flush()
    return expense


# --------------------------------------------------------------------------------------------- appliers


class _Seen:
    """Same key twice in one file: identical content is taken once, other content is an issue on the
    later line."""

    def __init__(self, result: ApplyResult, key_field: str) -> None:
        self.result, self.key_field = result, key_field
        self.first: dict[Any, Row] = {}

    def duplicate(self, row: Row, key: Any) -> bool:
        first = self.first.get(key)
        if first is None:
            self.first[key] = row
            return False
        if first.values != row.values:
            self.result.issue(
                row,
                self.key_field,
                f"与第 {first.line} 行重复但内容不同 same key as line {first.line} with other values",
            )
        else:
            self.result.unchanged += 1
        return True


T = TypeVar("T")


def _required(result: ApplyResult, row: Row, name: str, label: str) -> Any:
    value = row.values.get(name)
    if value is None or value == "":
        result.issue(row, name, f"缺少{label} {name} missing")
        return None
    return value if _fits(result, row, name, value) else None


def _reference(
    result: ApplyResult, row: Row, name: str, label: str, known: Mapping[Any, T], unknown: str
) -> T | None:
    """A required reference (unit, plate…) looked up among the known ones; missing or unknown is an issue
    of the row (`unknown` is said after the value, e.g. "请先导入单位 import units first")."""
    key = _required(result, row, name, label)
    if key is None:
        return None
    found = known.get(key)
    if found is None:
        result.issue(row, name, unknown.format(key=key))
    return found


def _fits(result: ApplyResult, row: Row, name: str, value: Any) -> bool:
    """Text longer than its column is an issue of the row, not a database error."""
    limit = _TEXT_LIMITS.get(name)
    if limit and isinstance(value, str) and len(value) > limit:
        result.issue(row, name, f"超过 {limit} 字 longer than {limit} characters")
        return False
    return True


def _upsert(
    session: Session,
    result: ApplyResult,
    *,
    existing: Any,
    model: type[Any],
    create: dict[str, Any],
    values: dict[str, Any],
    entity: str,
    name: str,
    actor: str,
    fields: Sequence[str],
) -> Any:
    """Insert or update one row by its natural key; counts, change notes and audit."""
    if existing is None:
        obj = model(**create)
        session.add(obj)
        session.flush()
        result.inserted += 1
        audit.record(
            session,
            actor=actor,
            action=f"{entity}.create",
            entity=f"fleet_{entity}" if entity != "unit" else "core_unit",
            entity_id=obj.id,
            after=_state(obj, fields),
            detail=f"import {name}",
        )
        return obj
    changed = diff(existing, values)
    if not changed:
        result.unchanged += 1
        return existing
    for field_name, (_, new) in changed.items():
        setattr(existing, field_name, new)
    if hasattr(existing, "updated_at"):
        existing.updated_at = utcnow()
    session.add(existing)
    result.updated += 1
    result.changes.append(_describe(name, changed))
    before, after = _changes(changed)
    audit.record(
        session,
        actor=actor,
        action=f"{entity}.update",
        entity=f"fleet_{entity}" if entity != "unit" else "core_unit",
        entity_id=existing.id,
        before=before,
        after=after,
        detail=f"import {name}",
    )
    return existing


def apply_units(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """Units by name: kind township | department."""
    result = ApplyResult()
    seen = _Seen(result, "name")
    existing = _by(session, Unit, Unit.name, [r.values.get("name") for r in rows])
    for row in rows:
        name = _required(result, row, "name", "单位名称")
        if name is None or seen.duplicate(row, name):
            continue
        values: dict[str, Any] = {}
        if "kind" in row.values:
            kind = row.values["kind"]
            if kind not in UNIT_KINDS:
                result.issue(
                    row, "kind", f"单位类型须为 乡镇/县直 kind must be one of {', '.join(UNIT_KINDS)}"
                )
                continue
            values["kind"] = kind
        unit = existing.get(name)
        if unit is None and "kind" not in values:
            result.issue(row, "kind", "缺少单位类型 kind missing")
            continue
        unit = _upsert(
            session,
            result,
            existing=unit,
            model=Unit,
            create={"name": name, **values},
            values=values,
            entity="unit",
            name=name,
            actor=actor,
            fields=("name", "kind"),
        )
        existing[name] = unit
    return result


VEHICLE_FIELDS = ("plate", "unit_id", "model", "tracker_id", "status", "acquired_on", "disposed_on")


def apply_vehicles(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """Vehicles by plate: unit (name), model, tracker_id, status, acquired_on. A tracker belongs to one
    vehicle; an absent column leaves the field alone, an empty cell clears it."""
    result = ApplyResult()
    seen = _Seen(result, "plate")
    units = _by(session, Unit, Unit.name, [r.values.get("unit") for r in rows])
    existing = _by(session, Vehicle, Vehicle.plate, [r.values.get("plate") for r in rows])
    trackers = _by(session, Vehicle, Vehicle.tracker_id, [r.values.get("tracker_id") for r in rows])
    tracker_line: dict[str, tuple[int, str]] = {}
    for row in rows:
        v = row.values
        plate = _required(result, row, "plate", "车牌号")
        if plate is None or seen.duplicate(row, plate):
            continue
        vehicle = existing.get(plate)
        values: dict[str, Any] = {}
        ok = True
        if "unit" in v or vehicle is None:
            unit = _reference(
                result,
                row,
                "unit",
                "单位",
                units,
                "未知单位 unknown unit '{key}': 请先导入单位 import units first",
            )
            if unit is None:
                ok = False
            else:
                values["unit_id"] = unit.id
        if "model" in v:
            if not _fits(result, row, "model", v["model"]):
                continue
            values["model"] = _text("model", v["model"])
        if "tracker_id" in v:
            if not _fits(result, row, "tracker_id", v["tracker_id"]):
                continue
            tracker = v["tracker_id"] or None
            holder = trackers.get(tracker) if tracker else None
            if holder is not None and holder.plate != plate:
                result.issue(
                    row, "tracker_id", f"终端号已装在 {holder.plate} tracker {tracker} is on {holder.plate}"
                )
                ok = False
            elif tracker and tracker in tracker_line and tracker_line[tracker][1] != plate:
                line = tracker_line[tracker][0]
                result.issue(row, "tracker_id", f"终端号与第 {line} 行重复 tracker also on line {line}")
                ok = False
            if tracker:
                tracker_line.setdefault(tracker, (row.line, plate))
            values["tracker_id"] = tracker
        if v.get("status") is not None:
            if v["status"] not in VEHICLE_STATUSES:
                result.issue(
                    row, "status", f"未知的车辆状态 unknown status, allowed: {', '.join(VEHICLE_STATUSES)}"
                )
                ok = False
            else:
                values["status"] = v["status"]
                was = vehicle.status if vehicle is not None else None
                if (
                    v["status"] == "disposed"
                    and was != "disposed"
                    and (vehicle is None or not vehicle.disposed_on)
                ):
                    values["disposed_on"] = china_day(utcnow())
        if "acquired_on" in v:
            values["acquired_on"] = v["acquired_on"]
        if not ok:
            continue
        _upsert(
            session,
            result,
            existing=vehicle,
            model=Vehicle,
            create={"plate": plate, **values},
            values=values,
            entity="vehicle",
            name=plate,
            actor=actor,
            fields=VEHICLE_FIELDS,
        )
    return result


def apply_orders(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """Orders by order_no: plate, unit (default: the vehicle's), applicant, driver, purpose, destination,
    planned_start, planned_end (aware), status. Orders whose window, vehicle or status changed have their
    trips matched again at once."""
    result = ApplyResult()
    seen = _Seen(result, "order_no")
    vehicles = _by(session, Vehicle, Vehicle.plate, [r.values.get("plate") for r in rows])
    units = _by(session, Unit, Unit.name, [r.values.get("unit") for r in rows])
    existing = _by(session, TripOrder, TripOrder.order_no, [r.values.get("order_no") for r in rows])
    to_recheck: list[TripOrder] = []
    for row in rows:
        v = row.values
        order_no = _required(result, row, "order_no", "申请单号")
        if order_no is None or seen.duplicate(row, order_no):
            continue
        order = existing.get(order_no)
        values: dict[str, Any] = {}
        ok = True
        vehicle: Vehicle | None = None
        if "plate" in v or order is None:
            vehicle = _reference(
                result,
                row,
                "plate",
                "车牌号",
                vehicles,
                "未知车辆 unknown vehicle '{key}': 请先导入车辆 import vehicles first",
            )
            if vehicle is None:
                ok = False
            else:
                values["vehicle_id"] = vehicle.id
        if v.get("unit") is not None:
            unit = units.get(v["unit"])
            if unit is None:
                result.issue(row, "unit", f"未知单位 unknown unit '{v['unit']}'")
                ok = False
            else:
                values["unit_id"] = unit.id
        elif vehicle is not None and (order is None or "unit" in v):
            values["unit_id"] = vehicle.unit_id
        for name in ORDER_TEXT:
            if name in v:
                try:
                    values[name] = _text(name, v[name])
                except ValidationFailed as exc:
                    result.issue(row, name, exc.message)
                    ok = False
        for name, field_name in (("planned_start", "planned_start_at"), ("planned_end", "planned_end_at")):
            if name in v or order is None:
                when = _required(result, row, name, "计划出发" if name == "planned_start" else "计划返回")
                if when is None:
                    ok = False
                elif not isinstance(when, datetime) or when.tzinfo is None:
                    result.issue(row, name, "须为带时区的时间 must be an aware datetime")
                    ok = False
                else:
                    values[field_name] = as_utc(when)
        start = values.get("planned_start_at", order.planned_start_at if order else None)
        end = values.get("planned_end_at", order.planned_end_at if order else None)
        if ok and start is not None and end is not None:
            try:
                _window(start, end)
            except ValidationFailed as exc:
                result.issue(row, "planned_end", exc.message)
                ok = False
        if "status" in v or order is None:
            status = v.get("status") or ("approved" if order is None and "status" not in v else None)
            if status not in ORDER_STATUSES:
                result.issue(
                    row,
                    "status",
                    f"未知的审批状态 unknown order status, allowed: {', '.join(ORDER_STATUSES)}",
                )
                ok = False
            else:
                values["status"] = status
        if not ok:
            continue
        before = {f: getattr(order, f) for f in ORDER_MATCH_FIELDS} if order is not None else None
        saved = _upsert(
            session,
            result,
            existing=order,
            model=TripOrder,
            create={"order_no": order_no, **values},
            values=values,
            entity="order",
            name=order_no,
            actor=actor,
            fields=ORDER_FIELDS,
        )
        existing[order_no] = saved
        after = {f: getattr(saved, f) for f in ORDER_MATCH_FIELDS}
        if before is None or before != after:
            to_recheck.append(saved)
    if not result.issues and to_recheck:
        session.flush()
        now = utcnow()
        # A new order for a window still to come has no trip yet: the nightly run will see it.
        _recheck(session, [o for o in to_recheck if o.planned_start_at <= now])
    return result


def apply_expenses(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """Expense sheets by order_no: tolls_fen, meal_allowance_fen, fuel_fen, other_fen (integer fen; the
    template's names without `_fen` are taken too). An empty cell clears an amount to 0."""
    result = ApplyResult()
    seen = _Seen(result, "order_no")
    orders = _by(session, TripOrder, TripOrder.order_no, [r.values.get("order_no") for r in rows])
    order_ids = [o.id for o in orders.values()]
    expenses = _by(session, TripExpense, TripExpense.order_id, order_ids)
    for row in rows:
        order_no = _required(result, row, "order_no", "申请单号")
        if order_no is None or seen.duplicate(row, order_no):
            continue
        order = orders.get(order_no)
        if order is None:
            result.issue(row, "order_no", f"未知的申请单号 unknown order '{order_no}': 请先导入出行申请")
            continue
        values: dict[str, Any] = {}
        ok = True
        for name in MONEY:
            short = name.removesuffix("_fen")
            key = name if name in row.values else short if short in row.values else None
            if key is None:
                continue
            fen = row.values[key]
            if fen is None:
                fen = 0
            if isinstance(fen, bool) or not isinstance(fen, int) or fen < 0:
                result.issue(row, key, "金额须为非负整数(分) amount must be a non-negative number of fen")
                ok = False
                continue
            values[name] = fen
        if not ok:
            continue
        expense = expenses.get(order.id)
        expenses[order.id] = _upsert(
            session,
            result,
            existing=expense,
            model=TripExpense,
            create={"order_id": order.id, **values},
            values=values,
            entity="expense",
            name=order_no,
            actor=actor,
            fields=MONEY,
        )
    return result
