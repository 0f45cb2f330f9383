"""Property use-cases: certificate steps and targets, leases, reports and the nightly alerts (the import
kinds are in property/imports.py). The session is passed in first and never committed here: the caller
(request, command, job, import pipeline) owns the transaction. Every change to the register is written
to the audit log."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import and_, case, or_
from sqlmodel import Session, SQLModel, col, select

from core import audit
from core.errors import Conflict, NotFound, ValidationFailed
from core.importing import upsert
from core.models import Unit
from core.settings import get_settings
from core.timeutil import china_day, utcnow
from property import rules
from property.geocode import Geocoder
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
)

T = TypeVar("T", bound=SQLModel)

ALERT_KINDS = ("lease_ending_90", "lease_ending_30", "certificate_overdue", "takeover_overdue")


def china_today() -> date:
    return china_day(utcnow())


def lease_term_cap_years() -> int:
    return get_settings().lease_term_cap_years


# --- small helpers ------------------------------------------------------------------------------------


def _unit_ids(session: Session) -> dict[str, int]:
    return {u.name: u.id for u in session.exec(select(Unit)).all() if u.id is not None}


def _unit_names(session: Session) -> dict[int, str]:
    return {u.id: u.name for u in session.exec(select(Unit)).all() if u.id is not None}


def round_result(r: AuctionRound) -> rules.RoundResult:
    return rules.RoundResult(r.round_no, r.result, r.price_fen, r.tenant, r.lease_start_on, r.lease_end_on)


def lease_conflicts(
    session: Session,
    property_id: int,
    start: date,
    end: date,
    *,
    same: Callable[[Lease], bool],
) -> list[str]:
    """Reasons another lease of the property overlaps [start, end] (leases for which `same` holds are the
    one being written)."""
    out = []
    for other in session.exec(select(Lease).where(Lease.property_id == property_id)).all():
        if same(other):
            continue
        other_end = other.end_on if other.terminated_on is None else min(other.end_on, other.terminated_on)
        if rules.overlaps(start, end, other.start_on, other_end):
            out.append(
                f"与承租人 {other.tenant} 的租赁 {other.start_on} 至 {other_end} 重叠 "
                f"overlaps the lease of {other.tenant} ({other.start_on} – {other_end})"
            )
    return out


def same_lease(start: date, lot_id: int | None) -> Callable[[Lease], bool]:
    """The lease a sold round writes: the one of its lot, or the one with its start date."""
    return lambda lease: lease.start_on == start or (lot_id is not None and lease.lot_id == lot_id)


# --- office properties: checklist, targets --------------------------------------------------------------


def checklist(prop: OfficeProperty | None, values: Mapping[str, Any]) -> rules.Checklist:
    """The checklist as it would be once `values` are written over `prop`."""
    fields = rules.Checklist.__dataclass_fields__
    return rules.Checklist(**{f: values[f] if f in values else getattr(prop, f, None) for f in fields})


def get_office_property(session: Session, code: str) -> OfficeProperty:
    prop = session.exec(select(OfficeProperty).where(OfficeProperty.code == code)).first()
    if prop is None:
        raise NotFound(f"办公用房 {code} 不存在 office property {code} not found")
    return prop


def record_certificate_step(
    session: Session,
    code: str,
    step: str,
    *,
    on: date | None,
    actor: str,
    doc: str | None = None,
    certificate_no: str | None = None,
) -> OfficeProperty:
    """Record (or, with on=None, clear) one checklist step with its document reference. For the step
    `certificate` the reference is the certificate number. Refused when the result would be a certificate
    without its prerequisites."""
    if step not in rules.STEPS:
        raise ValidationFailed(f"未知步骤 {step!r} unknown step: one of {', '.join(rules.STEPS)}")
    prop = get_office_property(session, code)
    values: dict[str, Any] = {rules.STEP_FIELDS[step]: on}
    if step == "certificate":
        number = (certificate_no or doc or "").strip() or None
        values["certificate_no"] = number if on is not None else None
    else:
        values[rules.STEP_DOC_FIELDS[step]] = (doc or "").strip() if on is not None else ""
    problem = rules.check_certificate(checklist(prop, values))
    if problem:
        raise ValidationFailed(f"{code}: {problem}")
    upsert(
        session, None, actor=actor, key=code, audit_id=code, obj=prop, values=values,
        detail=f"checklist step {step}",
    )  # fmt: skip
    session.flush()
    return prop


def set_target(
    session: Session, *, step: str, due_on: date, actor: str, code: str | None = None, note: str = ""
) -> CertificateTarget:
    """A target date for a step: for one property (code) or programme-wide (code None)."""
    if step not in rules.STEPS:
        raise ValidationFailed(f"未知步骤 {step!r} unknown step: one of {', '.join(rules.STEPS)}")
    pid = get_office_property(session, code).id if code else None
    target = _find_target(session, step, pid)
    key = f"{code or '*'}:{step}"
    saved, _ = upsert(
        session, None, actor=actor, key=key, audit_id=key, obj=target,
        values={"due_on": due_on, "note": note}, detail="target",
        model=CertificateTarget, init={"step": step, "property_id": pid},
    )  # fmt: skip
    session.flush()
    return saved


def _find_target(session: Session, step: str, pid: int | None) -> CertificateTarget | None:
    # NULL never equals NULL in a unique constraint, so programme-wide targets are looked up explicitly.
    prop_col = col(CertificateTarget.property_id)
    cond = prop_col.is_(None) if pid is None else prop_col == pid
    return session.exec(select(CertificateTarget).where(CertificateTarget.step == step, cond)).first()


def remove_target(session: Session, *, step: str, actor: str, code: str | None = None) -> None:
    pid = get_office_property(session, code).id if code else None
    target = _find_target(session, step, pid)
    if target is None:
        raise NotFound(f"没有 {code or '全部房产'} 的 {step} 目标日期 no target for step {step}")
    audit.record(
        session, actor=actor, action="certificate_target.delete", entity="property_certificate_target",
        entity_id=f"{code or '*'}:{step}", before={"due_on": target.due_on.isoformat(), "note": target.note},
    )  # fmt: skip
    session.delete(target)
    session.flush()


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
    session: Session,
    today: date,
    *,
    unit_id: int | None = None,
    stage: str | None = None,
    blocker: str | None = None,
    overdue: bool | None = None,
    q: str | None = None,
) -> list[dict[str, Any]]:
    """Office properties with their derived stage, blockers and overdue steps, filtered."""
    stmt = select(OfficeProperty).order_by(col(OfficeProperty.code))
    if unit_id is not None:
        stmt = stmt.where(OfficeProperty.unit_id == unit_id)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(col(OfficeProperty.code).like(like), col(OfficeProperty.name).like(like)))
    units = _unit_names(session)
    programme, own = _targets(session)
    out = []
    for p in session.exec(stmt).all():
        view = office_view(p, units, rules.effective_targets(programme, own.get(p.id or 0, {})), today)
        if stage and view["stage"] != stage:
            continue
        if blocker and blocker not in view["blockers"]:
            continue
        if overdue is not None and bool(view["overdue"]) != overdue:
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


# --- leases -------------------------------------------------------------------------------------------


def get_operating_property(session: Session, code: str) -> OperatingProperty:
    prop = session.exec(select(OperatingProperty).where(OperatingProperty.code == code)).first()
    if prop is None:
        raise NotFound(f"经营性用房 {code} 不存在 operating property {code} not found")
    return prop


def create_lease(
    session: Session,
    *,
    code: str,
    tenant: str,
    annual_rent_fen: int,
    start_on: date,
    end_on: date,
    actor: str,
    deposit_fen: int = 0,
) -> Lease:
    """One lease, checked like an imported one: never an office property, within the term cap, not
    overlapping another lease of the property."""
    if session.exec(select(OfficeProperty.id).where(OfficeProperty.code == code)).first() is not None:
        raise ValidationFailed(f"{code}: {rules.OFFICE_LEASE_REASON}")
    prop = get_operating_property(session, code)
    assert prop.id is not None
    tenant = tenant.strip()
    if not tenant:
        raise ValidationFailed("缺少承租人 missing tenant")
    if annual_rent_fen < 0 or deposit_fen < 0:
        raise ValidationFailed("金额不能为负 amounts cannot be negative")
    problem = rules.check_lease_term(start_on, end_on, lease_term_cap_years())
    if problem:
        raise ValidationFailed(problem)
    conflicts = lease_conflicts(session, prop.id, start_on, end_on, same=lambda _lease: False)
    if conflicts:
        raise Conflict(f"{code}: {conflicts[0]}")
    values: dict[str, Any] = {
        "tenant": tenant,
        "annual_rent_fen": annual_rent_fen,
        "start_on": start_on,
        "end_on": end_on,
        "deposit_fen": deposit_fen,
    }
    lease, _ = upsert(
        session, None, actor=actor, key=f"{code}:{start_on}", audit_id=f"{code}:{start_on}", obj=None,
        values=values, model=Lease, init={"property_id": prop.id}, detail="created",
    )  # fmt: skip
    return lease


def terminate_lease(session: Session, lease_id: int, *, on: date, actor: str) -> Lease:
    lease = session.get(Lease, lease_id)
    if lease is None:
        raise NotFound(f"租赁 {lease_id} 不存在 lease {lease_id} not found")
    if on < lease.start_on:
        raise ValidationFailed(f"终止日期 {on} 早于租期起 {lease.start_on} termination before the start")
    upsert(
        session, None, actor=actor, key=f"{lease_id}", audit_id=f"{lease_id}", obj=lease,
        values={"terminated_on": on}, detail="terminated",
    )  # fmt: skip
    session.flush()
    return lease


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


def operating_query(
    today: date,
    *,
    status: str | None = None,
    owner_unit_id: int | None = None,
    vacant: bool | None = None,
    takeover_overdue: bool | None = None,
    q: str | None = None,
) -> Any:
    """The filtered query of operating properties (SQL, so the API can paginate it)."""
    stmt = select(OperatingProperty).order_by(col(OperatingProperty.code))
    if status:
        stmt = stmt.where(status_on_expr(today) == status)
    if owner_unit_id is not None:
        stmt = stmt.where(OperatingProperty.owner_unit_id == owner_unit_id)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(
            or_(col(OperatingProperty.code).like(like), col(OperatingProperty.address).like(like))
        )
    if vacant is not None:
        leased = select(Lease.property_id).where(_active_lease_filter(today))
        cond = and_(col(OperatingProperty.status) != "self_used", col(OperatingProperty.id).not_in(leased))
        stmt = stmt.where(cond if vacant else ~cond)
    if takeover_overdue is not None:
        cond = and_(
            col(OperatingProperty.status) == "not_taken_over", col(OperatingProperty.takeover_due_on) < today
        )
        stmt = stmt.where(cond if takeover_overdue else ~cond)
    return stmt


def lease_query(
    today: date,
    *,
    code: str | None = None,
    tenant: str | None = None,
    active: bool | None = None,
    expiring_within: int | None = None,
) -> Any:
    stmt = select(Lease).order_by(col(Lease.end_on), col(Lease.id))
    if code:
        stmt = stmt.join(OperatingProperty, col(OperatingProperty.id) == col(Lease.property_id)).where(
            OperatingProperty.code == code
        )
    if tenant:
        stmt = stmt.where(col(Lease.tenant).like(f"%{tenant}%"))
    if active is not None:
        stmt = stmt.where(_active_lease_filter(today) if active else ~_active_lease_filter(today))
    if expiring_within is not None:
        last = today + timedelta(days=expiring_within)
        stmt = stmt.where(_active_lease_filter(today), col(Lease.end_on) <= last)
    return stmt


def update_batch(
    session: Session,
    name: str,
    *,
    actor: str,
    held_on: date | None = None,
    auction_house: str | None = None,
    legal_basis: str | None = None,
) -> AuctionBatch:
    """Create a batch or set its date, auction house and legal basis (fields left None are kept)."""
    batch = session.exec(select(AuctionBatch).where(AuctionBatch.name == name)).first()
    values: dict[str, Any] = {}
    if held_on is not None:
        values["held_on"] = held_on
    if auction_house is not None:
        values["auction_house"] = auction_house
    if legal_basis is not None:
        values["legal_basis"] = legal_basis
    saved, _ = upsert(
        session, None, actor=actor, key=name, audit_id=name, obj=batch, values=values,
        model=AuctionBatch, init={"name": name}, detail="batch",
    )  # fmt: skip
    session.flush()
    return saved


# --- reports ------------------------------------------------------------------------------------------


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
        raise NotFound(f"拍卖批次 {batch} 不存在 auction batch {batch} not found")
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
    rows = [
        {"owner_unit": unit, "leases": len(fens), "rent_yuan": rules.fen_to_yuan(sum(fens))}
        for unit, fens in sorted(per_unit.items())
    ]
    total = sum(sum(fens) for fens in per_unit.values())
    return {"year": year, "units": rows, "rent_yuan": rules.fen_to_yuan(total)}


# --- nightly alerts -----------------------------------------------------------------------------------


def _wanted_alerts(session: Session, today: date) -> dict[tuple[str, str], tuple[date, str]]:
    wanted: dict[tuple[str, str], tuple[date, str]] = {}
    props = {p.id: p for p in session.exec(select(OperatingProperty)).all()}
    for lease in session.exec(select(Lease)).all():
        lead = rules.lease_reminder(lease.end_on, today, lease.terminated_on)
        if lead is not None:
            code = props[lease.property_id].code
            days = (lease.end_on - today).days
            wanted[(f"lease_ending_{lead}", f"{code}:{lease.start_on}")] = (
                lease.end_on,
                f"{code} 承租人 {lease.tenant} 的租赁将于 {lease.end_on} 到期（剩 {days} 天）"
                f" lease of {lease.tenant} ends on {lease.end_on}, in {days} days",
            )
    for p in props.values():
        if rules.takeover_overdue(p.status, p.takeover_due_on, today):
            assert p.takeover_due_on is not None
            wanted[("takeover_overdue", p.code)] = (
                p.takeover_due_on,
                f"{p.code}（{p.address}）应于 {p.takeover_due_on} 接管，至今未接管"
                f" due to be taken over on {p.takeover_due_on}, still not taken over",
            )
    for v in office_views(session, today):
        for o in v["overdue"]:
            label = rules.STEP_LABELS[o["step"]]
            wanted[("certificate_overdue", f"{v['code']}:{o['step']}")] = (
                o["due_on"],
                f"{v['code']} {v['name']}：{label} 目标 {o['due_on']}，已逾期 {o['days_overdue']} 天"
                f" overdue by {o['days_overdue']} days",
            )
    return wanted


def raise_property_alerts(session: Session, today: date) -> dict[str, int]:
    """The nightly property reminders: leases ending within 90 / 30 days, checklist steps past their
    target, takeovers past their due date. One alert per (kind, key), so a re-run raises nothing new;
    alerts that no longer apply are resolved, and one that applies again is reopened. Returns the counts
    of alerts newly raised per kind and of alerts resolved."""
    wanted = _wanted_alerts(session, today)
    counts = dict.fromkeys(ALERT_KINDS, 0)
    counts["resolved"] = 0
    now = utcnow()
    existing = {(a.kind, a.key): a for a in session.exec(select(PropertyAlert)).all()}
    for (kind, key), (due_on, message) in wanted.items():
        alert = existing.get((kind, key))
        if alert is None:
            session.add(PropertyAlert(kind=kind, key=key, due_on=due_on, message=message[:500]))
            counts[kind] += 1
            continue
        if alert.resolved_at is not None:
            alert.resolved_at = None
            alert.raised_at = now
            counts[kind] += 1
        alert.due_on, alert.message = due_on, message[:500]
        session.add(alert)
    for (kind, _key), alert in existing.items():
        if kind in ALERT_KINDS and alert.resolved_at is None and (kind, _key) not in wanted:
            alert.resolved_at = now
            session.add(alert)
            counts["resolved"] += 1
    session.flush()
    return counts


def alert_query(*, kind: str | None = None, open_only: bool = True) -> Any:
    stmt = select(PropertyAlert).order_by(col(PropertyAlert.due_on), col(PropertyAlert.id))
    if kind:
        stmt = stmt.where(PropertyAlert.kind == kind)
    if open_only:
        stmt = stmt.where(col(PropertyAlert.resolved_at).is_(None))
    return stmt


# --- geocoding ----------------------------------------------------------------------------------------


def geocode_office_properties(
    session: Session,
    geocoder: Geocoder,
    *,
    actor: str,
    only_missing: bool = True,
    codes: Iterable[str] | None = None,
) -> dict[str, int]:
    """Fill coordinates from the addresses through `geocoder`; returns counts located / not found /
    skipped (no address)."""
    stmt = select(OfficeProperty).order_by(col(OfficeProperty.code))
    if codes is not None:
        stmt = stmt.where(col(OfficeProperty.code).in_(list(codes)))
    counts = {"located": 0, "not_found": 0, "skipped": 0}
    for p in session.exec(stmt).all():
        if only_missing and p.lat is not None and p.lon is not None:
            continue
        if not p.address:
            counts["skipped"] += 1
            continue
        point = geocoder.geocode(p.address)
        if point is None:
            counts["not_found"] += 1
            continue
        upsert(
            session, None, actor=actor, key=p.code, audit_id=p.code, obj=p,
            values={"lat": point[0], "lon": point[1]}, detail="geocoded",
        )  # fmt: skip
        counts["located"] += 1
    session.flush()
    return counts
