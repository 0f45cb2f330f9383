"""Property tables: office properties with their title-certificate checklist, operating properties and
shopfronts, lease auctions (batch → lot → round) and leases. Money in integer fen, areas as Decimal."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.labels import Coded
from core.models import UtcDateTime, created_at_field


class CertificateStep(Coded):
    """The title-certificate checklist, in order (property.rules.STEPS)."""

    survey = "survey", "权属登记测绘", "Ownership survey"
    safety = "safety", "房屋安全鉴定", "Safety appraisal"
    seismic = "seismic", "抗震检测", "Seismic test"
    fire = "fire", "消防验收", "Fire acceptance"
    submission = "submission", "提交审批", "Submission"
    certificate = "certificate", "不动产权证", "Title certificate"


class Stage(Coded):
    """How far an office property's certificate has come (property.rules.stage)."""

    not_surveyed = "not_surveyed", "未测绘", "Not surveyed"
    surveyed = "surveyed", "已测绘", "Surveyed"
    appraised = "appraised", "已鉴定", "Appraised"
    fire_accepted = "fire_accepted", "已消防验收", "Fire-accepted"
    submitted = "submitted", "已提交审批", "Submitted"
    certified = "certified", "已发证", "Certified"


class Blocker(Coded):
    missing_survey = "missing_survey", "缺测绘", "No survey"
    missing_safety = "missing_safety", "缺房屋安全鉴定", "No safety appraisal"
    missing_seismic = "missing_seismic", "缺抗震检测", "No seismic test"
    missing_fire = "missing_fire", "缺消防验收", "No fire acceptance"
    not_submitted = "not_submitted", "未提交审批", "Not submitted"
    waiting_for_bureau = "waiting_for_bureau", "待审批发证", "Waiting for the bureau"


class OperatingStatus(Coded):
    leased = "leased", "出租", "Leased"
    self_used = "self_used", "自用", "Self-used"
    idle = "idle", "闲置", "Idle"
    offered = "offered", "招租", "Offered for lease"
    not_taken_over = "not_taken_over", "未接管", "Not taken over"


class AuctionResult(Coded):
    sold = "sold", "成交", "Sold"
    unsold = "unsold", "流拍", "Unsold"
    withdrawn = "withdrawn", "撤拍", "Withdrawn"


class LeaseState(Coded):
    active = "active", "履行中", "In force"
    upcoming = "upcoming", "未开始", "Not started"


CERTIFICATE_STEPS = CertificateStep.codes()
OPERATING_STATUSES = OperatingStatus.codes()
AUCTION_RESULTS = AuctionResult.codes()


class OfficeProperty(SQLModel, table=True):
    """办公用房 and its 不动产权证 checklist; the stage and blockers are derived from the dates present."""

    __tablename__ = "property_office"
    __audit_object__ = "office_property"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=200)
    unit_id: int | None = Field(default=None, foreign_key="core_unit.id", index=True)
    address: str = Field(default="", max_length=300)
    floor_area_m2: Decimal | None = Field(default=None, sa_type=Numeric(12, 2))
    lat: float | None = None
    lon: float | None = None
    surveyed_on: date | None = None
    survey_doc: str = Field(default="", max_length=200)
    safety_appraised_on: date | None = None
    safety_doc: str = Field(default="", max_length=200)
    seismic_tested_on: date | None = None
    seismic_doc: str = Field(default="", max_length=200)
    fire_accepted_on: date | None = None
    fire_doc: str = Field(default="", max_length=200)
    submitted_on: date | None = None
    submission_doc: str = Field(default="", max_length=200)
    certificate_no: str | None = Field(default=None, max_length=80)
    certified_on: date | None = None
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class CertificateTarget(SQLModel, table=True):
    """A target date for a checklist step: for one property, or programme-wide when property_id is null
    (e.g. "all seismic tests by 2025-02-28")."""

    __tablename__ = "property_certificate_target"
    __table_args__ = (UniqueConstraint("step", "property_id"),)

    id: int | None = Field(default=None, primary_key=True)
    step: str = Field(max_length=16)
    property_id: int | None = Field(default=None, foreign_key="property_office.id")
    due_on: date
    note: str = Field(default="", max_length=200)


