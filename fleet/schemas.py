"""Request/response shapes of the fleet API; the table classes never leak into it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.api import Body


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- the filters of the lists: one declaration for the API's query parameters, the pages and the queries


class _Filter(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class VehicleFilter(_Filter):
    unit_id: int | None = None
    status: str | None = Field(None, description="in_service, idle_proposed, disposal_pending, disposed")
    plate: str | None = Field(None, description="substring of the plate")


class DriverFilter(_Filter):
    unit_id: int | None = None
    active: bool | None = Field(None, description="only drivers in service (true) or not (false)")
    name: str | None = Field(None, description="substring of the name")


class OrderFilter(_Filter):
    vehicle_id: int | None = None
    unit_id: int | None = None
    status: str | None = Field(
        None, description="submitted, approved, dispatched, returned, rejected, cancelled"
    )


class StopFilter(_Filter):
    """Stops (or trips) overlapping [from, to): whole, never clipped."""

    vehicle_id: int | None = None
    start: datetime | None = Field(None, alias="from", description="overlapping [from, to)")
    end: datetime | None = Field(None, alias="to", description="end of the range (exclusive)")


class FlagFilter(_Filter):
    """The flag queue's filter: `status` is the review if reviewed, else the machine's open/resolved."""

    kind: str | None = None
    unit: str | int | None = Field(None, description="unit id or name")
    status: str | None = Field(None, description="open | resolved (unreviewed), violation | explained | ...")
    state: str | None = Field(None, description="the machine's open | resolved, whatever the review")
    review_status: str | None = None
    date_from: date | None = Field(None, alias="from", description="first China day of the start")
    date_to: date | None = Field(None, alias="to", description="last China day of the start")
    vehicle_id: int | None = None
    plate: str | None = Field(None, description="substring of the plate")
    id: int | None = None


TripTag = Literal["rest_day", "off_hours", "out_of_area", "overspeed"]


class TripFilter(StopFilter):
    day: date | None = Field(None, description="China calendar day the trip starts in")
    tag: TripTag | None = Field(None, description="only trips with this tag (the compliance rules)")


class UnitPublic(_Out):
    id: int
    name: str
    kind: str


class VehiclePublic(_Out):
    id: int
    plate: str
    unit_id: int
    model: str
    tracker_id: str | None
    status: str
    acquired_on: date | None
    disposed_on: date | None
    trip_params: dict[str, Any] | None


class AvailableVehicle(BaseModel):
    vehicle: VehiclePublic
    last_fix: datetime | None
    reasons: list[str] = Field(
        description="own_unit | center_pool | in_scope, then tracker_fresh (reported in 24 h) | "
        "tracker_silent | no_tracker: the order they are listed in"
    )


class DriverPublic(_Out):
    id: int
    name: str
    unit_id: int
    phone: str
    licence_class: str
    is_active: bool
    user_id: int | None


class DriverCreate(Body):
    name: str = Field(min_length=1, max_length=50)
    unit_id: int
    phone: str = Field(default="", max_length=30, description="a mobile or a landline with its area code")
    licence_class: str = Field(default="C1", description="准驾车型: A1, A2, A3, B1, B2, C1, C2")


class ApprovalPublic(_Out):
    level: int = Field(description="1: the unit's approver; 2: the center")
    decision: str = Field(description="approved or rejected")
    actor: str
    at: datetime
    comment: str


class OrderPublic(_Out):
    id: int
    order_no: str
    vehicle_id: int | None = Field(description="null: a request that waits for the center to assign a car")
    unit_id: int
    applicant: str
    driver: str
    purpose: str
    destination: str
    planned_start_at: datetime
    planned_end_at: datetime
    status: str
    out_of_county: bool = False
    passengers: int = 1
    requested_by: str = ""
    driver_id: int | None = None
    returned_at: datetime | None = None
    odometer_km: int | None = None
    approvals: list[ApprovalPublic] = Field(default_factory=list, description="the decisions so far")
    awaiting: str | None = Field(
        None, description="unit or center (whose approval it waits for), dispatch (a car and driver), or null"
    )
    late_for_flag_id: int | None = Field(
        None, description="补报: filed in reply to this unreported_trip flag"
    )


class TripPublic(_Out):
    id: int
    vehicle_id: int
    device_id: str
    start_at: datetime
    end_at: datetime
    service_day: date
    start_lat: float
    start_lon: float
    end_lat: float
    end_lon: float
    distance_m: float
    duration_s: int
    max_speed_kmh: float
    avg_speed_kmh: float
    order_id: int | None
    tags: list[str] = Field(
        description="rest_day 节假日, off_hours 非工作时间, out_of_area 出县, overspeed 超速"
    )

    @field_validator("tags", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        from fleet.compliance import tag_names

        return tag_names(value) if isinstance(value, int) else value


class StopPublic(_Out):
    id: int
    vehicle_id: int
    device_id: str
    start_at: datetime
    end_at: datetime
    lat: float
    lon: float
    duration_s: int
    place_name: str | None = Field(default=None, description="the nearest place (地名库, a unit, a property)")
    place_kind: str | None = None
    place_m: int | None = Field(default=None, description="metres from it")
    place_bearing: int | None = Field(
        default=None, description="degrees from north, from the place to the stop"
    )
    place_inside: bool = Field(default=False, description="within the place's radius: the stop is at it")


class FlagPublic(_Out):
    id: int
    kind: str
    vehicle_id: int
    unit_id: int
    trip_id: int | None
    order_id: int | None
    start_at: datetime
    end_at: datetime | None
    state: str
    detail: dict[str, Any]
    raised_at: datetime
    resolved_at: datetime | None
    resolved_reason: str
    review_status: str | None
    review_comment: str
    reviewed_by: str | None
    reviewed_at: datetime | None


class FlagItem(FlagPublic):
    """A flag of the queue with what a manager reads beside it."""

    plate: str
    unit: str
    trip_km: float | None
    order_no: str | None
    status: str = Field(description="the review status if reviewed, else the state (open/resolved)")


class AuditEntry(_Out):
    at: datetime
    actor: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: str


class FlagReplyPublic(_Out):
    """A unit's answer to a flag: its explanation and the late order it filed, if any."""

    id: int
    flag_id: int
    author: str
    at: datetime
    text: str
    order_id: int | None
    order_no: str | None = None
    order_status: str | None = None


