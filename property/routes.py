"""Property API under /api/v1: office properties, operating properties, auctions, leases."""

from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import col, select

from core.api import ListOut, PageDep, SessionDep, paginate
from core.errors import NotFound
from property import schemas
from property.models import AuctionBatch, Lease, OfficeProperty, OperatingProperty

router = APIRouter(tags=["property"])


@router.get("/office-properties", response_model=ListOut[schemas.OfficePropertyPublic])
def list_office_properties(
    session: SessionDep, page: PageDep, unit_id: int | None = None
) -> ListOut[schemas.OfficePropertyPublic]:
    stmt = select(OfficeProperty).order_by(col(OfficeProperty.code))
    if unit_id is not None:
        stmt = stmt.where(OfficeProperty.unit_id == unit_id)
    rows, count = paginate(session, stmt, page)
    return ListOut(data=[schemas.OfficePropertyPublic.model_validate(r) for r in rows], count=count)


@router.get("/office-properties/{code}", response_model=schemas.OfficePropertyPublic)
def get_office_property(session: SessionDep, code: str) -> schemas.OfficePropertyPublic:
    row = session.exec(select(OfficeProperty).where(OfficeProperty.code == code)).first()
    if row is None:
        raise NotFound(f"office property {code} not found")
    return schemas.OfficePropertyPublic.model_validate(row)


@router.get("/operating-properties", response_model=ListOut[schemas.OperatingPropertyPublic])
def list_operating_properties(
    session: SessionDep, page: PageDep, status: str | None = None, owner_unit_id: int | None = None
) -> ListOut[schemas.OperatingPropertyPublic]:
    stmt = select(OperatingProperty).order_by(col(OperatingProperty.code))
    if status:
        stmt = stmt.where(OperatingProperty.status == status)
    if owner_unit_id is not None:
        stmt = stmt.where(OperatingProperty.owner_unit_id == owner_unit_id)
    rows, count = paginate(session, stmt, page)
    return ListOut(data=[schemas.OperatingPropertyPublic.model_validate(r) for r in rows], count=count)


@router.get("/operating-properties/{code}", response_model=schemas.OperatingPropertyPublic)
def get_operating_property(session: SessionDep, code: str) -> schemas.OperatingPropertyPublic:
    row = session.exec(select(OperatingProperty).where(OperatingProperty.code == code)).first()
    if row is None:
        raise NotFound(f"operating property {code} not found")
    return schemas.OperatingPropertyPublic.model_validate(row)


@router.get("/auction-batches", response_model=ListOut[schemas.AuctionBatchPublic])
def list_auction_batches(session: SessionDep, page: PageDep) -> ListOut[schemas.AuctionBatchPublic]:
    rows, count = paginate(session, select(AuctionBatch).order_by(col(AuctionBatch.name)), page)
    return ListOut(data=[schemas.AuctionBatchPublic.model_validate(r) for r in rows], count=count)


@router.get("/leases", response_model=ListOut[schemas.LeasePublic])
def list_leases(
    session: SessionDep, page: PageDep, property_id: int | None = None
) -> ListOut[schemas.LeasePublic]:
    stmt = select(Lease).order_by(col(Lease.end_on))
    if property_id is not None:
        stmt = stmt.where(Lease.property_id == property_id)
    rows, count = paginate(session, stmt, page)
    return ListOut(data=[schemas.LeasePublic.model_validate(r) for r in rows], count=count)
