"""The fleet's import kinds, each declared once (core/importing.py): vehicles (公务用车登记表), orders
(出行申请/派车单), expense sheets (出行费用单) and positions (定位数据, written by the bulk path of
fleet/positions.py). A column absent from a file leaves the stored field alone, an empty cell clears it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from core import normalize as n
from core.i18n import tr
from core.importing import (
    ApplyResult,
    Column,
    ImportSpec,
    Row,
    RowReader,
    Seen,
    after,
    by_column,
    keyed_rows,
    upsert,
)
from core.models import Unit
from core.timeutil import as_utc, china_day, fmt_china, to_ts, utcnow
from fleet import service
from fleet import trackers as trackers_history
from fleet.models import (
    CostCategory,
    Driver,
    FuelFill,
    Inspection,
    Insurance,
    Maintenance,
    MaintenanceKind,
    OrderStatus,
    Place,
    PlaceKind,
    RunningCost,
    TrackerCheck,
    TripExpense,
    TripOrder,
    Vehicle,
    VehicleStatus,
)
from fleet.rules import OPEN_END, Assignment, a_year_on, check_result, licence_class, window_problem
from fleet.rules import overlap as first_overlap

vehicle_status = n.EnumMap(
    ("车辆状态", "vehicle status"),
    {
        VehicleStatus.in_service: ["在用", "使用中", "正常", "in service", "active"],
        VehicleStatus.idle_proposed: ["闲置", "idle"],
        VehicleStatus.disposal_pending: ["待处置", "拟处置", "pending disposal"],
        VehicleStatus.disposed: ["已处置", "已报废", "处置"],
    },
)
yes_no = n.EnumMap(
    ("是否出县", "out of county"),
    {"yes": ["是", "出县", "y", "true", "1"], "no": ["否", "不出县", "n", "false", "0"]},
)
order_status = n.EnumMap(
    ("审批状态", "order status"),
    {
        OrderStatus.approved: ["已批准", "批准", "已审批", "审批通过", "通过", "同意", "已同意"],
        OrderStatus.submitted: ["待审批", "审批中", "待审核", "未审批", "pending"],
        OrderStatus.dispatched: ["已派车", "派车", "已出车", "出车中"],
        OrderStatus.returned: ["已还车", "还车", "已回场", "已完成", "完成"],
        OrderStatus.rejected: ["已驳回", "驳回", "不同意", "未通过", "denied"],
        OrderStatus.cancelled: ["已取消", "取消", "作废", "已作废", "canceled"],
    },
)

place_kind = n.EnumMap(
    ("地点类型", "place type"),
    {
        PlaceKind.village: ["村社区", "村/社区", "村", "社区", "村委会", "居委会", "自然村", "行政村"],
        PlaceKind.unit: ["单位", "机关", "机关单位"],
        PlaceKind.fuel: ["加油站", "加气站", "充电站"],
        PlaceKind.repair: ["维修点", "修理厂", "维修厂", "定点维修"],
        PlaceKind.hotel: ["酒店", "宾馆", "饭店住宿", "旅馆", "招待所", "hotel"],
        PlaceKind.restaurant: ["餐饮", "餐厅", "饭店", "酒楼", "农家乐", "restaurant"],
        PlaceKind.scenic: ["景区", "景点", "风景区", "scenic"],
        PlaceKind.entertainment: ["娱乐场所", "娱乐", "KTV", "歌厅", "洗浴", "会所", "entertainment"],
        PlaceKind.property: ["房产", "办公用房", "经营性用房"],
        PlaceKind.other: ["其他", "其它", "other"],
    },
)

_DATE_HINT = "日期, 如 2024-06-01 / 2024年6月1日"
_TIME_HINT = "北京时间, 如 2024-06-01 08:00:00"
_MONEY_HINT = "金额(元), 最多两位小数"
_SPEED = {
    "km/h": 1, "kmh": 1, "kph": 1, "公里/小时": 1, "千米/小时": 1, "千米/时": 1, "公里/时": 1,
    "m/s": 3.6, "米/秒": 3.6, "kn": 1.852, "knot": 1.852, "knots": 1.852, "节": 1.852, "mph": 1.609344,
}  # fmt: skip
_KM = {"km": 1, "公里": 1, "千米": 1, "m": 0.001, "米": 0.001}
_YUAN = {"元": 1, "元/年": 1, "人民币元": 1, "万元": 10000, "万元/年": 10000}


def text(
    name: str, zh: str, *aliases: str, required: bool = False, example: object = None, hint: str = ""
) -> Column:
    return Column(name, zh, n.text, required, aliases, example, hint=hint or "文字")


def money(name: str, zh: str, *aliases: str, example: object = None, target: str = "") -> Column:
    return Column(name, zh, n.money_fen, False, aliases, example, "元", _YUAN, _MONEY_HINT, target=target)


def enum(name: str, zh: str, parse: n.EnumMap, *aliases: str, required: bool = False) -> Column:
    return Column(name, zh, parse, required, aliases, parse.choices.split("/")[0], hint=f"填 {parse.choices}")


def plate_column(required: bool = True) -> Column:
    return Column(
        "plate", "车牌号", n.plate, required,
        ("车牌", "车牌号码", "号牌号码", "号牌", "车号", "plate no", "plate number", "license plate"),
        "晋M·A1234", hint="如 晋M·A1234",
    )  # fmt: skip


def order_no_column(example: str = "CC20240601001") -> Column:
    return text(
        "order_no", "申请单号", "单号", "派车单号", "出车单号", "订单号", "申请编号", "order number", "order",
        required=True, example=example,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------- vehicles


def _vehicle_values(
    r: RowReader,
    vehicle: Vehicle | None,
    units: Mapping[str, Unit],
    trackers: Mapping[str, Vehicle],
    tracker_line: dict[str, tuple[int, str]],
    plate: str,
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if r.has("unit") or vehicle is None:
        unit = r.reference(
            "unit", units, tr("未知单位 '{key}': 请先导入单位", "unknown unit '{key}': import units first")
        )
        if unit is not None:
            values["unit_id"] = unit.id
    if r.has("model"):
        values["model"] = r.text("model") or ""
    if r.has("tracker_id"):
        tracker = r.text("tracker_id")
        holder = trackers.get(tracker) if tracker else None
        if holder is not None and holder.plate != plate:
            r.bad("tracker_id", tr(f"终端号已装在 {holder.plate}", f"tracker {tracker} is on {holder.plate}"))
        elif tracker and tracker in tracker_line and tracker_line[tracker][1] != plate:
            line = tracker_line[tracker][0]
            r.bad("tracker_id", tr(f"终端号与第 {line} 行重复", f"tracker also on line {line}"))
        if tracker:
            tracker_line.setdefault(tracker, (r.row.line, plate))
        values["tracker_id"] = tracker
    if r.row.values.get("status") is not None:
        status = r.choice("status", VehicleStatus.codes())
        if status is not None:
            values["status"] = status
            newly = vehicle is None or (vehicle.status != VehicleStatus.disposed and not vehicle.disposed_on)
            if status == VehicleStatus.disposed and newly:
                values["disposed_on"] = china_day(utcnow())
    if r.has("acquired_on"):
        values["acquired_on"] = r.row.values["acquired_on"]
    values |= r.point("home_lat", "home_lon")
    if r.has("tank_l"):
        tank = r.row.values.get("tank_l")
        if tank is not None and not 10 <= float(tank) <= 400:
            r.bad("tank_l", tr(f"油箱容积不合理：{tank}", f"not a plausible tank: {tank} L"))
        values["tank_l"] = float(tank) if tank is not None else None
    return values


def apply_vehicles(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """Vehicles by plate: unit (name), model, tracker_id, status, acquired_on, home base (停放点). A tracker
    belongs to one vehicle."""
    result = ApplyResult()
    units = by_column(session, Unit, Unit.name, [r.values.get("unit") for r in rows])
    existing = by_column(session, Vehicle, Vehicle.plate, [r.values.get("plate") for r in rows])
    trackers = by_column(session, Vehicle, Vehicle.tracker_id, [r.values.get("tracker_id") for r in rows])
    tracker_line: dict[str, tuple[int, str]] = {}
    before = trackers_history.begin(session)
    implicit: list[tuple[Vehicle, str | None]] = []
    for r, plate in keyed_rows(VEHICLES, rows, result, "plate", Vehicle):
        vehicle = existing.get(plate)
        values = _vehicle_values(r, vehicle, units, trackers, tracker_line, plate)
        if r.fits(Vehicle, values):
            existing[plate], changes = upsert(
                session, result, model=Vehicle, obj=vehicle, values=values, actor=actor, key=plate,
                init={"plate": plate},
            )  # fmt: skip
            if values.get("tracker_id") and (changes is None or {"tracker_id", "acquired_on"} & set(changes)):
                implicit.append((existing[plate], values["tracker_id"]))
    if implicit and not result.issues:
        # the 终端号 is the tracker in the car now: its implicit assignment from the acquisition, which
        # an explicit history overlapping it overrides
        for vehicle, tracker in implicit:
            trackers_history.set_implicit(session, vehicle, tracker, actor=actor)
        trackers_history.finish(session, before)
    return result


# ----------------------------------------------------------------------------------------------- drivers


def apply_drivers(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """Drivers by name within their unit: phone, licence class, in service or not."""
    result = ApplyResult()
    units = by_column(session, Unit, Unit.name, [r.values.get("unit") for r in rows])
    stored = {(d.unit_id, d.name): d for d in session.exec(select(Driver)).all()}
    for row in rows:  # a file's repeated (unit, name) was already dropped by the importer
        r = RowReader(DRIVERS, row, result)
        unit = r.reference(
            "unit", units, tr("未知单位 '{key}': 请先导入单位", "unknown unit '{key}': import units first")
        )
        name = r.text("name", required=True)
        if unit is None or unit.id is None or not name or not r.fits(Driver, {"name": name}):
            continue
        key = (unit.id, name)
        values: dict[str, Any] = {}
        for field_name in ("phone", "licence_class"):
            if r.has(field_name):
                values[field_name] = r.row.values.get(field_name) or ("" if field_name == "phone" else "C1")
        if r.has("active"):
            values["is_active"] = bool(r.row.values.get("active"))
        stored[key], _ = upsert(
            session, result, model=Driver, obj=stored.get(key), values=values, actor=actor,
            key=f"{unit.name} {name}", init={"unit_id": unit.id, "name": name},
        )  # fmt: skip
    return result


DRIVERS = ImportSpec(
    "drivers",
    "驾驶员名录",
    (
        text(
            "name", "姓名", "驾驶员", "驾驶员姓名", "司机", "司机姓名", "name", required=True, example="李四"
        ),
        text(
            "unit", "单位", "所属单位", "单位名称", "unit name", required=True, example="县机关事务服务中心"
        ),
        Column(
            "phone",
            "手机",
            n.phone,
            False,
            ("手机号", "手机号码", "联系电话", "电话", "mobile", "phone number"),
            "13812345678",
            hint="手机号或带区号的电话",
        ),
        enum("licence_class", "准驾车型", licence_class, "驾照类型", "驾驶证类型", "准驾", "licence"),
        Column(
            "active",
            "在岗",
            n.boolean,
            False,
            ("是否在岗", "在职", "状态", "active"),
            "是",
            hint="是/否",
        ),
    ),
    key=("unit", "name"),
    apply=apply_drivers,
)


# ------------------------------------------------------------------------------------------------ orders

ORDER_TEXT = ("applicant", "driver", "purpose", "destination")


def _order_values(
    r: RowReader, order: TripOrder | None, vehicles: Mapping[str, Vehicle], units: Mapping[str, Unit]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    vehicle: Vehicle | None = None
    if r.has("plate") or order is None:
        vehicle = r.reference(
            "plate",
            vehicles,
            tr("未知车辆 '{key}': 请先导入车辆", "unknown vehicle '{key}': import vehicles first"),
        )
        if vehicle is not None:
            values["vehicle_id"] = vehicle.id
    if r.row.values.get("unit") is not None:
        unit = r.reference("unit", units, tr("未知单位 '{key}'", "unknown unit '{key}'"))
        if unit is not None:
            values["unit_id"] = unit.id
    elif vehicle is not None and (order is None or r.has("unit")):
        values["unit_id"] = vehicle.unit_id
    for name in ORDER_TEXT:
        if r.has(name):
            values[name] = r.text(name) or ""
    for name, field_name in (("planned_start", "planned_start_at"), ("planned_end", "planned_end_at")):
        if r.has(name) or order is None:
            when = r.when(name, required=True)
            if when is not None:
                values[field_name] = as_utc(when)
    start = values.get("planned_start_at", order.planned_start_at if order else None)
    end = values.get("planned_end_at", order.planned_end_at if order else None)
    if r.ok and start is not None and end is not None:
        problem = window_problem(start, end)
        if problem:
            r.bad("planned_end", problem)
    if r.has("status") or order is None:
        default = OrderStatus.approved if order is None and not r.has("status") else None
        status = r.row.values.get("status") or default
        if status not in OrderStatus.codes():
            allowed = ", ".join(OrderStatus.codes())
            r.bad(
                "status", tr(f"未知的审批状态, 可选 {allowed}", f"unknown order status, allowed: {allowed}")
            )
        else:
            values["status"] = status
    return values


def apply_orders(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """Orders by order_no: plate, unit (default: the vehicle's), applicant, driver, purpose, destination,
    planned_start, planned_end (aware), status. Orders whose window, vehicle or status changed have their
    trips matched again at once."""
    result = ApplyResult()
    vehicles = by_column(session, Vehicle, Vehicle.plate, [r.values.get("plate") for r in rows])
    units = by_column(session, Unit, Unit.name, [r.values.get("unit") for r in rows])
    existing = by_column(session, TripOrder, TripOrder.order_no, [r.values.get("order_no") for r in rows])
    to_recheck: list[TripOrder] = []
    for r, order_no in keyed_rows(ORDERS, rows, result, "order_no", TripOrder):
        order = existing.get(order_no)
        values = _order_values(r, order, vehicles, units)
        if r.has("out_of_county"):  # 是否出县: an empty cell is 否
            values["out_of_county"] = r.row.values.get("out_of_county") == "yes"
        if not r.fits(TripOrder, values):
            continue
        before = {f: getattr(order, f) for f in service.ORDER_MATCH_FIELDS} if order is not None else None
        saved, _ = upsert(
            session, result, model=TripOrder, obj=order, values=values, actor=actor, key=order_no,
            init={"order_no": order_no},
        )  # fmt: skip
        existing[order_no] = saved
        if before is None or before != {f: getattr(saved, f) for f in service.ORDER_MATCH_FIELDS}:
            to_recheck.append(saved)
    if not result.issues and to_recheck:
        session.flush()
        now = utcnow()
        # A new order for a window still to come has no trip yet: the nightly run will see it.
        service.recheck(session, [o for o in to_recheck if o.planned_start_at <= now])
    return result


# ---------------------------------------------------------------------------------------------- expenses


def apply_expenses(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """Expense sheets by order_no: tolls_fen, meal_allowance_fen, fuel_fen, other_fen (integer fen). An
    empty cell clears an amount to 0."""
    result = ApplyResult()
    seen = Seen(result, "order_no")
    orders = by_column(session, TripOrder, TripOrder.order_no, [r.values.get("order_no") for r in rows])
    expenses = by_column(session, TripExpense, TripExpense.order_id, [o.id for o in orders.values()])
    for row in rows:
        r = RowReader(EXPENSES, row, result)
        order = r.reference(
            "order_no",
            orders,
            tr("未知的申请单号 '{key}': 请先导入出行申请", "unknown order '{key}': import orders first"),
        )
        if order is None or seen.duplicate(row, order.order_no):
            continue
        values: dict[str, Any] = {}
        for name in service.MONEY:  # the column's own name (tolls) is read too
            given = name if r.has(name) else name.removesuffix("_fen")
            if r.has(given):
                values[name] = r.fen(given) or 0
        if r.ok:
            expenses[order.id], _ = upsert(
                session, result, model=TripExpense, obj=expenses.get(order.id), values=values, actor=actor,
                key=order.order_no, init={"order_id": order.id},
            )  # fmt: skip
    return result


# ------------------------------------------------------------------------------------------------- specs

VEHICLES = ImportSpec(
    "vehicles",
    "公务用车登记表",
    (
        plate_column(),
        text(
            "unit",
            "单位",
            "使用单位",
            "所属单位",
            "单位名称",
            "用车单位",
            "unit name",
            required=True,
            example="县机关事务服务中心",
        ),
        text(
            "model", "品牌型号", "车型", "品牌", "厂牌型号", "车辆型号", "型号", "brand", example="大众帕萨特"
        ),
        text(
            "tracker_id",
            "终端号",
            "北斗终端号",
            "设备号",
            "终端ID",
            "终端编号",
            "设备ID",
            "设备编号",
            "IMEI",
            "device id",
            "device",
            "tracker",
            example="864000000000001",
            hint="北斗终端的设备号",
        ),
        enum("status", "状态", vehicle_status, "车辆状态", "使用状态", "vehicle status"),
        Column(
            "acquired_on",
            "购置日期",
            n.date_,
            False,
            ("购买日期", "购车日期", "购入日期", "acquired", "purchase date"),
            date(2020, 5, 1),
            hint=_DATE_HINT,
        ),
        Column(
            "home_lon",
            "停放点经度",
            n.longitude,
            False,
            ("停车点经度", "停放地点经度", "home longitude"),
            112.7342,
            hint="夜间停放地点, WGS-84 度; 空: 用单位的位置",
        ),
        Column(
            "home_lat",
            "停放点纬度",
            n.latitude,
            False,
            ("停车点纬度", "停放地点纬度", "home latitude"),
            37.6871,
            hint="WGS-84 度",
        ),
        Column(
            "tank_l",
            "油箱容积",
            n.non_negative_float,
            False,
            ("油箱", "油箱容量", "油箱升数", "tank"),
            55,
            "升",
            hint="空: 按 GONGWU_TANK_LITRES (70 升)",
        ),
    ),
    key=("plate",),
    apply=apply_vehicles,
)

ORDERS = ImportSpec(
    "orders",
    "出行申请(派车单)",
    (
        order_no_column(),
        plate_column(),
        text("unit", "单位", "申请单位", "用车单位", "所属单位", "单位名称", example="县机关事务服务中心"),
        text("applicant", "申请人", "申请人员", "经办人", example="张三"),
        text("driver", "驾驶员", "司机", "驾驶人", "驾驶员姓名", example="李四"),
        text("purpose", "事由", "用车事由", "出行事由", "出车事由", "事项", example="下乡检查"),
        text("destination", "目的地", "出行地点", "去往地点", "目的地点", "地点", example="城关镇"),
        Column(
            "planned_start",
            "计划出发",
            n.datetime_china,
            True,
            ("计划出发时间", "出发时间", "用车时间", "开始时间", "start", "planned start time"),
            datetime(2024, 6, 1, 8, 0),
            hint=_TIME_HINT,
        ),
        Column(
            "planned_end",
            "计划返回",
            n.datetime_china,
            True,
            ("计划返回时间", "返回时间", "结束时间", "还车时间", "end", "planned return", "planned end time"),
            datetime(2024, 6, 1, 17, 30),
            hint=_TIME_HINT,
        ),
        enum("status", "审批状态", order_status, "状态", "审批结果", "order status", required=True),
        enum("out_of_county", "是否出县", yes_no, "出县", "out of county"),
    ),
    key=("order_no",),
    checks=(after("planned_start", "planned_end", ("返回早于出发", "planned return before start")),),
    apply=apply_orders,
)

POSITIONS = ImportSpec(
    "positions",
    "公务用车定位数据",
    (
        text(
            "device_id",
            "终端号",
            "设备号",
            "终端ID",
            "终端编号",
            "设备ID",
            "设备编号",
            "终端号码",
            "终端手机号",
            "设备IMEI",
            "IMEI",
            "device",
            "deviceid",
            "terminal id",
            "uniqueid",
            "tracker id",
            required=True,
            example="864000000000001",
        ),
        plate_column(required=False),
        Column(
            "fixed_at",
            "定位时间",
            n.datetime_china,
            True,
            (
                "GPS时间",
                "时间",
                "定位时刻",
                "卫星时间",
                "设备时间",
                "采集时间",
                "fixtime",
                "gps time",
                "devicetime",
                "time",
                "timestamp",
            ),
            datetime(2024, 6, 1, 8, 0, 0),
            hint=_TIME_HINT + " (带时区的按其时区)",
        ),
        Column("lon", "经度", n.longitude, True, ("lng", "longitude", "东经"), 112.7342, hint="WGS-84 度"),
        Column("lat", "纬度", n.latitude, True, ("latitude", "北纬"), 37.6871, hint="WGS-84 度"),
        Column(
            "speed_kmh",
            "速度",
            n.non_negative_float,
            True,
            ("GPS速度", "车速", "speed"),
            42.5,
            "km/h",
            _SPEED,
            "km/h",
        ),
        Column(
            "course",
            "方向",
            n.float_,
            False,
            ("方向角", "航向", "航向角", "方位角", "heading", "direction", "bearing"),
            90,
            hint="0-360 度, 正北为 0",
        ),
        Column(
            "ignition",
            "ACC",
            n.boolean,
            False,
            ("ACC状态", "点火状态", "点火", "acc status", "acc state"),
            "开",
            hint="开/关",
        ),
        Column(
            "odometer_km",
            "里程",
            n.non_negative_float,
            False,
            ("总里程", "累计里程", "里程数", "odometer", "mileage", "total mileage"),
            12345.6,
            "km",
            _KM,
            "累计里程 km",
        ),
    ),
    key=("device_id", "fixed_at"),
    apply=None,  # the bulk path: ingest/importer.py → fleet.positions.ingest_fixes
)

EXPENSES = ImportSpec(
    "expenses",
    "出行费用单",
    (
        order_no_column(),
        money(
            "tolls", "过路费", "通行费", "路桥费", "过路过桥费", "toll", example="35.00", target="tolls_fen"
        ),
        money(
            "meal_allowance",
            "伙食补助",
            "伙食费",
            "餐补",
            "误餐补助",
            "meal",
            "meals",
            example="60.00",
            target="meal_allowance_fen",
        ),
        money("fuel", "燃油费", "油费", "加油费", "fuel cost", example="120.50", target="fuel_fen"),
        money("other", "其他", "其他费用", "其它", "停车费", "other cost", example="0", target="other_fen"),
    ),
    key=("order_no",),
    one_of=("tolls", "meal_allowance", "fuel", "other"),
    apply=apply_expenses,
)

# --------------------------------------------------------------------------------------- tracker checks


def apply_tracker_checks(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """检修 by (tracker, day): result, who, note. The tracker must be a vehicle's."""
    result = ApplyResult()
    trackers = by_column(session, Vehicle, Vehicle.tracker_id, [r.values.get("device_id") for r in rows])
    days = {r.values.get("checked_on") for r in rows}
    devices = sorted(trackers)
    stored = {
        (c.device_id, c.checked_on): c
        for i in range(0, len(devices), 500)  # SQLite's old limit of 999 parameters a statement
        for c in session.exec(
            select(TrackerCheck).where(col(TrackerCheck.device_id).in_(devices[i : i + 500]))
        ).all()
        if c.checked_on in days
    }
    for row in rows:
        r = RowReader(TRACKER_CHECKS, row, result)
        vehicle = r.reference(
            "device_id",
            trackers,
            tr("未登记的终端号 '{key}' (先导入车辆)", "unknown tracker '{key}' (import vehicles first)"),
        )
        day = r.day("checked_on", required=True)
        outcome = r.row.values.get("result")
        if outcome is None:
            r.missing("result")
        if vehicle is None or day is None or outcome is None or not r.ok:
            continue
        key = (vehicle.tracker_id or "", day)
        values = {"result": outcome}
        for name, limit in (("checked_by", 50), ("note", 500)):  # an absent column leaves what is stored
            if r.has(name):
                values[name] = r.text(name, limit=limit) or ""
        stored[key], _ = upsert(
            session, result, model=TrackerCheck, obj=stored.get(key), values=values, actor=actor,
            key=f"{key[0]} {day.isoformat()}", init={"device_id": key[0], "checked_on": day},
        )  # fmt: skip
    return result


TRACKER_CHECKS = ImportSpec(
    "tracker-checks",
    "终端检修记录",
    (
        text("device_id", "终端号", "设备号", "终端ID", "终端编号", "设备ID", "IMEI", "device", required=True,
             example="864000000000001"),
        Column("checked_on", "检修日期", n.date_, True, ("检查日期", "日期", "检修时间", "date"),
               date(2024, 6, 1), hint=_DATE_HINT),
        enum("result", "检修结果", check_result, "结果", "检查结果", "result", required=True),
        text("checked_by", "检修人", "检查人", "维修人", "技术员", "by"),
        text("note", "备注", "说明", "note"),
    ),
    key=("device_id", "checked_on"),
    apply=apply_tracker_checks,
)  # fmt: skip

# ---------------------------------------------------------------------------------- tracker assignments


def apply_tracker_assignments(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """终端安装记录: each tracker the file names gets exactly the file's history (its other explicit rows
    go); a row overlapping another row of the file or another tracker's history in the same car is
    refused, naming both. The trips of every span that changed are re-cut (scheduler/imports.py)."""
    result = ApplyResult()
    plates = by_column(session, Vehicle, Vehicle.plate, [r.values.get("plate") for r in rows])
    wanted: dict[str, list[tuple[Vehicle, datetime, datetime | None]]] = {}
    accepted: list[tuple[Assignment, str]] = []  # the file's rows so far, with how to name them
    read = []
    for row in rows:
        r = RowReader(TRACKER_ASSIGNMENTS, row, result)
        device = r.text("device_id", required=True, limit=32)
        vehicle = r.reference(
            "plate",
            plates,
            tr("未登记的车辆 '{key}' (先导入车辆)", "unknown vehicle '{key}' (import vehicles first)"),
        )
        start = r.when("installed_at", required=True)
        end = r.when("removed_at")
        if start is not None and end is not None and end <= start:
            r.bad("removed_at", tr("拆除时间须晚于安装时间", "the removal must come after the installation"))
        if device is None or vehicle is None or start is None or not r.ok:
            continue
        read.append((r, device, vehicle, start, end))
    named = {device for _, device, *_ in read}
    others = [a for a in trackers_history.rows(session) if not a.implicit and a.device not in named]
    for r, device, vehicle, start, end in read:  # in file order: a later line is refused for an earlier
        rule = Assignment(-r.row.line, device, vehicle.id or 0, to_ts(start), to_ts(end) if end else OPEN_END)
        hit = first_overlap(rule, others)
        if hit is not None:
            r.bad("installed_at", tr(f"与已有记录重叠：{trackers_history.describe(session, hit)}",
                                     f"overlaps {trackers_history.describe(session, hit)}"))  # fmt: skip
            continue
        same = first_overlap(rule, [a for a, _ in accepted])
        if same is not None:
            line, what = -same.id, next(d for a, d in accepted if a is same)
            r.bad("installed_at", tr(f"与第 {line} 行重叠（{what}）", f"overlaps line {line} ({what})"))
            continue
        accepted.append((rule, trackers_history.describe(session, rule)))
        wanted.setdefault(device, []).append((vehicle, start, end))
    if result.issues:
        return result
    before = trackers_history.begin(session)
    for device, history in wanted.items():
        inserted, updated, unchanged = trackers_history.replace_history(session, device, history, actor=actor)
        result.inserted += inserted
        result.updated += updated
        result.unchanged += unchanged
        if inserted or updated:
            result.changes.append(
                f"{device}: " + "; ".join(f"{v.plate} {fmt_china(a)} — {fmt_china(b) if b else '…'}"
                                          for v, a, b in history)
            )  # fmt: skip
    trackers_history.finish(session, before)
    return result


TRACKER_ASSIGNMENTS = ImportSpec(
    "tracker-assignments",
    "终端安装记录",
    (
        text("device_id", "终端号", "设备号", "终端ID", "终端编号", "设备ID", "IMEI", "device", required=True,
             example="864000000000001"),
        plate_column(),
        Column("installed_at", "安装时间", n.datetime_china, True,
               ("安装日期", "装机时间", "开始时间", "installed at", "installed"), datetime(2024, 6, 1, 12, 0),
               hint=_TIME_HINT),
        Column("removed_at", "拆除时间", n.datetime_china, False,
               ("拆除日期", "拆机时间", "结束时间", "removed at", "removed"), None,
               hint="北京时间；空着表示仍在车上"),
    ),
    key=("device_id", "installed_at"),
    apply=apply_tracker_assignments,
)  # fmt: skip

KINDS = (VEHICLES, DRIVERS, ORDERS, POSITIONS, EXPENSES, TRACKER_CHECKS, TRACKER_ASSIGNMENTS)

# ------------------------------------------------------------------------------------------------ places


def apply_places(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """地名库 by (名称, 类型): where it is and the radius a stop counts as at it (300 m when not given).
    The stops are named again after the import (scheduler/imports.py)."""
    result = ApplyResult()
    stored = {(p.name, p.kind): p for p in session.exec(select(Place)).all()}
    for row in rows:
        r = RowReader(PLACES, row, result)
        name = r.text("name", required=True, limit=100)
        kind = r.row.values.get("kind")
        if kind is None:
            r.missing("kind")
        where = r.point("lat", "lon")  # both required: a row without them is refused before it comes here
        radius = r.integer("radius_m")
        if radius is not None and not 10 <= radius <= 5000:
            r.bad(
                "radius_m",
                tr(f"半径须在 10 到 5000 米之间，不是 {radius}", f"a radius is 10–5000 m, not {radius}"),
            )
        if name is None or kind is None or not where or not r.ok:
            continue
        key = (name, str(kind))
        values = {**where, "radius_m": radius if radius is not None else 300}
        stored[key], _ = upsert(
            session, result, model=Place, obj=stored.get(key), values=values, actor=actor,
            key=f"{name} {kind}", init={"name": name, "kind": kind},
        )  # fmt: skip
    return result


PLACES = ImportSpec(
    "places",
    "地名库",
    (
        text(
            "name",
            "名称",
            "地名",
            "地点",
            "地点名称",
            "名字",
            "place",
            required=True,
            example="东坡村村民委员会",
        ),
        enum("kind", "类型", place_kind, "地点类型", "分类", "类别", "type", required=True),
        Column("lon", "经度", n.longitude, True, ("lng", "longitude", "东经"), 112.7342, hint="WGS-84 度"),
        Column("lat", "纬度", n.latitude, True, ("latitude", "北纬"), 37.6871, hint="WGS-84 度"),
        Column(
            "radius_m",
            "半径米",
            n.integer,
            False,
            ("半径", "半径(米)", "范围", "radius"),
            300,
            hint="停留在此半径内算在该地点, 空: 300 米",
        ),
    ),
    key=("name", "kind"),
    apply=apply_places,
)

# ----------------------------------------------------------------------------- running costs (issue 25)

maintenance_kind = n.EnumMap(
    ("维修类别", "maintenance kind"),
    {
        MaintenanceKind.repair: ["维修", "修理", "repair"],
        MaintenanceKind.service: ["保养", "维护", "service"],
        MaintenanceKind.tyres: ["轮胎", "换胎", "tyres", "tires"],
        MaintenanceKind.other: ["其他", "其它", "other"],
    },
)


def _plates(session: Session, rows: Sequence[Row]) -> dict[str, Vehicle]:
    return by_column(session, Vehicle, Vehicle.plate, [r.values.get("plate") for r in rows])


def apply_fuel(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """加油 by (car, time): litres, amount, card, station. The nightly run checks each against the car's day
    and tank (fuel_anomaly)."""
    result = ApplyResult()
    cars = _plates(session, rows)
    orders = by_column(session, TripOrder, TripOrder.order_no, [r.values.get("order_no") for r in rows])
    stored = {(f.vehicle_id, as_utc(f.filled_at)): f for f in session.exec(select(FuelFill)).all()}
    for row in rows:
        r = RowReader(FUEL, row, result)
        car = r.reference(
            "plate",
            cars,
            tr("未登记的车辆 '{key}' (先导入车辆)", "unknown vehicle '{key}' (import vehicles first)"),
        )
        order = r.reference(
            "order_no",
            orders,
            tr("未知的派车单号 '{key}': 请先导入出行申请", "unknown order '{key}': import orders first"),
        ) if r.has("order_no") else None  # fmt: skip
        if order is not None and car is not None and order.vehicle_id not in (None, car.id):
            no = order.order_no
            r.bad("order_no", tr(f"派车单 {no} 派的不是 {car.plate}", f"order {no} is not for {car.plate}"))
        at = r.when("filled_at", required=True)
        litres = r.row.values.get("litres")
        if litres is None:
            r.missing("litres")
        elif not 0 < float(litres) <= 400:
            r.bad("litres", tr(f"升数不合理：{litres}", f"not a plausible number of litres: {litres}"))
        if car is None or at is None or litres is None or not r.ok:
            continue
        key = (car.id or 0, as_utc(at))
        values = {
            "litres": float(litres), "amount_fen": int(r.row.values.get("amount_fen") or 0),
            "card_no": r.text("card_no", limit=40) or "", "station": r.text("station", limit=200) or "",
            "order_id": order.id if order is not None else None,
        }  # fmt: skip
        stored[key], _ = upsert(
            session, result, model=FuelFill, obj=stored.get(key), values=values, actor=actor,
            key=f"{car.plate} {fmt_china(at)}", init={"vehicle_id": car.id, "filled_at": at},
        )  # fmt: skip
    return result


FUEL = ImportSpec(
    "fuel",
    "加油记录",
    (
        plate_column(),
        Column("filled_at", "加油时间", n.datetime_china, True, ("加油日期", "交易时间", "时间", "filled at"),
               datetime(2024, 6, 3, 9, 30), hint=_TIME_HINT),
        Column("litres", "升数", n.non_negative_float, True, ("加油量", "油量", "litres"), 45.5, "升"),
        money("amount", "金额", "加油金额", "交易金额", "amount", example="360.00", target="amount_fen"),
        text("card_no", "油卡号", "加油卡号", "卡号", "fuel card"),
        text("station", "加油站", "加油网点", "网点", "station"),
        text("order_no", "派车单号", "申请单号", "订单号", "order number", "order",
             hint="这张加油票所属的派车单 (该单费用单的燃油费不再重复计入)"),
    ),
    key=("plate", "filled_at"),
    apply=apply_fuel,
)  # fmt: skip


def apply_maintenance(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """维修保养 by (car, day, workshop, kind): the bill, its reason and its paper. A bill without a reason,
    or at or above GONGWU_EVIDENCE_THRESHOLD_YUAN without a contract or invoice no., comes in and is
    flagged by the nightly run (cost_without_evidence) — the audit's 无合同、无事由."""
    result = ApplyResult()
    cars = _plates(session, rows)
    stored = {
        (m.vehicle_id, m.done_on, m.workshop, m.kind): m for m in session.exec(select(Maintenance)).all()
    }
    for row in rows:
        r = RowReader(MAINTENANCE, row, result)
        car = r.reference(
            "plate",
            cars,
            tr("未登记的车辆 '{key}' (先导入车辆)", "unknown vehicle '{key}' (import vehicles first)"),
        )
        day = r.day("done_on", required=True)
        kind = str(r.row.values.get("kind") or MaintenanceKind.repair)
        workshop = r.text("workshop", limit=200) or ""
        if car is None or day is None or not r.ok:
            continue
        key = (car.id or 0, day, workshop, kind)
        values = {
            "amount_fen": int(r.row.values.get("amount_fen") or 0),
            "reason": r.text("reason", limit=500) or "",
            "document_no": r.text("document_no", limit=100) or "",
            "odometer_km": r.integer("odometer_km"),
        }  # fmt: skip
        stored[key], _ = upsert(
            session, result, model=Maintenance, obj=stored.get(key), values=values, actor=actor,
            key=f"{car.plate} {day} {workshop} {kind}",
            init={"vehicle_id": car.id, "done_on": day, "workshop": workshop, "kind": kind},
        )  # fmt: skip
    return result


MAINTENANCE = ImportSpec(
    "maintenance",
    "维修保养记录",
    (
        plate_column(),
        Column("done_on", "日期", n.date_, True, ("维修日期", "结算日期", "送修日期", "date"),
               date(2024, 6, 3), hint=_DATE_HINT),
        text("workshop", "维修单位", "维修厂", "修理厂", "承修单位", "workshop", example="县定点维修厂"),
        enum("kind", "类别", maintenance_kind, "维修类别", "项目类别", "kind"),
        Column("odometer_km", "里程表", n.integer, False, ("表显里程", "里程", "odometer"), 52300, "公里"),
        money("amount", "金额", "维修金额", "结算金额", "费用", example="1280.00", target="amount_fen"),
        text("reason", "事由", "维修事由", "原因", "维修原因", "reason", example="更换刹车片"),
        text("document_no", "合同或发票号", "合同号", "发票号", "发票号码", "invoice", example="04512345"),
    ),
    key=("plate", "done_on", "workshop", "kind"),
    apply=apply_maintenance,
)  # fmt: skip


def _evidence_fields(r: RowReader) -> dict[str, Any]:
    return {
        "amount_fen": int(r.row.values.get("amount_fen") or 0),
        "reason": r.text("reason", limit=500) or "",
        "document_no": r.text("document_no", limit=100) or "",
    }


_UNKNOWN_CAR = ("未登记的车辆 '{key}' (先导入车辆)", "unknown vehicle '{key}' (import vehicles first)")


def apply_insurance(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """保险 by (car, policy no.): insurer, start, end, premium. The nightly run reminds 30 days before the
    last policy ends (insurance_due) and flags a car's trips on a day no policy covers (uninsured_trip)."""
    result = ApplyResult()
    cars = _plates(session, rows)
    stored = {(i.vehicle_id, i.policy_no): i for i in session.exec(select(Insurance)).all()}
    for row in rows:
        r = RowReader(INSURANCE, row, result)
        car = r.reference("plate", cars, tr(*_UNKNOWN_CAR))
        policy = r.text("policy_no", limit=60)
        start, end = r.day("start_on", required=True), r.day("end_on", required=True)
        if start is not None and end is not None and end < start:
            r.bad(
                "end_on",
                tr(f"终止日期 {end} 早于起保日期 {start}", f"ends {end}, before it starts ({start})"),
            )
        if car is None or not policy or start is None or end is None or not r.ok:
            continue
        key = (car.id or 0, policy)
        values = {
            "insurer": r.text("insurer", limit=100) or "", "start_on": start, "end_on": end,
            "premium_fen": int(r.row.values.get("premium_fen") or 0),
        }  # fmt: skip
        stored[key], _ = upsert(
            session, result, model=Insurance, obj=stored.get(key), values=values, actor=actor,
            key=f"{car.plate} {policy}", init={"vehicle_id": car.id, "policy_no": policy},
        )  # fmt: skip
    return result


INSURANCE = ImportSpec(
    "insurance",
    "车辆保险",
    (
        plate_column(),
        text("insurer", "保险公司", "承保公司", "保险人", "insurer", example="中国人保"),
        text("policy_no", "保单号", "保险单号", "保单号码", "policy", required=True,
             example="PDAA2024140800001"),
        Column("start_on", "起保日期", n.date_, True, ("保险起期", "生效日期", "start"), date(2024, 3, 1),
               hint=_DATE_HINT),
        Column("end_on", "终止日期", n.date_, True, ("保险止期", "到期日期", "end"), date(2025, 2, 28),
               hint=_DATE_HINT),
        money("premium", "保费", "保险费", "金额", "premium", example="4200.00", target="premium_fen"),
    ),
    key=("plate", "policy_no"),
    apply=apply_insurance,
)  # fmt: skip


def apply_inspections(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """年检 by (car, day): the next due date (a year on when the file leaves it empty), the station, the
    fee. The nightly run reminds 30 days before it is due (inspection_due) and flags trips after it
    (uninspected_trip)."""
    result = ApplyResult()
    cars = _plates(session, rows)
    stored = {(i.vehicle_id, i.inspected_on): i for i in session.exec(select(Inspection)).all()}
    for row in rows:
        r = RowReader(INSPECTIONS, row, result)
        car = r.reference("plate", cars, tr(*_UNKNOWN_CAR))
        day = r.day("inspected_on", required=True)
        due = r.day("next_due_on")
        if day is not None and due is None:
            due = a_year_on(day)
        if day is not None and due is not None and due <= day:
            r.bad(
                "next_due_on", tr(f"下次年检 {due} 不晚于检验日期 {day}", f"next due {due}, not after {day}")
            )
        if car is None or day is None or due is None or not r.ok:
            continue
        key = (car.id or 0, day)
        values = {
            "next_due_on": due, "station": r.text("station", limit=200) or "",
            "amount_fen": int(r.row.values.get("amount_fen") or 0),
        }  # fmt: skip
        stored[key], _ = upsert(
            session, result, model=Inspection, obj=stored.get(key), values=values, actor=actor,
            key=f"{car.plate} {day}", init={"vehicle_id": car.id, "inspected_on": day},
        )  # fmt: skip
    return result


INSPECTIONS = ImportSpec(
    "inspections",
    "车辆年检",
    (
        plate_column(),
        Column("inspected_on", "检验日期", n.date_, True, ("年检日期", "检验时间", "date"), date(2024, 5, 10),
               hint=_DATE_HINT),
        Column("next_due_on", "下次年检日期", n.date_, False, ("检验有效期至", "有效期至", "next due"),
               date(2025, 5, 31), hint="空：一年后"),
        text("station", "检测站", "检验机构", "station", example="县机动车检测站"),
        money("amount", "费用", "检测费", "金额", "amount", example="160.00", target="amount_fen"),
    ),
    key=("plate", "inspected_on"),
    apply=apply_inspections,
)  # fmt: skip

cost_category = n.EnumMap(
    ("费用类别", "cost category"),
    {
        CostCategory.parking: ["停车费", "停车", "parking"],
        CostCategory.washing: ["洗车费", "洗车", "washing"],
        CostCategory.tolls: ["通行费", "过路费", "过桥费", "高速费", "tolls"],
        CostCategory.travel: ["驾驶员差旅", "差旅", "差旅费", "出差补助", "travel"],
        CostCategory.other: ["其他", "其它", "other"],
    },
)


def apply_costs(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """Other running costs by (car, day, category, reason, paper): parking, washing, tolls, a driver's travel
    (two receipts of a day tell apart by their invoice nos.). Judged
    like a workshop bill (cost_without_evidence: no reason, or over the threshold without paper)."""
    result = ApplyResult()
    cars = _plates(session, rows)
    stored = {
        (c.vehicle_id, c.spent_on, c.category, c.reason, c.document_no): c
        for c in session.exec(select(RunningCost)).all()
    }
    for row in rows:
        r = RowReader(COSTS, row, result)
        car = r.reference("plate", cars, tr(*_UNKNOWN_CAR))
        day = r.day("spent_on", required=True)
        category = str(r.row.values.get("category") or CostCategory.other)
        values = _evidence_fields(r)
        if car is None or day is None or not r.ok:
            continue
        key = (car.id or 0, day, category, values["reason"], values["document_no"])
        stored[key], _ = upsert(
            session, result, model=RunningCost, obj=stored.get(key),
            values={"amount_fen": values["amount_fen"]}, actor=actor,
            key=f"{car.plate} {day} {category} {values['reason']} {values['document_no']}".strip(),
            init={"vehicle_id": car.id, "spent_on": day, "category": category, "reason": values["reason"],
                  "document_no": values["document_no"]},
        )  # fmt: skip
    return result


COSTS = ImportSpec(
    "costs",
    "其他运行费用",
    (
        plate_column(),
        Column("spent_on", "日期", n.date_, True, ("发生日期", "费用日期", "date"), date(2024, 6, 3),
               hint=_DATE_HINT),
        enum("category", "类别", cost_category, "费用类别", "项目", "category"),
        money("amount", "金额", "费用", "amount", example="20.00", target="amount_fen"),
        text("reason", "事由", "用途", "原因", "reason", example="县医院停车"),
        text("document_no", "合同或发票号", "发票号", "票据号", "invoice"),
    ),
    key=("plate", "spent_on", "category", "reason", "document_no"),
    apply=apply_costs,
)  # fmt: skip
