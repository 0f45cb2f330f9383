"""Property API under /api/v1: office properties and their certificate checklist, targets, operating
properties, auctions, leases, alerts, and the reports (`/reports/...`) as the same JSON the CLI prints.
Dates in filters default to today in China. The reports carry no response model, so their exact yuan
amounts (Decimal) become JSON numbers (649800, 1234.56) rather than strings.

Unit scoping (`ScopeDep`): a unit_viewer sees only its unit's office properties (using unit), operating
properties (owning unit) and their leases; another unit's property answers 404 like a missing one. The
county-wide endpoints (targets, auctions, alerts, reports) need `property:county`, which it lacks."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlmodel import col, select

from accounts.access import ScopeDep, UnitScope, actor
from core.api import ListOut, PageDep, SessionDep, listing, paginate
from core.errors import NotFound
from core.i18n import tr
from core.models import Unit
from property import queries as property_queries
from property import rules, schemas
from property import service as property_service
from property.models import AuctionBatch, Lease, OfficeProperty, OperatingProperty, RentPayment

router = APIRouter(tags=["property"])

DateQuery = Annotated[date | None, Query(alias="date", description="as of this day (default: today)")]


def _actor(request: Request) -> str:
    return actor(request)  # the signed-in user's name


def _today(day: date | None) -> date:
    return day or property_service.china_today()


# --- office properties --------------------------------------------------------------------------------


@router.get("/office-properties", response_model=ListOut[schemas.OfficePropertyPublic])
def list_office_properties(
    session: SessionDep,
    page: PageDep,
    f: Annotated[schemas.OfficeFilter, Query()],
    scope: ScopeDep,
    day: DateQuery = None,
) -> ListOut[schemas.OfficePropertyPublic]:
    if not scope.allows(f.unit_id) and f.unit_id is not None:
        return ListOut(data=[], count=0)  # another unit's: nothing, as for a unit with no property
    f.unit_id = scope.unit_id if scope.restricted else f.unit_id
    views = property_queries.office_views(session, _today(day), f)
    rows = views[page.offset : page.offset + page.limit]
    return ListOut(data=[schemas.OfficePropertyPublic.model_validate(v) for v in rows], count=len(views))


@router.get("/office-properties/{code}", response_model=schemas.OfficePropertyPublic)
def get_office_property(
    session: SessionDep, scope: ScopeDep, code: str, day: DateQuery = None
) -> schemas.OfficePropertyPublic:
    _office_in_scope(session, scope, code)
    return _office_out(session, code, _today(day))


def _office_in_scope(session: SessionDep, scope: UnitScope, code: str) -> None:
    if scope.restricted:
        missing = tr(f"办公用房 {code} 不存在", f"office property {code} not found")  # as the service says it
        scope.get(
            session, OfficeProperty, code, OfficeProperty.unit_id, key=OfficeProperty.code, missing=missing
        )


def _operating_in_scope(session: SessionDep, scope: UnitScope, code: str) -> None:
    if scope.restricted:
        missing = tr(f"经营性用房 {code} 不存在", f"operating property {code} not found")
        scope.get(
            session, OperatingProperty, code, OperatingProperty.owner_unit_id, key=OperatingProperty.code,
            missing=missing,
        )  # fmt: skip


def _office_out(session: SessionDep, code: str, today: date) -> schemas.OfficePropertyPublic:
    return schemas.OfficePropertyPublic.model_validate(
        property_queries.office_property_view(session, code, today)
    )


@router.put("/office-properties/{code}/checklist/{step}", response_model=schemas.OfficePropertyPublic)
def record_certificate_step(
    session: SessionDep, request: Request, code: str, step: str, body: schemas.StepIn
) -> schemas.OfficePropertyPublic:
    """Record (or clear, with `on: null`) a checklist step; a certificate without its prerequisites is
    refused (422) with the missing steps named."""
    property_service.record_certificate_step(
        session,
        code,
        step,
        on=body.on,
        doc=body.doc,
        certificate_no=body.certificate_no,
        actor=_actor(request),
    )
    return _office_out(session, code, property_service.china_today())


@router.get("/certificate-targets", response_model=list[schemas.TargetPublic])
def list_targets(session: SessionDep) -> list[schemas.TargetPublic]:
    return [schemas.TargetPublic.model_validate(t) for t in property_queries.list_targets(session)]


@router.put("/certificate-targets", response_model=schemas.TargetPublic)
def set_target(session: SessionDep, request: Request, body: schemas.TargetIn) -> schemas.TargetPublic:
    """Set the target date of a step, for one property (`code`) or the whole programme (no code)."""
    target = property_service.set_target(
        session, step=body.step, due_on=body.due_on, code=body.code, note=body.note, actor=_actor(request)
    )
    return schemas.TargetPublic(step=target.step, code=body.code, due_on=target.due_on, note=target.note)


@router.delete("/certificate-targets/{step}", status_code=204)
def remove_target(session: SessionDep, request: Request, step: str, code: str | None = None) -> Response:
    property_service.remove_target(session, step=step, code=code, actor=_actor(request))
    return Response(status_code=204)


# --- operating properties -----------------------------------------------------------------------------


@router.get("/operating-properties", response_model=ListOut[schemas.OperatingPropertyPublic])
def list_operating_properties(
    session: SessionDep,
    page: PageDep,
    f: Annotated[schemas.OperatingFilter, Query()],
    scope: ScopeDep,
    day: DateQuery = None,
) -> ListOut[schemas.OperatingPropertyPublic]:
    today = _today(day)
    stmt = property_queries.operating_query(today, f)
    stmt = scope.apply(stmt, OperatingProperty.owner_unit_id)
    rows, count = paginate(session, stmt, page)
    return ListOut(data=_operating_out(session, rows, today), count=count)


@router.get("/operating-properties/{code}", response_model=schemas.OperatingPropertyPublic)
def get_operating_property(
    session: SessionDep, scope: ScopeDep, code: str, day: DateQuery = None
) -> schemas.OperatingPropertyPublic:
    _operating_in_scope(session, scope, code)
    prop = property_queries.get_operating_property(session, code)
    return _operating_out(session, [prop], _today(day))[0]


def _operating_out(
    session: SessionDep, rows: list[OperatingProperty], today: date
) -> list[schemas.OperatingPropertyPublic]:
    leased = property_queries.active_lease_property_ids(session, today)
    units = {u.id: u.name for u in session.exec(select(Unit)).all()}
    out = []
    for p in rows:
        item = schemas.OperatingPropertyPublic.model_validate(p)
        item.owner_unit = units.get(p.owner_unit_id) if p.owner_unit_id is not None else None
        item.status_on_day = rules.status_on(p.status, p.id in leased)
        item.vacant = rules.is_vacant(p.status, p.id in leased)
        item.takeover_overdue = rules.takeover_overdue(p.status, p.takeover_due_on, today)
        out.append(item)
    return out


# --- auctions -----------------------------------------------------------------------------------------


@router.get("/auction-batches", response_model=ListOut[schemas.AuctionBatchPublic])
def list_auction_batches(session: SessionDep, page: PageDep) -> ListOut[schemas.AuctionBatchPublic]:
    return listing(
        schemas.AuctionBatchPublic, session, select(AuctionBatch).order_by(col(AuctionBatch.name)), page
    )


@router.get("/auction-batches/{name}", response_model=None)
def get_auction_batch(session: SessionDep, name: str) -> dict[str, Any]:
    """One batch as in the auctions report: counts, annual rent (yuan) and every lot's outcome."""
    return dict(property_queries.auctions_report(session, batch=name)["batches"][0])


