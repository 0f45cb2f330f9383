"""Fleet API under /api/v1: units, vehicles, orders, trips, stops, flags."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import col, select

from core.api import ListOut, PageDep, SessionDep, paginate
from core.errors import NotFound
from core.models import Unit
from fleet import schemas
from fleet.models import Flag, Stop, Trip, TripOrder, Vehicle

router = APIRouter(tags=["fleet"])


@router.get("/units", response_model=ListOut[schemas.UnitPublic])
def list_units(session: SessionDep, page: PageDep, kind: str | None = None) -> ListOut[schemas.UnitPublic]:
    stmt = select(Unit).order_by(col(Unit.name))
    if kind:
        stmt = stmt.where(Unit.kind == kind)
    rows, count = paginate(session, stmt, page)
    return ListOut(data=[schemas.UnitPublic.model_validate(r) for r in rows], count=count)


@router.get("/vehicles", response_model=ListOut[schemas.VehiclePublic])
def list_vehicles(
    session: SessionDep,
    page: PageDep,
    unit_id: int | None = None,
    status: str | None = None,
    plate: Annotated[str | None, Query(description="substring of the plate")] = None,
) -> ListOut[schemas.VehiclePublic]:
    stmt = select(Vehicle).order_by(col(Vehicle.plate))
    if unit_id is not None:
        stmt = stmt.where(Vehicle.unit_id == unit_id)
    if status:
        stmt = stmt.where(Vehicle.status == status)
    if plate:
        stmt = stmt.where(col(Vehicle.plate).contains(plate))
    rows, count = paginate(session, stmt, page)
    return ListOut(data=[schemas.VehiclePublic.model_validate(r) for r in rows], count=count)


@router.get("/vehicles/{vehicle_id}", response_model=schemas.VehiclePublic)
def get_vehicle(session: SessionDep, vehicle_id: int) -> schemas.VehiclePublic:
    vehicle = session.get(Vehicle, vehicle_id)
    if vehicle is None:
        raise NotFound(f"vehicle {vehicle_id} not found")
    return schemas.VehiclePublic.model_validate(vehicle)


@router.get("/orders", response_model=ListOut[schemas.OrderPublic])
def list_orders(
    session: SessionDep,
    page: PageDep,
    vehicle_id: int | None = None,
    unit_id: int | None = None,
    status: str | None = None,
) -> ListOut[schemas.OrderPublic]:
    stmt = select(TripOrder).order_by(col(TripOrder.planned_start_at).desc())
    if vehicle_id is not None:
        stmt = stmt.where(TripOrder.vehicle_id == vehicle_id)
    if unit_id is not None:
        stmt = stmt.where(TripOrder.unit_id == unit_id)
    if status:
        stmt = stmt.where(TripOrder.status == status)
    rows, count = paginate(session, stmt, page)
    return ListOut(data=[schemas.OrderPublic.model_validate(r) for r in rows], count=count)


@router.get("/orders/{order_id}", response_model=schemas.OrderPublic)
def get_order(session: SessionDep, order_id: int) -> schemas.OrderPublic:
    order = session.get(TripOrder, order_id)
    if order is None:
        raise NotFound(f"order {order_id} not found")
    return schemas.OrderPublic.model_validate(order)


@router.get("/trips", response_model=ListOut[schemas.TripPublic])
def list_trips(
    session: SessionDep,
    page: PageDep,
    vehicle_id: int | None = None,
    day: Annotated[date | None, Query(description="China calendar day the trip starts in")] = None,
) -> ListOut[schemas.TripPublic]:
    stmt = select(Trip).order_by(col(Trip.start_at))
    if vehicle_id is not None:
        stmt = stmt.where(Trip.vehicle_id == vehicle_id)
    if day is not None:
        stmt = stmt.where(Trip.service_day == day)
    rows, count = paginate(session, stmt, page)
    return ListOut(data=[schemas.TripPublic.model_validate(r) for r in rows], count=count)


@router.get("/trips/{trip_id}", response_model=schemas.TripPublic)
def get_trip(session: SessionDep, trip_id: int) -> schemas.TripPublic:
    trip = session.get(Trip, trip_id)
    if trip is None:
        raise NotFound(f"trip {trip_id} not found")
    return schemas.TripPublic.model_validate(trip)


@router.get("/stops", response_model=ListOut[schemas.StopPublic])
def list_stops(
    session: SessionDep, page: PageDep, vehicle_id: int | None = None
) -> ListOut[schemas.StopPublic]:
    stmt = select(Stop).order_by(col(Stop.start_at))
    if vehicle_id is not None:
        stmt = stmt.where(Stop.vehicle_id == vehicle_id)
    rows, count = paginate(session, stmt, page)
    return ListOut(data=[schemas.StopPublic.model_validate(r) for r in rows], count=count)


@router.get("/flags", response_model=ListOut[schemas.FlagPublic])
def list_flags(
    session: SessionDep,
    page: PageDep,
    kind: str | None = None,
    unit_id: int | None = None,
    state: str | None = None,
) -> ListOut[schemas.FlagPublic]:
    stmt = select(Flag).order_by(col(Flag.start_at).desc())
    if kind:
        stmt = stmt.where(Flag.kind == kind)
    if unit_id is not None:
        stmt = stmt.where(Flag.unit_id == unit_id)
    if state:
        stmt = stmt.where(Flag.state == state)
    rows, count = paginate(session, stmt, page)
    return ListOut(data=[schemas.FlagPublic.model_validate(r) for r in rows], count=count)


@router.get("/flags/{flag_id}", response_model=schemas.FlagPublic)
def get_flag(session: SessionDep, flag_id: int) -> schemas.FlagPublic:
    flag = session.get(Flag, flag_id)
    if flag is None:
        raise NotFound(f"flag {flag_id} not found")
    return schemas.FlagPublic.model_validate(flag)
