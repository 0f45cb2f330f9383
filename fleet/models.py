"""Fleet tables: vehicles, trip orders and their expenses, positions, trips, stops and flags."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.labels import Coded
from core.models import ScaledInt, UtcDateTime, created_at_field, json_field


class VehicleStatus(Coded):
    in_service = "in_service", "在用", "In service"
    idle_proposed = "idle_proposed", "闲置待处置", "Idle, proposed for disposal"
    disposal_pending = "disposal_pending", "待处置", "Pending disposal"
    disposal_approved = "disposal_approved", "处置已批复", "Disposal approved"
    disposed = "disposed", "已处置", "Disposed"


class DisposalMethod(Coded):
    """How a car leaves its unit: sold, scrapped, transferred to another unit, or into the warehouse."""

    auction = "auction", "拍卖", "Auction"
    scrap = "scrap", "报废", "Scrap"
    transfer = "transfer", "调剂", "Transfer to another unit"
    warehouse = "warehouse", "公物仓", "Public asset warehouse"


class OrderStatus(Coded):
    """An order's life: submitted → approved → dispatched → returned, or rejected / cancelled. Imported
    orders keep the status they come with (a platform's 待审批 is `submitted`)."""

    submitted = "submitted", "待审批", "Submitted"
    approved = "approved", "已批准", "Approved"
    dispatched = "dispatched", "已派车", "Dispatched"
    returned = "returned", "已还车", "Returned"
    rejected = "rejected", "已驳回", "Rejected"
    cancelled = "cancelled", "已取消", "Cancelled"


# An order with a vehicle covers that vehicle's trips once approved, and on through dispatch and return.
COVERING = (OrderStatus.approved, OrderStatus.dispatched, OrderStatus.returned)


class Decision(Coded):
    approved = "approved", "同意", "Approved"
    rejected = "rejected", "驳回", "Rejected"


class FlagKind(Coded):
    """Every kind of flag; each is declared with its severity and detail schema in fleet/flags.py."""

    unreported_trip = "unreported_trip", "有轨迹无订单", "Trip without order"
    order_without_track = "order_without_track", "有订单无轨迹", "Order without trip"
    idle_vehicle = "idle_vehicle", "长期不出行", "Idle vehicle"
    silent_tracker = "silent_tracker", "终端离线", "Silent tracker"
    overspeed = "overspeed", "超速", "Overspeed"
    out_of_area_trip = "out_of_area_trip", "越界", "Out of area"
    wrong_vehicle = "wrong_vehicle", "车辆不符", "Wrong vehicle"
    away_overnight = "away_overnight", "夜间未归", "Away overnight"
    sensitive_stop = "sensitive_stop", "敏感场所停留", "Stop at a sensitive place"
    cost_without_evidence = "cost_without_evidence", "费用无依据", "Cost without evidence"
    fuel_anomaly = "fuel_anomaly", "加油异常", "Fuel anomaly"
    insurance_due = "insurance_due", "保险将到期", "Insurance due"
    inspection_due = "inspection_due", "年检将到期", "Inspection due"
    uninsured_trip = "uninsured_trip", "脱保出行", "Trip while uninsured"
    uninspected_trip = "uninspected_trip", "逾期未检出行", "Trip past the inspection"


class FlagState(Coded):
    """The machine's state of a flag (the review is the vehicle manager's)."""

    open = "open", "待审核", "Open"
    resolved = "resolved", "已自动消除", "Resolved automatically"


class ReviewStatus(Coded):
    violation = "violation", "违规", "Violation"
    explained = "explained", "已说明", "Explained"
    false_alarm = "false_alarm", "误报", "False alarm"


VEHICLE_STATUSES = VehicleStatus.codes()
ORDER_STATUSES = OrderStatus.codes()
FLAG_KINDS = FlagKind.codes()
FLAG_STATES = FlagState.codes()
REVIEW_STATUSES = ReviewStatus.codes()
# Where a stored fix came from (a small code keeps the position row short).
POSITION_SOURCES = {0: "import", 1: "traccar", 2: "osmand", 3: "jt808"}
COORD_SCALE = 10_000_000  # stored lat/lon unit: 1e-7 degree
SPEED_SCALE = 10  # stored speed unit: 0.1 km/h
COURSE_SCALE = 10  # stored course unit: 0.1 degree (OsmAnd and Traccar send fractions)


class Vehicle(SQLModel, table=True):
    """公务用车. `plate` is canonical (晋M·A1234); `trip_params` overrides trip-cutting parameters."""

    __tablename__ = "fleet_vehicle"

    id: int | None = Field(default=None, primary_key=True)
    plate: str = Field(max_length=16, unique=True)
    unit_id: int = Field(foreign_key="core_unit.id", index=True)
    model: str = Field(default="", max_length=100)
    tracker_id: str | None = Field(default=None, max_length=32, unique=True)
    status: str = Field(default="in_service", max_length=20)
    acquired_on: date | None = None
    disposed_on: date | None = None
    # 停放点: where the car is kept at night (WGS-84); without it the unit's location is its home
    home_lat: float | None = None
    home_lon: float | None = None
    trip_params: dict[str, Any] | None = json_field()
    tank_l: float | None = None  # the fuel tank (升); empty: GONGWU_TANK_LITRES
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class LicenceClass(Coded):
    """准驾车型 on a Chinese driving licence, as far as official cars need them."""

    A1 = "A1", "A1 大型客车", "A1 large bus"
    A2 = "A2", "A2 牵引车", "A2 tractor"
    A3 = "A3", "A3 城市公交车", "A3 city bus"
    B1 = "B1", "B1 中型客车", "B1 medium bus"
    B2 = "B2", "B2 大型货车", "B2 heavy truck"
    C1 = "C1", "C1 小型汽车", "C1 car"
    C2 = "C2", "C2 小型自动挡汽车", "C2 automatic car"


class Driver(SQLModel, table=True):
    """驾驶员: the center's and the units' drivers, whom an order is dispatched to. By name within a unit;
    `user_id` links the driver's own account (role `driver`), when there is one."""

    __tablename__ = "fleet_driver"
    __table_args__ = (UniqueConstraint("unit_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=50)
    unit_id: int = Field(foreign_key="core_unit.id", index=True)
    phone: str = Field(default="", max_length=20)
    licence_class: str = Field(default="C1", max_length=4)
    is_active: bool = True
    user_id: int | None = Field(default=None, foreign_key="core_user.id", unique=True)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class TripOrder(SQLModel, table=True):
    """出行申请/派车单: an approved order covers the trips inside its window."""

    __tablename__ = "fleet_order"
    __table_args__ = (Index("ix_fleet_order_vehicle_start", "vehicle_id", "planned_start_at"),)

    id: int | None = Field(default=None, primary_key=True)
    order_no: str = Field(max_length=40, unique=True)
    vehicle_id: int | None = Field(default=None, foreign_key="fleet_vehicle.id")  # None: awaits dispatch
    unit_id: int = Field(foreign_key="core_unit.id", index=True)
    applicant: str = Field(default="", max_length=50)
    driver: str = Field(default="", max_length=50)
    purpose: str = Field(default="", max_length=500)
    destination: str = Field(default="", max_length=200)
    planned_start_at: datetime = Field(sa_type=UtcDateTime)
    planned_end_at: datetime = Field(sa_type=UtcDateTime)
    status: str = Field(default="approved", max_length=16)
    out_of_county: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})  # 出县
    passengers: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    requested_by: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})
    driver_id: int | None = Field(default=None, foreign_key="fleet_driver.id", index=True)  # when dispatched
    returned_at: datetime | None = Field(default=None, sa_type=UtcDateTime)  # the actual return
    odometer_km: int | None = None  # km the odometer counted, when the driver read it
    # 补报: filed by the unit in reply to this unreported_trip flag, after the trip (a late order). No
    # foreign key: flags point at orders already; the reply row (fleet_flag_reply) holds both keys.
    late_for_flag_id: int | None = Field(default=None, index=True)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class OrderApproval(SQLModel, table=True):
    """One decision on an order: level 1 the unit's approver, level 2 the center (a vehicle manager)."""

    __tablename__ = "fleet_order_approval"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="fleet_order.id", index=True)
    level: int
    decision: str = Field(max_length=12)
    actor: str = Field(max_length=64)
    at: datetime = created_at_field()
    comment: str = Field(default="", max_length=500)


