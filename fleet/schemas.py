"""Request/response shapes of the fleet API; the table classes never leak into it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


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


class OrderPublic(_Out):
    id: int
    order_no: str
    vehicle_id: int
    unit_id: int
    applicant: str
    driver: str
    purpose: str
    destination: str
    planned_start_at: datetime
    planned_end_at: datetime
    status: str


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


class StopPublic(_Out):
    id: int
    vehicle_id: int
    device_id: str
    start_at: datetime
    end_at: datetime
    lat: float
    lon: float
    duration_s: int


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
