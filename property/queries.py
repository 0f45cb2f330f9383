"""Property reads for the pages, the API and the reports: office properties with their certificate stage,
blockers and overdue steps, operating property with its status on a day, leases, auctions, the rent roll
and the reminders. Every list is a query the API can paginate and a unit viewer's scope can restrict."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, or_
from sqlmodel import Session, col, select

from core.errors import NotFound
from core.i18n import tr
from core.models import Unit
from core.timeutil import china_day
from property import rules
from property.models import (
    OPERATING_STATUSES,
    AuctionBatch,
    AuctionLot,
    AuctionRound,
    CertificateTarget,
    Lease,
    OfficeProperty,
    OperatingProperty,
    PropertyAlert,
    RentPayment,
)
from property.schemas import LeaseFilter, OfficeFilter, OperatingFilter


def round_result(r: AuctionRound) -> rules.RoundResult:
    return rules.RoundResult(r.round_no, r.result, r.price_fen, r.tenant, r.lease_start_on, r.lease_end_on)


def _unit_names(session: Session) -> dict[int, str]:
    return {u.id: u.name for u in session.exec(select(Unit)).all() if u.id is not None}


def get_office_property(session: Session, code: str) -> OfficeProperty:
    prop = session.exec(select(OfficeProperty).where(OfficeProperty.code == code)).first()
    if prop is None:
        raise NotFound(tr(f"办公用房 {code} 不存在", f"office property {code} not found"))
    return prop


def list_targets(session: Session) -> list[dict[str, Any]]:
    codes = {p.id: p.code for p in session.exec(select(OfficeProperty)).all()}
    out = []
    for t in session.exec(select(CertificateTarget).order_by(col(CertificateTarget.due_on))).all():
        code = codes.get(t.property_id) if t.property_id is not None else None
        out.append({"step": t.step, "code": code, "due_on": t.due_on, "note": t.note})
    return out


def _targets(session: Session) -> tuple[dict[str, date], dict[int, dict[str, date]]]:
    programme: dict[str, date] = {}
    own: dict[int, dict[str, date]] = defaultdict(dict)
    for t in session.exec(select(CertificateTarget)).all():
        if t.property_id is None:
            programme[t.step] = t.due_on
        else:
            own[t.property_id][t.step] = t.due_on
    return programme, own


def office_views(
    session: Session, today: date, f: OfficeFilter | None = None, **kw: Any
) -> list[dict[str, Any]]:
    """Office properties with their derived stage, blockers and overdue steps, filtered (by `f`, or the
    filter's fields as keywords)."""
    f = f or OfficeFilter(**kw)
    stmt = select(OfficeProperty).order_by(col(OfficeProperty.code))
    if f.unit_id is not None:
        stmt = stmt.where(OfficeProperty.unit_id == f.unit_id)
    if f.q:
        q = f.q  # % and _ match themselves (autoescape), as a clerk typing them means
        stmt = stmt.where(
            or_(
                col(OfficeProperty.code).contains(q, autoescape=True),
                col(OfficeProperty.name).contains(q, autoescape=True),
            )
        )
    units = _unit_names(session)
    programme, own = _targets(session)
    out = []
    for p in session.exec(stmt).all():
        view = office_view(p, units, rules.effective_targets(programme, own.get(p.id or 0, {})), today)
        if f.stage and view["stage"] != f.stage:
            continue
        if f.blocker and f.blocker not in view["blockers"]:
            continue
        if f.overdue is not None and bool(view["overdue"]) != f.overdue:
            continue
        out.append(view)
    return out


def office_property_view(session: Session, code: str, today: date) -> dict[str, Any]:
    prop = get_office_property(session, code)
    programme, own = _targets(session)
    targets = rules.effective_targets(programme, own.get(prop.id or 0, {}))
    return office_view(prop, _unit_names(session), targets, today)


def office_view(
    p: OfficeProperty, units: Mapping[int, str], targets: Mapping[str, date], today: date
) -> dict[str, Any]:
    c = rules.Checklist.of(p)
    view = {k: getattr(p, k) for k in OfficeProperty.model_fields}
    view.update(
        unit=units.get(p.unit_id) if p.unit_id is not None else None,
        stage=rules.stage(c),
        blockers=rules.blockers(c),
        overdue=[
            {"step": o.step, "due_on": o.due_on, "days_overdue": o.days_overdue}
            for o in rules.overdue_steps(c, targets, today)
        ],
    )
    return view


def get_operating_property(session: Session, code: str) -> OperatingProperty:
    prop = session.exec(select(OperatingProperty).where(OperatingProperty.code == code)).first()
    if prop is None:
        raise NotFound(tr(f"经营性用房 {code} 不存在", f"operating property {code} not found"))
    return prop


def _active_lease_filter(on: date) -> Any:
    return and_(
        col(Lease.start_on) <= on,
        col(Lease.end_on) >= on,
        or_(col(Lease.terminated_on).is_(None), col(Lease.terminated_on) >= on),
    )


def active_lease_property_ids(session: Session, on: date) -> set[int]:
    return set(session.exec(select(Lease.property_id).where(_active_lease_filter(on))).all())


def status_on_expr(on: date) -> Any:
    """`rules.status_on` as SQL, for filtering and counting in the database."""
    leased = select(Lease.property_id).where(_active_lease_filter(on))
    return case(
        (col(OperatingProperty.id).in_(leased), "leased"),
        (col(OperatingProperty.status) == "leased", "idle"),
        else_=col(OperatingProperty.status),
    )


def operating_query(today: date, f: OperatingFilter | None = None, **kw: Any) -> Any:
    """The filtered query of operating properties (SQL, so the API can paginate it)."""
    f = f or OperatingFilter(**kw)
    stmt = select(OperatingProperty).order_by(col(OperatingProperty.code))
    if f.status:
        stmt = stmt.where(status_on_expr(today) == f.status)
    if f.owner_unit_id is not None:
        stmt = stmt.where(OperatingProperty.owner_unit_id == f.owner_unit_id)
    if f.q:
        q = f.q
        stmt = stmt.where(
            or_(
                col(OperatingProperty.code).contains(q, autoescape=True),
                col(OperatingProperty.address).contains(q, autoescape=True),
            )
        )
    if f.vacant is not None:
        leased = select(Lease.property_id).where(_active_lease_filter(today))
        cond = and_(col(OperatingProperty.status) != "self_used", col(OperatingProperty.id).not_in(leased))
        stmt = stmt.where(cond if f.vacant else ~cond)
    if f.takeover_overdue is not None:
        cond = and_(
            col(OperatingProperty.status) == "not_taken_over", col(OperatingProperty.takeover_due_on) < today
        )
        stmt = stmt.where(cond if f.takeover_overdue else ~cond)
    return stmt


def lease_query(today: date, f: LeaseFilter | None = None, **kw: Any) -> Any:
    f = f or LeaseFilter(**kw)
    stmt = select(Lease).order_by(col(Lease.end_on), col(Lease.id))
    if f.property_id is not None:
        stmt = stmt.where(Lease.property_id == f.property_id)
    if f.code:
        stmt = stmt.join(OperatingProperty, col(OperatingProperty.id) == col(Lease.property_id)).where(
            OperatingProperty.code == f.code
        )
    if f.tenant:
        stmt = stmt.where(col(Lease.tenant).contains(f.tenant, autoescape=True))
    if f.active is not None:
        stmt = stmt.where(_active_lease_filter(today) if f.active else ~_active_lease_filter(today))
    if f.expiring_within is not None:
        last = today + timedelta(days=f.expiring_within)
        stmt = stmt.where(_active_lease_filter(today), col(Lease.end_on) <= last)
    return stmt


def certificates_report(session: Session, today: date) -> dict[str, Any]:
    """`{"properties", "surveyed", "certified", "by_stage", "blocked", "overdue"}` (issue 6)."""
    views = office_views(session, today)
    by_stage = dict.fromkeys(rules.STAGES, 0)
    for v in views:
        by_stage[v["stage"]] += 1
    return {
        "properties": len(views),
        "surveyed": sum(1 for v in views if v["surveyed_on"] is not None),
        "certified": by_stage["certified"],
        "by_stage": by_stage,
        "blocked": [
            {k: v[k] for k in ("code", "name", "unit", "stage", "blockers")} for v in views if v["blockers"]
        ],
        "overdue": [
            {"code": v["code"], "name": v["name"], "unit": v["unit"], **o}
            for v in views
            for o in v["overdue"]
        ],
    }


def auction_batches(session: Session, batch: str | None = None) -> list[AuctionBatch]:
    stmt = select(AuctionBatch).order_by(col(AuctionBatch.held_on), col(AuctionBatch.name))
    if batch is not None:
        stmt = stmt.where(AuctionBatch.name == batch)
    batches = list(session.exec(stmt).all())
    if batch is not None and not batches:
        raise NotFound(tr(f"拍卖批次 {batch} 不存在", f"auction batch {batch} not found"))
    return batches


def auctions_report(session: Session, batch: str | None = None) -> dict[str, Any]:
    """`{"batches": [{"batch", "date", "lots", "sold", "unsold", "withdrawn", "annual_rent_yuan",
    "lots_detail"}]}` (issue 6); each lot counts once, by its last round."""
    props = {p.id: p for p in session.exec(select(OperatingProperty)).all()}
    out = []
    for b in auction_batches(session, batch):
        lots = session.exec(select(AuctionLot).where(AuctionLot.batch_id == b.id)).all()
        rounds: dict[int, list[AuctionRound]] = defaultdict(list)
        lot_ids = [lot.id for lot in lots]
        for rnd in session.exec(select(AuctionRound).where(col(AuctionRound.lot_id).in_(lot_ids))).all():
            rounds[rnd.lot_id].append(rnd)
        detail, outcomes = [], []
        for lot in sorted(lots, key=lambda x: props[x.property_id].code):
            lot_rounds = sorted(rounds.get(lot.id or 0, []), key=lambda x: x.round_no)
            outcome = rules.lot_outcome(round_result(x) for x in lot_rounds)
            outcomes.append(outcome)
            last = lot_rounds[-1] if lot_rounds else None
            prop = props[lot.property_id]
            detail.append(
                {
                    "lot": prop.code,
                    "address": prop.address,
                    "rounds": len(lot_rounds),
                    "result": outcome.result if outcome else None,
                    "reserve_yuan": _yuan(last.reserve_fen) if last else None,
                    "price_yuan": _yuan(outcome.price_fen) if outcome else None,
                    "tenant": outcome.tenant or None if outcome else None,
                    "lease_start": outcome.lease_start if outcome else None,
                    "lease_end": outcome.lease_end if outcome else None,
                }
            )
        summary = rules.batch_summary(outcomes)
        out.append(
            {
                "batch": b.name,
                "date": b.held_on,
                "lots": summary.lots,
                "sold": summary.sold,
                "unsold": summary.unsold,
                "withdrawn": summary.withdrawn,
                "annual_rent_yuan": rules.fen_to_yuan(summary.annual_rent_fen),
                "lots_detail": detail,
            }
        )
    return {"batches": out}


def _yuan(fen: int | None) -> Decimal | None:
    return None if fen is None else rules.fen_to_yuan(fen)


def operating_report(session: Session, today: date) -> dict[str, Any]:
    """`{"by_status", "overdue_takeovers": [{"code", "address", "owner_unit", "due_on"}], "vacant"}`; a
    status is the one on `today` (`rules.status_on`: a lease in force makes it leased)."""
    units = _unit_names(session)
    props = session.exec(select(OperatingProperty).order_by(col(OperatingProperty.code))).all()
    leased = active_lease_property_ids(session, today)
    by_status = dict.fromkeys(OPERATING_STATUSES, 0)
    overdue, vacant = [], []
    for p in props:
        now = rules.status_on(p.status, p.id in leased)
        by_status[now] = by_status.get(now, 0) + 1
        owner = units.get(p.owner_unit_id) if p.owner_unit_id is not None else None
        if rules.takeover_overdue(p.status, p.takeover_due_on, today):
            overdue.append(
                {"code": p.code, "address": p.address, "owner_unit": owner, "due_on": p.takeover_due_on}
            )
        if rules.is_vacant(p.status, p.id in leased):
            vacant.append(
                {
                    "code": p.code,
                    "address": p.address,
                    "owner_unit": owner,
                    "status": rules.status_on(p.status, p.id in leased),
                    "registered_status": p.status,
                    "area_m2": p.area_m2,
                }
            )
    return {"by_status": by_status, "overdue_takeovers": overdue, "vacant": vacant}


def leases_report(session: Session, today: date, expiring_within: int | None = None) -> dict[str, Any]:
    """`{"leases": [...], "annual_rent_yuan": n}`: leases in force or still to start on `today` (with
    `expiring_within`, only those in force that end within that many days), and their annual rent."""
    units = _unit_names(session)
    props = {p.id: p for p in session.exec(select(OperatingProperty)).all()}
    stmt = select(Lease).order_by(col(Lease.end_on), col(Lease.id))
    rows = []
    total = 0
    for lease in session.exec(stmt).all():
        active = rules.lease_active(lease.start_on, lease.end_on, lease.terminated_on, today)
        upcoming = lease.start_on > today and lease.terminated_on is None
        days_left = (lease.end_on - today).days
        if expiring_within is not None:
            if not active or days_left > expiring_within:
                continue
        elif not (active or upcoming):
            continue
        prop = props[lease.property_id]
        total += lease.annual_rent_fen
        rows.append(
            {
                "code": prop.code,
                "address": prop.address,
                "owner_unit": units.get(prop.owner_unit_id) if prop.owner_unit_id is not None else None,
                "tenant": lease.tenant,
                "annual_rent_yuan": rules.fen_to_yuan(lease.annual_rent_fen),
                "deposit_yuan": rules.fen_to_yuan(lease.deposit_fen),
                "lease_start": lease.start_on,
                "lease_end": lease.end_on,
                "days_left": days_left,
                "state": "active" if active else "upcoming",
                "from_auction": lease.lot_id is not None,
            }
        )
    return {"leases": rows, "annual_rent_yuan": rules.fen_to_yuan(total)}


def rent_roll(session: Session, year: int) -> dict[str, Any]:
    """Rent falling due in a calendar year per owning unit: each lease's annual rent pro rata by its days
    in that year (to the fen), up to an early termination."""
    units = _unit_names(session)
    props = {p.id: p for p in session.exec(select(OperatingProperty)).all()}
    per_unit: dict[str, list[int]] = defaultdict(list)
    for lease in session.exec(select(Lease)).all():
        end = lease.end_on if lease.terminated_on is None else min(lease.end_on, lease.terminated_on)
        fen = rules.rent_in_year(lease.annual_rent_fen, lease.start_on, end, year)
        if fen or (lease.start_on.year <= year <= end.year):
            owner_id = props[lease.property_id].owner_unit_id
            per_unit[units.get(owner_id, "—") if owner_id is not None else "—"].append(fen)
    received: dict[str, int] = defaultdict(int)  # payments made in the year, by the owner of the property
    leases = {lease.id: lease for lease in session.exec(select(Lease)).all()}
    for lease_id, amount in session.exec(
        select(RentPayment.lease_id, RentPayment.amount_fen).where(
            col(RentPayment.paid_on) >= date(year, 1, 1), col(RentPayment.paid_on) <= date(year, 12, 31)
        )
    ).all():
        owner_id = props[leases[lease_id].property_id].owner_unit_id
        received[units.get(owner_id, "—") if owner_id is not None else "—"] += int(amount)
    rows = [
        {
            "owner_unit": unit, "leases": len(fens), "rent_yuan": rules.fen_to_yuan(sum(fens)),
            "received_yuan": rules.fen_to_yuan(received.get(unit, 0)),
        }
        for unit, fens in sorted(per_unit.items())
    ]  # fmt: skip
    total = sum(sum(fens) for fens in per_unit.values())
    return {
        "year": year, "units": rows, "rent_yuan": rules.fen_to_yuan(total),
        "received_yuan": rules.fen_to_yuan(sum(received.values())),
    }  # fmt: skip


def _lease_end(lease: Lease) -> date:
    return lease.end_on if lease.terminated_on is None else min(lease.end_on, lease.terminated_on)


def paid_by_lease(session: Session, lease_ids: Iterable[int] | None = None) -> dict[int, int]:
    stmt = select(RentPayment.lease_id, func.sum(RentPayment.amount_fen)).group_by(col(RentPayment.lease_id))
    if lease_ids is not None:
        stmt = stmt.where(col(RentPayment.lease_id).in_(list(lease_ids)))
    return {int(k): int(v or 0) for k, v in session.exec(stmt).all()}


def rent_rows(session: Session, on: date, *, lease_ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """Every lease that has started by `on`, with its rent: due by then, paid, arrears (欠租), since when
    overdue. Most overdue first."""
    units = _unit_names(session)
    props = {p.id: p for p in session.exec(select(OperatingProperty)).all()}
    stmt = select(Lease).where(col(Lease.start_on) <= on)
    if lease_ids is not None:
        stmt = stmt.where(col(Lease.id).in_(list(lease_ids)))
    leases = list(session.exec(stmt).all())
    paid = paid_by_lease(session, [lease.id for lease in leases if lease.id is not None])
    rows = []
    for lease in leases:
        schedule = rules.rent_schedule(
            lease.annual_rent_fen, lease.start_on, _lease_end(lease), lease.instalments
        )
        tracked = lease.rent_from or china_day(lease.created_at)
        status = rules.rent_status(schedule, paid.get(lease.id or 0, 0), on, tracked)
        prop = props[lease.property_id]
        rows.append({
            "lease": lease, "lease_id": lease.id, "code": prop.code, "address": prop.address,
            "owner": units.get(prop.owner_unit_id) if prop.owner_unit_id is not None else None,
            "tenant": lease.tenant, "instalments": lease.instalments,
            "due_yuan": rules.fen_to_yuan(status.due_fen), "paid_yuan": rules.fen_to_yuan(status.paid_fen),
            "arrears_yuan": rules.fen_to_yuan(status.arrears_fen), "arrears_fen": status.arrears_fen,
            "overdue_since": status.overdue_since, "days_overdue": status.days_overdue,
        })  # fmt: skip
    rows.sort(key=lambda r: (-r["days_overdue"], -r["arrears_fen"], r["code"]))  # type: ignore[operator]
    return rows


def arrears(session: Session, on: date) -> dict[str, Any]:
    """欠租 on a day: the leases in arrears (most overdue first), and the totals by tenant and by property."""
    owing = [r for r in rent_rows(session, on) if r["arrears_fen"] > 0]
    by_tenant: dict[str, list[int]] = defaultdict(list)
    by_property: dict[str, list[int]] = defaultdict(list)
    for r in owing:
        by_tenant[r["tenant"]].append(r["arrears_fen"])
        by_property[r["code"]].append(r["arrears_fen"])

    def totals(groups: dict[str, list[int]], key: str) -> list[dict[str, Any]]:
        out = [
            {key: k, "leases": len(v), "arrears_yuan": rules.fen_to_yuan(sum(v))} for k, v in groups.items()
        ]
        return sorted(out, key=lambda x: (-x["arrears_yuan"], x[key]))

    return {
        "as_of": on.isoformat(),
        "leases": [{k: v for k, v in r.items() if k not in ("lease", "arrears_fen")} for r in owing],
        "by_tenant": totals(by_tenant, "tenant"),
        "by_property": totals(by_property, "code"),
        "arrears_yuan": rules.fen_to_yuan(sum(r["arrears_fen"] for r in owing)),
    }


def alert_query(*, kind: str | None = None, open_only: bool = True) -> Any:
    stmt = select(PropertyAlert).order_by(col(PropertyAlert.due_on), col(PropertyAlert.id))
    if kind:
        stmt = stmt.where(PropertyAlert.kind == kind)
    if open_only:
        stmt = stmt.where(col(PropertyAlert.resolved_at).is_(None))
    return stmt


def places(session: Session) -> list[tuple[str, str, float, float, int]]:
    """Office properties and shopfronts with a location, as places a stop may be named by."""
    out: list[tuple[str, str, float, float, int]] = []
    for p in session.exec(select(OfficeProperty).order_by(col(OfficeProperty.code))).all():
        if p.lat is not None and p.lon is not None:
            out.append((p.name or p.code, "property", p.lat, p.lon, 100))
    for o in session.exec(select(OperatingProperty).order_by(col(OperatingProperty.code))).all():
        if o.lat is not None and o.lon is not None:
            out.append((o.address or o.code, "property", o.lat, o.lon, 50))
    return out