@router.put("/auction-batches/{name}", response_model=schemas.AuctionBatchPublic)
def update_auction_batch(
    session: SessionDep, request: Request, name: str, body: schemas.AuctionBatchUpdate
) -> schemas.AuctionBatchPublic:
    """Create a batch or set its date, auction house and legal basis."""
    batch = property_service.update_batch(
        session,
        name,
        actor=_actor(request),
        held_on=body.held_on,
        auction_house=body.auction_house,
        legal_basis=body.legal_basis,
    )
    return schemas.AuctionBatchPublic.model_validate(batch)


# --- leases -------------------------------------------------------------------------------------------


@router.get("/leases", response_model=ListOut[schemas.LeasePublic])
def list_leases(
    session: SessionDep,
    page: PageDep,
    f: Annotated[schemas.LeaseFilter, Query()],
    scope: ScopeDep,
    day: DateQuery = None,
) -> ListOut[schemas.LeasePublic]:
    stmt = property_queries.lease_query(_today(day), f)
    stmt = scope.apply(stmt, Lease.property_id, via=(OperatingProperty.id, OperatingProperty.owner_unit_id))
    rows, count = paginate(session, stmt, page)
    return ListOut(data=_lease_out(session, rows), count=count)


def _lease_out(session: SessionDep, rows: list[Lease]) -> list[schemas.LeasePublic]:
    codes = dict(session.exec(select(OperatingProperty.id, OperatingProperty.code)).all())
    out = []
    for lease in rows:
        item = schemas.LeasePublic.model_validate(lease)
        item.code = codes.get(lease.property_id)
        out.append(item)
    return out