class FlagDetail(FlagItem):
    """A flag with its vehicle, trip and order, the vehicle's orders around it, its replies and history."""

    vehicle: VehiclePublic
    trip: TripPublic | None
    order: OrderPublic | None
    nearby_orders: list[OrderPublic] = Field(description="orders of the vehicle within a day of the flag")
    replies: list[FlagReplyPublic] = Field(default_factory=list, description="the unit's answers")
    history: list[AuditEntry]


class LateOrderIn(Body):
    """补报: the trip gives car, unit and times; the unit says why and where."""

    purpose: str = Field(min_length=1, max_length=500)
    destination: str = Field("", max_length=200)


class FlagReplyIn(Body):
    text: str = Field("", max_length=2000, description="情况说明: the unit's explanation")
    late_order: LateOrderIn | None = Field(None, description="补报: a late order for the flag's trip")


class ReviewIn(Body):
    status: str = Field(description="violation | explained | false_alarm, or open to reset the review")
    comment: str = ""


class BulkReviewIn(ReviewIn):
    ids: list[int] = Field(min_length=1, max_length=1000)


class OrderCreate(Body):
    order_no: str = Field("", max_length=40, description="default: GW + the China day + a number")
    vehicle_id: int | None = Field(None, description="one of the unit's cars; none: the center assigns one")
    driver_id: int | None = Field(None, description="the driver wanted; none: the center assigns one")
    unit_id: int | None = Field(default=None, description="default: the vehicle's unit (needed without one)")
    applicant: str = ""
    driver: str = ""
    purpose: str = ""
    destination: str = ""
    planned_start_at: datetime = Field(description="ISO-8601; without an offset it is China time")
    planned_end_at: datetime
    status: str = Field(
        "submitted", description="submitted (a request, to be approved); the center may register approved"
    )
    out_of_county: bool = Field(False, description="出县: leaves the county (needs the center's approval)")
    passengers: int = Field(1, ge=1, le=60)


class OrderDispatch(Body):
    driver_id: int | None = Field(None, description="default: the driver the order names")
    vehicle_id: int | None = Field(None, description="default: the car the order names")


class OrderReturn(Body):
    returned_at: datetime = Field(description="ISO-8601; without an offset it is China time")
    odometer_km: int | None = Field(None, ge=0, le=100_000, description="km the odometer counted")
    tolls_fen: int | None = Field(None, ge=0, description="过路费, in fen")
    fuel_fen: int | None = Field(None, ge=0, description="燃油费, in fen")
    meal_allowance_fen: int | None = Field(None, ge=0, description="伙食补助, in fen")
    other_fen: int | None = Field(None, ge=0, description="其他, in fen")


class OrderDecision(Body):
    comment: str = Field("", max_length=500)


class OrderUpdate(Body):
    vehicle_id: int | None = None
    unit_id: int | None = None
    applicant: str | None = None
    driver: str | None = None
    purpose: str | None = None
    destination: str | None = None
    planned_start_at: datetime | None = None
    planned_end_at: datetime | None = None
    status: str | None = None


class OrderCancel(Body):
    reason: str = ""


