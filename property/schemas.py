"""Request/response shapes of the property API."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class OfficePropertyPublic(_Out):
    id: int
    code: str
    name: str
    unit_id: int | None
    address: str
    floor_area_m2: Decimal | None
    lat: float | None
    lon: float | None
    surveyed_on: date | None
    safety_appraised_on: date | None
    seismic_tested_on: date | None
    fire_accepted_on: date | None
    submitted_on: date | None
    certificate_no: str | None
    certified_on: date | None


class OperatingPropertyPublic(_Out):
    id: int
    code: str
    address: str
    owner_unit_id: int | None
    area_m2: Decimal | None
    status: str
    takeover_due_on: date | None
    taken_over_on: date | None


class AuctionBatchPublic(_Out):
    id: int
    name: str
    held_on: date | None
    auction_house: str
    legal_basis: str


class LeasePublic(_Out):
    id: int
    property_id: int
    tenant: str
    annual_rent_fen: int
    start_on: date
    end_on: date
    deposit_fen: int
    lot_id: int | None
    terminated_on: date | None