@router.post("/leases", response_model=schemas.LeasePublic, status_code=201)
def create_lease(session: SessionDep, request: Request, body: schemas.LeaseCreate) -> schemas.LeasePublic:
    """A lease of an operating property: an office property is refused (机关事务管理条例 §23), so is a term
    over the cap (GONGWU_LEASE_TERM_CAP_YEARS) or one overlapping another lease (409)."""
    lease = property_service.create_lease(
        session,
        code=body.code,
        tenant=body.tenant,
        annual_rent_fen=body.annual_rent_fen,
        start_on=body.start_on,
        end_on=body.end_on,
        deposit_fen=body.deposit_fen,
        instalments=body.instalments,
        actor=_actor(request),
    )
    return _lease_out(session, [lease])[0]


@router.post("/leases/{lease_id}/renew", response_model=schemas.LeasePublic, status_code=201)
def renew_lease(
    session: SessionDep, request: Request, scope: ScopeDep, lease_id: int, body: schemas.LeaseRenew
) -> schemas.LeasePublic:
    """续租: a new lease of the same tenant from the day after this one ends."""
    _lease_in_scope(session, scope, lease_id)
    lease = property_service.renew_lease(
        session, lease_id, end_on=body.end_on, annual_rent_fen=body.annual_rent_fen, actor=_actor(request)
    )
    return _lease_out(session, [lease])[0]


def _lease_in_scope(session: SessionDep, scope: UnitScope, lease_id: int) -> Lease:
    lease = session.get(Lease, lease_id)
    prop = session.get(OperatingProperty, lease.property_id) if lease else None
    if lease is None or prop is None or not scope.allows(prop.owner_unit_id):
        raise NotFound(tr(f"租赁 {lease_id} 不存在", f"lease {lease_id} not found"))
    return lease


@router.get("/leases/{lease_id}/payments", response_model=ListOut[schemas.PaymentPublic])
def list_payments(session: SessionDep, scope: ScopeDep, lease_id: int) -> ListOut[schemas.PaymentPublic]:
    _lease_in_scope(session, scope, lease_id)
    rows = session.exec(
        select(RentPayment).where(RentPayment.lease_id == lease_id).order_by(col(RentPayment.paid_on))
    ).all()
    return ListOut(data=[schemas.PaymentPublic.model_validate(r) for r in rows], count=len(rows))