class ExpenseIn(Body):
    """Amounts in integer fen (分); an omitted amount is left as it is."""

    tolls_fen: int | None = Field(default=None, ge=0)
    meal_allowance_fen: int | None = Field(default=None, ge=0)
    fuel_fen: int | None = Field(default=None, ge=0)
    other_fen: int | None = Field(default=None, ge=0)


class ExpensePublic(_Out):
    order_id: int
    tolls_fen: int
    meal_allowance_fen: int
    fuel_fen: int
    other_fen: int
    total_yuan: str


class DisposalIn(Body):
    status: str = Field(
        default="idle_proposed", description="idle_proposed | disposal_pending, or in_service to withdraw"
    )
    comment: str = ""


class UnitReportRow(BaseModel):
    unit: str
    vehicles: int
    trips: int
    km: float
    covered_trips: int  # covered by an order filed in time
    late_reported_trips: int  # covered only by a late order (补报, a reply to the trip's flag)
    unreported_trips: int
    reporting_rate: float | None
    idle_vehicles: int
    silent_trackers: int
    untracked_vehicles: int  # cars without a tracker (无终端) for some time of the month
    # the compliance tags (fleet/compliance.py): trips with the tag, and those of them without an order
    rest_day_trips: int = 0
    rest_day_unreported: int = 0
    off_hours_trips: int = 0
    off_hours_unreported: int = 0
    out_of_area_trips: int = 0
    out_of_area_unreported: int = 0
    overspeed_trips: int = 0
    overspeed_unreported: int = 0
    nights_away: int = 0  # away_overnight flags of the unit's cars (夜间未归)
    # how the unreported trips were reviewed; a false alarm is counted here though nowhere else
    reviewed_violation: int = 0
    reviewed_explained: int = 0
    reviewed_false_alarm: int = 0
    not_reviewed: int = 0
    expenses_yuan: str


class UnitReport(BaseModel):
    month: str
    units: list[UnitReportRow]


class HighRiskTrip(BaseModel):
    flag_id: int
    trip_id: int
    plate: str
    start_at: str
    km: float
    tags: list[str]  # of rest_day, off_hours, out_of_area


class HighRiskUnit(BaseModel):
    unit: str
    count: int  # all of the unit's high-risk unreported trips of the month
    trips: list[HighRiskTrip]  # the first 20, oldest first


class Bulletin(UnitReport):
    threshold: float
    # unreported trips on rest days, at night or out of the area, by unit, most first: named first
    high_risk: list[HighRiskUnit] = []


class TrendMonth(BaseModel):
    month: str = Field(description="YYYY-MM")
    trips: int
    km: float
    cost_yuan: str = Field(description="the expenses of the cars' orders planned in the month, yuan")


class UnitTrend(BaseModel):
    unit_id: int
    unit: str
    months: list[TrendMonth]
    trips: int
    km: float
    cost_yuan: str


class VehicleUtilisation(BaseModel):
    vehicle_id: int
    vehicle: str
    unit: str
    working_days: int
    working_days_used: int = Field(description="working days with at least one trip")
    rest_days_used: int = Field(description="rest days (holidays, weekends without 调休) with a trip")
    utilisation: float | None = Field(description="working_days_used / working_days")


class Trends(BaseModel):
    first: str
    last: str
    months: list[str]
    county: list[TrendMonth]
    units: list[UnitTrend]
    working_days: int
    counted_from: str | None = Field(
        description="the first day utilisation counts: the period's, or the first trip gongwu holds, ISO"
    )
    counted_to: str | None = Field(description="the last day utilisation counts (yesterday at most), ISO")
    vehicles: list[VehicleUtilisation]


class ExpenseRow(BaseModel):
    order_no: str
    date: str = Field(description="China day of the planned start, ISO")
    vehicle: str
    driver: str
    destination: str
    track_km: float
    tolls: str
    meal_allowance: str
    fuel: str
    other: str
    total: str


class VehicleCostRow(BaseModel):
    vehicle: str
    unit: str
    orders: int
    trips: int
    km: float
    cost_yuan: str
    cost_per_km_yuan: str | None


class ExpenseSheet(BaseModel):
    year: int
    orders: list[ExpenseRow]
    vehicles: list[VehicleCostRow]


class TrackerCheckIn(Body):
    device_id: str = Field(min_length=1, max_length=32, description="a vehicle's tracker")
    checked_on: date
    result: str = Field(description="normal 正常 | repaired 维修 | replaced 更换")
    checked_by: str = Field("", max_length=50)
    note: str = Field("", max_length=500)


class RuleRow(BaseModel):
    key: str
    value: Any
    default: Any
    meaning: str


class RulesIn(Body):
    values: dict[str, Any] = Field(description='rule key → new value, e.g. {"overspeed_kmh": 100}')