class CheckResult(Coded):
    normal = "normal", "正常", "Working"
    repaired = "repaired", "维修", "Repaired"
    replaced = "replaced", "更换", "Replaced"


class TrackerCheck(SQLModel, table=True):
    """检修: a tracker looked at on a day (the county has its trackers overhauled every six months)."""

    __tablename__ = "fleet_tracker_check"
    __table_args__ = (UniqueConstraint("device_id", "checked_on"),)

    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(max_length=32, index=True)
    checked_on: date
    result: str = Field(max_length=16)  # CheckResult
    checked_by: str = Field(default="", max_length=50)
    note: str = Field(default="", max_length=500)
    created_at: datetime = created_at_field()


class CalendarDay(SQLModel, table=True):
    """The center's own rest (True) or working (False) day, over the State Council's calendar."""

    __tablename__ = "fleet_calendar_day"

    day: date = Field(primary_key=True)
    rest: bool
    note: str = Field(default="", max_length=200)
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = created_at_field()


class RuleSetting(SQLModel, table=True):
    """One compliance rule's value (fleet/compliance.py ComplianceRules names them and their defaults)."""

    __tablename__ = "fleet_rule"

    key: str = Field(primary_key=True, max_length=40)
    value: str = Field(max_length=100)
    updated_by: str = Field(default="", max_length=64)
    updated_at: datetime = created_at_field()