@router.post("/leases/{lease_id}/payments", response_model=schemas.PaymentPublic, status_code=201)
def record_payment(
    session: SessionDep, request: Request, scope: ScopeDep, lease_id: int, body: schemas.PaymentIn
) -> schemas.PaymentPublic:
    """收租: a payment of the lease's rent (a receipt number recorded twice is a 409)."""
    _lease_in_scope(session, scope, lease_id)
    payment = property_service.record_payment(
        session, lease_id, paid_on=body.paid_on, amount_fen=body.amount_fen, receipt_no=body.receipt_no,
        note=body.note, actor=_actor(request),
    )  # fmt: skip
    return schemas.PaymentPublic.model_validate(payment)


@router.post("/leases/{lease_id}/terminate", response_model=schemas.LeasePublic)
def terminate_lease(
    session: SessionDep, request: Request, lease_id: int, body: schemas.LeaseTerminate
) -> schemas.LeasePublic:
    lease = property_service.terminate_lease(session, lease_id, on=body.on, actor=_actor(request))
    return _lease_out(session, [lease])[0]


# --- alerts -------------------------------------------------------------------------------------------


@router.get("/property-alerts", response_model=ListOut[schemas.AlertPublic])
def list_alerts(
    session: SessionDep,
    page: PageDep,
    kind: Annotated[
        str | None,
        Query(description="lease_ending_90, lease_ending_30, certificate_overdue, takeover_overdue"),
    ] = None,
    open_only: Annotated[bool, Query(alias="open", description="only unresolved alerts")] = True,
) -> ListOut[schemas.AlertPublic]:
    return listing(
        schemas.AlertPublic, session, property_queries.alert_query(kind=kind, open_only=open_only), page
    )


# --- reports ------------------------------------------------------------------------------------------


@router.get("/reports/certificates", response_model=None)
def report_certificates(session: SessionDep, day: DateQuery = None) -> dict[str, Any]:
    """`{"properties", "surveyed", "certified", "by_stage", "blocked", "overdue"}`."""
    return property_queries.certificates_report(session, _today(day))


@router.get("/reports/auctions", response_model=None)
def report_auctions(session: SessionDep, batch: str | None = None) -> dict[str, Any]:
    """`{"batches": [{"batch", "date", "lots", "sold", "unsold", "withdrawn", "annual_rent_yuan",
    "lots_detail"}]}`."""
    return property_queries.auctions_report(session, batch=batch)


@router.get("/reports/operating", response_model=None)
def report_operating(session: SessionDep, day: DateQuery = None) -> dict[str, Any]:
    """`{"by_status", "overdue_takeovers", "vacant"}`."""
    return property_queries.operating_report(session, _today(day))


@router.get("/reports/leases", response_model=None)
def report_leases(
    session: SessionDep,
    day: DateQuery = None,
    expiring_within: Annotated[
        int | None, Query(ge=0, description="in force and ending within N days")
    ] = None,
) -> dict[str, Any]:
    """`{"leases": [...], "annual_rent_yuan": n}`."""
    return property_queries.leases_report(session, _today(day), expiring_within=expiring_within)


@router.get("/reports/arrears", response_model=None)
def report_arrears(session: SessionDep, scope: ScopeDep, day: DateQuery = None) -> dict[str, Any]:
    """欠租: `{"as_of", "leases": [...], "by_tenant", "by_property", "arrears_yuan"}`, most overdue first."""
    report = property_queries.arrears(session, _today(day))
    if scope.restricted:
        mine = session.get(Unit, scope.unit_id)
        report["leases"] = [r for r in report["leases"] if mine is not None and r["owner"] == mine.name]
    return report


@router.get("/reports/rent-roll", response_model=None)
def report_rent_roll(
    session: SessionDep, year: Annotated[int | None, Query(ge=1900, le=2200)] = None
) -> dict[str, Any]:
    """Rent falling due per owning unit in a calendar year (default: this year)."""
    return property_queries.rent_roll(session, year or property_service.china_today().year)