class CalendarDayIn(Body):
    day: date
    rest: bool = Field(description="true: a rest day; false: a working day (调休上班)")
    note: str = Field("", max_length=200)


class CalendarRow(BaseModel):
    day: date
    rest: bool
    source: str = Field(description="state_council | local | weekend (a year the calendar does not know)")


class TrackerAssignmentIn(Body):
    device_id: str = Field(min_length=1, max_length=32, description="the tracker (终端号)")
    plate: str = Field(min_length=1, max_length=16, description="the car it went into (车牌号)")
    installed_at: datetime = Field(description="安装时间; a time without a zone is China time")
    removed_at: datetime | None = Field(None, description="拆除时间; null: still installed")
    note: str = Field("", max_length=200)


class TrackerAssignmentRow(BaseModel):
    device_id: str
    plate: str
    vehicle_id: int
    installed_at: datetime | None = Field(description="null: since the tracker's first fix")
    removed_at: datetime | None = Field(description="null: still installed")
    implicit: bool = Field(description="from the vehicles file's 终端号, giving way to explicit history")
    current: bool
    assignment_id: int | None


class TrackerHistory(BaseModel):
    of: str = Field(description="vehicle, device or all")
    key: str
    data: list[TrackerAssignmentRow]  # as every list of the API (core.api.ListOut)
    count: int


class TrackerAssignmentOut(BaseModel):
    assignment_id: int
    device_id: str
    plate: str
    installed_at: datetime | None
    removed_at: datetime | None
    run_id: int | None
    counts: dict[str, int] = Field(description="trips re-cut and days re-reconciled")


class TrackerCheckPublic(_Out):
    id: int
    device_id: str
    checked_on: date
    result: str
    checked_by: str
    note: str


class TrackerRow(BaseModel):
    plate: str
    unit: str
    device_id: str
    last_fix_at: datetime | None
    last_check_on: date | None
    last_check_result: str | None
    due_on: date | None = Field(description="the next check; null: never checked and no acquisition date")
    state: str = Field(description="overdue | due (within 30 days) | ok")
    silent_since: datetime | None
    installed_on: date | None = Field(description="when the car got this tracker, else its acquisition")
    replaced_on: list[date] = Field(description="tracker swaps (the assignment history) and 更换 checks")


# ------------------------------------------------------------------------------- running costs (issue 25)


class CostRow(BaseModel):
    """A car's, a unit's or the county's running costs of a year, in fen."""

    plate: str | None = None
    unit: str | None = None
    cars: int
    fuel_fen: int
    maintenance_fen: int
    insurance_fen: int
    tolls_fen: int
    meals_fen: int
    other_fen: int
    total_fen: int
    km: float
    trips: int
    per_car_fen: int | None
    per_km_fen: int | None
    per_trip_fen: int | None


class CostYear(BaseModel):
    year: int
    vehicles: list[CostRow]
    units: list[CostRow]
    county: CostRow


class CostChange(BaseModel):
    unit: str | None = None
    cars_from: int
    cars_to: int
    total_fen_from: int
    total_fen_to: int
    total_pct: float | None
    per_car_pct: float | None


class CostChanges(BaseModel):
    county: CostChange
    units: list[CostChange]


class CostReport(CostYear):
    compare: CostYear | None = None
    change: CostChanges | None = None


class DisposalRow(BaseModel):
    plate: str
    unit: str
    stage: str
    stage_label: str
    idle_since: date | None = Field(description="an open idle_vehicle flag's start (长期不出行)")
    idle_proposed_on: date | None
    days_idle_proposed: int | None
    disposal_pending_on: date | None
    application_no: str
    days_disposal_pending: int | None
    disposal_approved_on: date | None
    approval_no: str
    days_disposal_approved: int | None
    disposed_on: date | None
    method: str
    income_yuan: str | None
    to_unit: str
    days_total: int | None


class DisposalStepIn(Body):
    stage: str = Field(
        description="idle_proposed | disposal_pending | disposal_approved | disposed | in_service"
    )
    day: date | None = Field(default=None, description="the step's day, YYYY-MM-DD (default: today)")
    document_no: str = Field(default="", max_length=100, description="申请文号 or 批复文号")
    method: str | None = Field(default=None, description="disposed: auction | scrap | transfer | warehouse")
    income_fen: int | None = Field(default=None, ge=0)
    to_unit: str | None = Field(default=None, description="transfer: the receiving unit's name")
    comment: str = Field(default="", max_length=500)


class VehicleRecords(BaseModel):
    """A car's papers and bills: fill-ups, workshop bills, policies, inspections, other costs."""

    fuel: list[dict[str, Any]]
    maintenance: list[dict[str, Any]]
    insurance: list[dict[str, Any]]
    inspections: list[dict[str, Any]]
    costs: list[dict[str, Any]]
