"""Request/response shapes of the property API. Money is integer fen (`*_fen`); the reports, which speak
yuan, are plain JSON documents (see property.service)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from core.api import Body


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- the filters of the lists: one declaration for the API's query parameters, the pages and the queries


class OfficeFilter(BaseModel):
    unit_id: int | None = None
    stage: str | None = Field(None, description="not_surveyed, surveyed, appraised, ...")
    blocker: str | None = Field(None, description="missing_safety, missing_fire, ...")
    overdue: bool | None = Field(None, description="only those with a step past its target")
    q: str | None = Field(None, description="code or name contains")


class OperatingFilter(BaseModel):
    status: str | None = Field(
        None, description="leased, self_used, idle, offered, not_taken_over (on the day)"
    )
    owner_unit_id: int | None = None
    vacant: bool | None = Field(None, description="not self-used and no lease in force")
    takeover_overdue: bool | None = None
    q: str | None = Field(None, description="code or address contains")


class LeaseFilter(BaseModel):
    property_id: int | None = None
    code: str | None = Field(None, description="operating property code")
    tenant: str | None = Field(None, description="tenant contains")
    active: bool | None = Field(None, description="in force on the date")
    expiring_within: int | None = Field(None, ge=0, description="in force and ending within N days")


class OverdueStep(BaseModel):
    step: str
    due_on: date
    days_overdue: int


class OfficePropertyPublic(_Out):
    id: int
    code: str
    name: str
    unit_id: int | None
    unit: str | None = None
    address: str
    floor_area_m2: Decimal | None
    lat: float | None
    lon: float | None
    surveyed_on: date | None
    survey_doc: str = ""
    safety_appraised_on: date | None
    safety_doc: str = ""
    seismic_tested_on: date | None
    seismic_doc: str = ""
    fire_accepted_on: date | None
    fire_doc: str = ""
    submitted_on: date | None
    submission_doc: str = ""
    certificate_no: str | None
    certified_on: date | None
    stage: str = Field(default="", description="not_surveyed | surveyed | appraised | fire_accepted | ...")
    blockers: list[str] = Field(default_factory=list, description="missing_safety, missing_fire, ...")
    overdue: list[OverdueStep] = Field(default_factory=list)


class StepIn(Body):
    """One checklist step: its date (null clears it) and document reference; for `certificate` the
    certificate number."""

    on: date | None
    doc: str | None = None
    certificate_no: str | None = None


class TargetIn(Body):
    step: str = Field(description="survey | safety | seismic | fire | submission | certificate")
    due_on: date
    code: str | None = Field(default=None, description="an office property; null for the whole programme")
    note: str = ""


class TargetPublic(BaseModel):
    step: str
    code: str | None
    due_on: date
    note: str


class OperatingPropertyPublic(_Out):
    id: int
    code: str
    address: str
    owner_unit_id: int | None
    owner_unit: str | None = None
    area_m2: Decimal | None
    status: str  # as the register says
    status_on_day: str | None = None  # leased when a lease is in force on the day (rules.status_on)
    takeover_due_on: date | None
    taken_over_on: date | None
    vacant: bool | None = None
    takeover_overdue: bool | None = None


class AuctionBatchPublic(_Out):
    id: int
    name: str
    held_on: date | None
    auction_house: str
    legal_basis: str


class AuctionBatchUpdate(Body):
    held_on: date | None = None
    auction_house: str | None = None
    legal_basis: str | None = None


class LeasePublic(_Out):
    id: int
    property_id: int
    code: str | None = None
    tenant: str
    annual_rent_fen: int
    start_on: date
    end_on: date
    deposit_fen: int
    lot_id: int | None
    terminated_on: date | None
    instalments: int = 1


class LeaseCreate(Body):
    code: str = Field(description="operating property code (an office property can never be leased)")
    tenant: str
    annual_rent_fen: int = Field(ge=0)
    start_on: date
    end_on: date = Field(description="last day of the lease")
    deposit_fen: int = Field(default=0, ge=0)
    instalments: int = Field(default=1, description="rent due a year in advance: 1, 2, 4 or 12 instalments")


class LeaseRenew(Body):
    end_on: date = Field(description="last day of the new lease (it starts the day after the old one ends)")
    annual_rent_fen: int | None = Field(default=None, ge=0, description="the old rent when left out")


class PaymentIn(Body):
    paid_on: date
    amount_fen: int = Field(gt=0)
    receipt_no: str = Field(default="", max_length=64)
    note: str = Field(default="", max_length=500)


class PaymentPublic(_Out):
    id: int
    lease_id: int
    paid_on: date
    amount_fen: int
    receipt_no: str
    note: str
    recorded_by: str


class LeaseTerminate(Body):
    on: date = Field(description="last day of the lease")


class AlertPublic(_Out):
    id: int
    kind: str
    key: str
    due_on: date
    message: str
    raised_at: datetime
    resolved_at: datetime | None
