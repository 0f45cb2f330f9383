"""Feeds API under /api/v1: the feeds status and a device's stored positions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlmodel import select

from accounts.access import ScopeDep
from core.api import ListOut, PageDep, SessionDep
from core.errors import NotFound, ValidationFailed
from core.i18n import tr
from core.timeutil import as_utc
from fleet.models import Vehicle
from ingest.queries import feeds_status, list_positions, resolve_device

router = APIRouter(tags=["feeds"])


class FeedDevicePublic(BaseModel):
    device_id: str
    plate: str | None
    source: str
    last_fix_at: datetime | None
    last_contact_at: datetime | None
    accepted: int
    rejected: dict[str, int]


class FeedsStatusPublic(BaseModel):
    devices: list[FeedDevicePublic]


class PositionPublic(BaseModel):
    fixed_at: datetime
    lat: float
    lon: float
    speed_kmh: float
    course: float | None
    ignition: bool | None
    valid: bool
    odometer_m: int | None
    source: str


@router.get("/feeds/status", response_model=FeedsStatusPublic)
def get_feeds_status(session: SessionDep) -> FeedsStatusPublic:
    """Per source and device: last fix, last contact (China time), positions accepted and rejected by
    reason."""
    return FeedsStatusPublic.model_validate(feeds_status(session))


@router.get("/positions", response_model=ListOut[PositionPublic])
def get_positions(
    session: SessionDep,
    scope: ScopeDep,
    page: PageDep,
    device: Annotated[str | None, Query(description="tracker id")] = None,
    vehicle_id: int | None = None,
    plate: Annotated[str | None, Query(description="plate, e.g. 晋M·A1234")] = None,
    from_: Annotated[
        datetime | None, Query(alias="from", description="ISO-8601; without a zone, China time")
    ] = None,
    to: Annotated[datetime | None, Query(description="ISO-8601; without a zone, China time")] = None,
) -> ListOut[PositionPublic]:
    """A device's stored fixes, oldest first; give one of device, vehicle_id or plate."""
    if sum(x is not None for x in (device, vehicle_id, plate)) != 1:
        raise ValidationFailed("give exactly one of device, vehicle_id or plate")
    if vehicle_id is not None:
        vehicle = scope.get(
            session, Vehicle, vehicle_id, Vehicle.unit_id, missing=f"vehicle {vehicle_id} not found"
        )
        if not vehicle.tracker_id:
            raise ValidationFailed(
                tr(f"车辆 {vehicle.plate} 没有登记终端号", f"vehicle {vehicle.plate} has no tracker recorded")
            )
        device = vehicle.tracker_id
    else:
        key = plate or device or ""
        device = resolve_device(session, key)[0]
        if scope.restricted:  # a unit viewer sees its own vehicles' trackers only, and learns nothing else
            owner = session.exec(select(Vehicle).where(Vehicle.tracker_id == device)).first()
            if owner is None or not scope.allows(owner.unit_id):
                raise NotFound(
                    f"no vehicle with plate or tracker id '{key}' and no positions of a device '{key}'"
                )
    start = as_utc(from_) if from_ else None
    end = as_utc(to) if to else None
    rows, total = list_positions(session, device, start, end, limit=page.limit, offset=page.offset)
    return ListOut(data=[PositionPublic(**r) for r in rows], count=total)