class ServiceArea(SQLModel, table=True):
    """The county's service area (服务区域) as WGS-84 GeoJSON; the latest row is the one in force."""

    __tablename__ = "fleet_service_area"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(default="", max_length=100)
    geojson: str = Field(sa_type=Text)
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = created_at_field()


class TrackerAssignment(SQLModel, table=True):
    """A tracker installed in a car from `installed_at` to `removed_at` (None: still in). Explicit rows come
    from the assignment history (import, CLI, API) and never overlap for one tracker or one car; an
    implicit row is the vehicles import's 终端号 (from the acquisition, None: since its first fix) and
    gives way wherever an explicit row of the same tracker or car overlaps it (rules.effective_segments).
    Trips, stops and flags belong to the car that held the tracker at the fix time."""

    __tablename__ = "fleet_tracker_assignment"
    __table_args__ = (
        Index("ix_fleet_tracker_assignment_device", "device_id", "installed_at"),
        Index("ix_fleet_tracker_assignment_vehicle", "vehicle_id", "installed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(max_length=32)
    vehicle_id: int = Field(foreign_key="fleet_vehicle.id")
    installed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    removed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    implicit: bool = Field(default=False)
    note: str = Field(default="", max_length=200)
    created_at: datetime = created_at_field()


class FlagReply(SQLModel, table=True):
    """A unit's answer to one of its flags: an explanation (情况说明) and/or a late order (补报)."""

    __tablename__ = "fleet_flag_reply"

    id: int | None = Field(default=None, primary_key=True)
    flag_id: int = Field(foreign_key="fleet_flag.id", index=True)
    author: str = Field(max_length=64)
    at: datetime = created_at_field()
    text: str = Field(default="", max_length=2000)
    order_id: int | None = Field(default=None, foreign_key="fleet_order.id")


class FuelFill(SQLModel, table=True):
    """加油: one fill-up of a car, from the fuel card's statement; money in integer fen."""

    __tablename__ = "fleet_fuel"
    __table_args__ = (UniqueConstraint("vehicle_id", "filled_at"),)

    id: int | None = Field(default=None, primary_key=True)
    vehicle_id: int = Field(foreign_key="fleet_vehicle.id", index=True)
    filled_at: datetime = Field(sa_type=UtcDateTime)
    litres: float
    amount_fen: int = Field(default=0, sa_type=BigInteger)
    card_no: str = Field(default="", max_length=40)
    station: str = Field(default="", max_length=200)
    # the order whose expense sheet this slip is (its sheet's fuel is then not counted a second time)
    order_id: int | None = Field(default=None, foreign_key="fleet_order.id", index=True)
    created_at: datetime = created_at_field()


class MaintenanceKind(Coded):
    service = "service", "保养", "Service"
    repair = "repair", "维修", "Repair"
    tyres = "tyres", "轮胎", "Tyres"
    other = "other", "其他", "Other"


class Maintenance(SQLModel, table=True):
    """维修保养: a workshop's bill for a car — what for (事由) and on what paper (contract or invoice no.)."""

    __tablename__ = "fleet_maintenance"
    __table_args__ = (UniqueConstraint("vehicle_id", "done_on", "workshop", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    vehicle_id: int = Field(foreign_key="fleet_vehicle.id", index=True)
    done_on: date
    workshop: str = Field(default="", max_length=200)
    kind: str = Field(default="repair", max_length=16)
    odometer_km: int | None = None
    amount_fen: int = Field(default=0, sa_type=BigInteger)
    reason: str = Field(default="", max_length=500)
    document_no: str = Field(default="", max_length=100)
    created_at: datetime = created_at_field()


class Insurance(SQLModel, table=True):
    """保险: one policy of a car, covering start_on .. end_on (both days included)."""

    __tablename__ = "fleet_insurance"
    __table_args__ = (UniqueConstraint("vehicle_id", "policy_no"),)

    id: int | None = Field(default=None, primary_key=True)
    vehicle_id: int = Field(foreign_key="fleet_vehicle.id", index=True)
    insurer: str = Field(default="", max_length=100)
    policy_no: str = Field(max_length=60)
    start_on: date
    end_on: date
    premium_fen: int = Field(default=0, sa_type=BigInteger)
    created_at: datetime = created_at_field()


class Inspection(SQLModel, table=True):
    """年检: a car's annual inspection on a day, and the day the next one is due."""

    __tablename__ = "fleet_inspection"
    __table_args__ = (UniqueConstraint("vehicle_id", "inspected_on"),)

    id: int | None = Field(default=None, primary_key=True)
    vehicle_id: int = Field(foreign_key="fleet_vehicle.id", index=True)
    inspected_on: date
    next_due_on: date
    station: str = Field(default="", max_length=200)
    amount_fen: int = Field(default=0, sa_type=BigInteger)
    created_at: datetime = created_at_field()


class CostCategory(Coded):
    parking = "parking", "停车费", "Parking"
    washing = "washing", "洗车费", "Washing"
    tolls = "tolls", "通行费", "Tolls"
    travel = "travel", "驾驶员差旅", "Driver travel"
    other = "other", "其他", "Other"


class RunningCost(SQLModel, table=True):
    """Other running costs of a car (parking, washing, tolls, a driver's travel), each with its reason."""

    __tablename__ = "fleet_cost"
    __table_args__ = (UniqueConstraint("vehicle_id", "spent_on", "category", "reason", "document_no"),)

    id: int | None = Field(default=None, primary_key=True)
    vehicle_id: int = Field(foreign_key="fleet_vehicle.id", index=True)
    spent_on: date
    category: str = Field(default="other", max_length=16)
    amount_fen: int = Field(default=0, sa_type=BigInteger)
    reason: str = Field(default="", max_length=500)
    document_no: str = Field(default="", max_length=100)
    created_at: datetime = created_at_field()


class VehicleUnit(SQLModel, table=True):
    """A car held by a unit from `from_on` (None: since it came) until `to_on` (exclusive; None: still).
    A car without rows has always been its current unit's; a transfer (调剂) writes the rows, and the
    reports count each trip and each cost for the unit that held the car on its day."""

    __tablename__ = "fleet_vehicle_unit"

    id: int | None = Field(default=None, primary_key=True)
    vehicle_id: int = Field(foreign_key="fleet_vehicle.id", index=True)
    unit_id: int = Field(foreign_key="core_unit.id", index=True)
    from_on: date | None = None
    to_on: date | None = None
    created_at: datetime = created_at_field()


class DisposalStep(SQLModel, table=True):
    """One step of a car's disposal (idle_proposed → disposal_pending → disposal_approved → disposed, or
    back to in_service): the day, the paper (申请文号, 批复文号), and for `disposed` the method and income."""

    __tablename__ = "fleet_disposal_step"

    id: int | None = Field(default=None, primary_key=True)
    vehicle_id: int = Field(foreign_key="fleet_vehicle.id", index=True)
    stage: str = Field(max_length=20)
    on_day: date
    document_no: str = Field(default="", max_length=100)
    method: str | None = Field(default=None, max_length=16)
    income_fen: int | None = Field(default=None, sa_type=BigInteger)
    to_unit_id: int | None = Field(default=None, foreign_key="core_unit.id")
    actor: str = Field(default="", max_length=64)
    comment: str = Field(default="", max_length=500)
    created_at: datetime = created_at_field()


class TripExpense(SQLModel, table=True):
    """出行费用单, one per order; money in integer fen."""

    __tablename__ = "fleet_expense"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="fleet_order.id", unique=True)
    tolls_fen: int = Field(default=0, sa_type=BigInteger)
    meal_allowance_fen: int = Field(default=0, sa_type=BigInteger)
    fuel_fen: int = Field(default=0, sa_type=BigInteger)
    other_fen: int = Field(default=0, sa_type=BigInteger)


class Position(SQLModel, table=True):
    """定位点, the hot table: clustered by (device, time) — WITHOUT ROWID on SQLite — with integer epoch
    seconds (UTC), coordinates in 1e-7 degrees and speed in 0.1 km/h, so a vehicle's day reads back as one
    range scan and a row stays under 60 bytes. Written and read in bulk (executemany/COPY into arrays,
    scaled there by hand), never one ORM object per fix."""

    __tablename__ = "fleet_position"
    __table_args__ = {"sqlite_with_rowid": False}

    device_id: str = Field(sa_column=Column(String(32), primary_key=True))
    fix_ts: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    lat: float = Field(sa_column=Column(ScaledInt(COORD_SCALE), nullable=False))
    lon: float = Field(sa_column=Column(ScaledInt(COORD_SCALE), nullable=False))
    speed_kmh: float = Field(default=0.0, sa_column=Column(ScaledInt(SPEED_SCALE), nullable=False))
    course: float | None = Field(default=None, sa_column=Column(ScaledInt(COURSE_SCALE), nullable=True))
    ignition: int | None = Field(default=None, sa_column=Column(SmallInteger, nullable=True))
    odometer_m: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    valid: bool = Field(default=True, nullable=False)
    source: int = Field(default=0, sa_column=Column(SmallInteger, nullable=False))
    attrs: dict[str, Any] | None = json_field()


class PositionArchive(SQLModel, table=True):
    """A China month of positions written to Parquet and removed from fleet_position (`gongwu archive
    positions`); its trips, stops and flags stay. Re-importing the file brings the month back."""

    __tablename__ = "fleet_position_archive"

    month: str = Field(primary_key=True, max_length=7)  # YYYY-MM
    from_ts: int = Field(sa_type=BigInteger)
    to_ts: int = Field(sa_type=BigInteger)  # exclusive
    rows: int = Field(sa_type=BigInteger)
    file: str = Field(max_length=500)
    sha256: str = Field(max_length=64)
    archived_by: str = Field(default="", max_length=64)
    archived_at: datetime = created_at_field()


class RecutRange(SQLModel, table=True):
    """A time range of one device whose fixes changed since its trips were cut."""

    __tablename__ = "fleet_recut_range"

    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(max_length=32, index=True)
    from_ts: int = Field(sa_type=BigInteger)
    to_ts: int = Field(sa_type=BigInteger)
    created_at: datetime = created_at_field()


class Trip(SQLModel, table=True):
    """行程. Stored whole (never clipped by a report window); it belongs to the China day it starts in."""

    __tablename__ = "fleet_trip"
    __table_args__ = (
        UniqueConstraint("device_id", "start_at"),
        Index("ix_fleet_trip_vehicle_start", "vehicle_id", "start_at"),
        Index("ix_fleet_trip_service_day", "service_day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    vehicle_id: int = Field(foreign_key="fleet_vehicle.id")
    device_id: str = Field(max_length=32)
    start_at: datetime = Field(sa_type=UtcDateTime)
    end_at: datetime = Field(sa_type=UtcDateTime)
    service_day: date
    start_lat: float
    start_lon: float
    end_lat: float
    end_lon: float
    distance_m: float
    duration_s: int = Field(sa_type=Integer)
    max_speed_kmh: float
    avg_speed_kmh: float
    order_id: int | None = Field(default=None, foreign_key="fleet_order.id", index=True)
    tags: int = Field(default=0, sa_column_kwargs={"server_default": "0"})  # fleet/compliance.py TAG_BITS


class PlaceKind(Coded):
    """A place's type in the gazetteer (地名库); the sensitive ones are a setting."""

    village = "village", "村/社区", "Village"
    unit = "unit", "单位", "Unit"
    fuel = "fuel", "加油站", "Fuel station"
    repair = "repair", "维修点", "Repair shop"
    hotel = "hotel", "酒店", "Hotel"
    restaurant = "restaurant", "餐饮", "Restaurant"
    scenic = "scenic", "景区", "Scenic area"
    entertainment = "entertainment", "娱乐场所", "Entertainment venue"
    property = "property", "房产", "Property"
    other = "other", "其他", "Other"


PLACE_KINDS = PlaceKind.codes()


class Place(SQLModel, table=True):
    """地名: a named place with the radius a stop counts as at it (a unit's and a property's location
    are places too, without a row here)."""

    __tablename__ = "fleet_place"
    __table_args__ = (UniqueConstraint("name", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    kind: str = Field(max_length=16)
    lat: float
    lon: float
    radius_m: int = 300
    created_at: datetime = created_at_field()


class Stop(SQLModel, table=True):
    """停留, named by the nearest place: at it (`place_inside`, within its radius) or `place_m` metres
    from it towards `place_bearing` (degrees from north, from the place to the stop)."""

    __tablename__ = "fleet_stop"
    __table_args__ = (
        UniqueConstraint("device_id", "start_at"),
        Index("ix_fleet_stop_vehicle_start", "vehicle_id", "start_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    vehicle_id: int = Field(foreign_key="fleet_vehicle.id")
    device_id: str = Field(max_length=32)
    start_at: datetime = Field(sa_type=UtcDateTime)
    end_at: datetime = Field(sa_type=UtcDateTime)
    lat: float
    lon: float
    duration_s: int
    place_name: str | None = Field(default=None, max_length=100)
    place_kind: str | None = Field(default=None, max_length=16)
    place_m: int | None = None
    place_bearing: int | None = None
    place_inside: bool = False


class Flag(SQLModel, table=True):
    """预警. (kind, key) is the natural key — the trip, the order or the spell — so a re-run never duplicates
    a flag. `state` is the machine's (open/resolved), the review fields are the vehicle manager's; a re-run
    touches only the former."""

    __tablename__ = "fleet_flag"
    __table_args__ = (
        UniqueConstraint("kind", "key"),
        Index("ix_fleet_flag_vehicle_start", "vehicle_id", "start_at"),
        Index("ix_fleet_flag_state_kind", "state", "kind"),
        Index("ix_fleet_flag_kind_start", "kind", "start_at"),  # a rule's flags of a day (fleet/reconcile.py)
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=24)
    key: str = Field(max_length=80)
    vehicle_id: int = Field(foreign_key="fleet_vehicle.id")
    unit_id: int = Field(foreign_key="core_unit.id", index=True)
    trip_id: int | None = Field(default=None, foreign_key="fleet_trip.id", index=True)
    order_id: int | None = Field(default=None, foreign_key="fleet_order.id", index=True)
    start_at: datetime = Field(sa_type=UtcDateTime)
    end_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    state: str = Field(default="open", max_length=10)
    detail: dict[str, Any] = json_field({})
    severity: str = Field(default="normal", max_length=8, sa_column_kwargs={"server_default": "normal"})
    raised_at: datetime = created_at_field()
    resolved_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    resolved_reason: str = Field(default="", max_length=200)
    review_status: str | None = Field(default=None, max_length=16)
    review_comment: str = Field(default="", max_length=2000)
    reviewed_by: str | None = Field(default=None, max_length=64)
    reviewed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