class OperatingProperty(SQLModel, table=True):
    """经营性用房 / 门面房."""

    __tablename__ = "property_operating"
    __audit_object__ = "operating_property"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    address: str = Field(default="", max_length=300)
    owner_unit_id: int | None = Field(default=None, foreign_key="core_unit.id", index=True)
    area_m2: Decimal | None = Field(default=None, sa_type=Numeric(12, 2))
    status: str = Field(default="idle", max_length=16)
    takeover_due_on: date | None = None
    taken_over_on: date | None = None
    lat: float | None = None  # WGS-84, from the register or geocoded from the address
    lon: float | None = None
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class GeocodeCache(SQLModel, table=True):
    """An address once asked of a geocoder and its answer (None: not found): never asked twice."""

    __tablename__ = "property_geocode_cache"

    provider: str = Field(primary_key=True, max_length=32)
    query: str = Field(primary_key=True, max_length=400)
    lat: float | None = None
    lon: float | None = None
    asked_at: datetime = created_at_field()


class AuctionBatch(SQLModel, table=True):
    """拍卖 batch of lease rights."""

    __tablename__ = "property_auction_batch"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    held_on: date | None = None
    auction_house: str = Field(default="", max_length=200)
    legal_basis: str = Field(default="", max_length=500)


class AuctionLot(SQLModel, table=True):
    """标的: one operating property in one batch; its outcome is its last round."""

    __tablename__ = "property_auction_lot"
    __table_args__ = (UniqueConstraint("batch_id", "property_id"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="property_auction_batch.id")
    property_id: int = Field(foreign_key="property_operating.id", index=True)


class AuctionRound(SQLModel, table=True):
    """轮次: reserve price and result; a sold round carries the annual price, tenant and term."""

    __tablename__ = "property_auction_round"
    __table_args__ = (UniqueConstraint("lot_id", "round_no"),)

    id: int | None = Field(default=None, primary_key=True)
    lot_id: int = Field(foreign_key="property_auction_lot.id")
    round_no: int
    reserve_fen: int | None = Field(default=None, sa_type=BigInteger)
    increment_fen: int | None = Field(default=None, sa_type=BigInteger)  # 加价幅度, when the file gives it
    result: str = Field(max_length=12)
    price_fen: int | None = Field(default=None, sa_type=BigInteger)
    tenant: str = Field(default="", max_length=200)
    lease_start_on: date | None = None
    lease_end_on: date | None = None


class Lease(SQLModel, table=True):
    """租赁 of an operating property (never of an office property)."""

    __tablename__ = "property_lease"
    __table_args__ = (UniqueConstraint("property_id", "start_on"),)

    id: int | None = Field(default=None, primary_key=True)
    property_id: int = Field(foreign_key="property_operating.id", index=True)
    tenant: str = Field(max_length=200)
    annual_rent_fen: int = Field(sa_type=BigInteger)
    start_on: date
    end_on: date
    deposit_fen: int = Field(default=0, sa_type=BigInteger)
    lot_id: int | None = Field(default=None, foreign_key="property_auction_lot.id")
    terminated_on: date | None = None
    # rent is due in advance: once a year (1), or by instalments (2 half-years, 4 quarters, 12 months)
    instalments: int = Field(default=1)
    # the first day whose rent gongwu collects: a lease entered in gongwu from its start; one imported or
    # won at auction (NULL) from the day it was recorded — what fell due before was settled outside
    rent_from: date | None = None
    created_at: datetime = created_at_field()


class RentPayment(SQLModel, table=True):
    """收租: one payment of a lease's rent, with its receipt number (unique per lease when given)."""

    __tablename__ = "property_rent_payment"

    id: int | None = Field(default=None, primary_key=True)
    lease_id: int = Field(foreign_key="property_lease.id", index=True)
    paid_on: date
    amount_fen: int = Field(sa_type=BigInteger)
    receipt_no: str = Field(default="", max_length=64)
    note: str = Field(default="", max_length=500)
    recorded_by: str = Field(default="", max_length=64)
    created_at: datetime = created_at_field()


class PropertyAlert(SQLModel, table=True):
    """A reminder or overdue item raised by the nightly run (lease ending in 90/30 days, overdue checklist
    step, overdue takeover); (kind, key) makes re-runs idempotent."""

    __tablename__ = "property_alert"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    key: str = Field(max_length=80)
    due_on: date
    message: str = Field(default="", max_length=500)
    raised_at: datetime = created_at_field()
    resolved_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
