"""Property use-cases: certificate steps and targets, leases, reports and the nightly alerts (the import
kinds are in property/imports.py). The session is passed in first and never committed here: the caller
(request, command, job, import pipeline) owns the transaction. Every change to the register is written
to the audit log."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta
from typing import Any, TypeVar

from sqlmodel import Session, SQLModel, col, select

from core import audit
from core.errors import Conflict, NotFound, ValidationFailed
from core.i18n import tr
from core.importing import upsert
from core.models import Unit
from core.settings import get_settings
from core.timeutil import china_day, utcnow
from property import queries, rules
from property.geocode import Geocoder
from property.models import (
    AuctionBatch,
    CertificateTarget,
    GeocodeCache,
    Lease,
    OfficeProperty,
    OperatingProperty,
    PropertyAlert,
    RentPayment,
)

T = TypeVar("T", bound=SQLModel)

ALERT_KINDS = (
    "lease_ending_90",
    "lease_ending_30",
    "certificate_overdue",
    "takeover_overdue",
    "rent_overdue",
)


def china_today() -> date:
    return china_day(utcnow())


def lease_term_cap_years() -> int:
    return get_settings().lease_term_cap_years


# --- small helpers ------------------------------------------------------------------------------------


def _unit_ids(session: Session) -> dict[str, int]:
    return {u.name: u.id for u in session.exec(select(Unit)).all() if u.id is not None}


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
                tr(
                    f"与承租人 {other.tenant} 的租赁 {other.start_on} 至 {other_end} 重叠",
                    f"overlaps the lease of {other.tenant} ({other.start_on} – {other_end})",
                )
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


def record_certificate_step(
    session: Session,
    code: str,
    step: str,
    *,
    on: date | None,
    actor: str,
    doc: str | None = None,
    certificate_no: str | None = None,
    note: str = "",
) -> OfficeProperty:
    """Record (or, with on=None, clear) one checklist step with its document reference. For the step
    `certificate` the reference is the certificate number. Refused when the result would be a certificate
    without its prerequisites."""
    if step not in rules.STEPS:
        raise ValidationFailed(
            tr(
                f"未知步骤 {step!r}, 可选 {', '.join(rules.STEPS)}",
                f"unknown step {step!r}: one of {', '.join(rules.STEPS)}",
            )
        )
    prop = queries.get_office_property(session, code)
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
        detail=f"checklist step {step}" + (f": {note.strip()[:400]}" if note.strip() else ""),
    )  # fmt: skip
    session.flush()
    return prop


def set_target(
    session: Session, *, step: str, due_on: date, actor: str, code: str | None = None, note: str = ""
) -> CertificateTarget:
    """A target date for a step: for one property (code) or programme-wide (code None)."""
    if step not in rules.STEPS:
        raise ValidationFailed(
            tr(
                f"未知步骤 {step!r}, 可选 {', '.join(rules.STEPS)}",
                f"unknown step {step!r}: one of {', '.join(rules.STEPS)}",
            )
        )
    pid = queries.get_office_property(session, code).id if code else None
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
    pid = queries.get_office_property(session, code).id if code else None
    target = _find_target(session, step, pid)
    if target is None:
        raise NotFound(
            tr(
                f"没有 {code or '全部房产'} 的 {step} 目标日期",
                f"no target for step {step} of {code or 'all property'}",
            )
        )
    audit.record(
        session, actor=actor, action="certificate_target.delete", entity="property_certificate_target",
        entity_id=f"{code or '*'}:{step}", before={"due_on": target.due_on.isoformat(), "note": target.note},
    )  # fmt: skip
    session.delete(target)
    session.flush()


# --- leases -------------------------------------------------------------------------------------------


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
    instalments: int = 1,
) -> Lease:
    """One lease, checked like an imported one: never an office property, within the term cap, not
    overlapping another lease of the property; its rent due once a year or by `instalments`."""
    if instalments not in rules.INSTALMENTS:
        raise ValidationFailed(
            tr(f"每年缴租次数须为 {'、'.join(map(str, rules.INSTALMENTS))} 之一",
               f"instalments a year must be one of {', '.join(map(str, rules.INSTALMENTS))}")
        )  # fmt: skip
    if session.exec(select(OfficeProperty.id).where(OfficeProperty.code == code)).first() is not None:
        raise ValidationFailed(f"{code}: {rules.office_lease_reason()}")
    prop = queries.get_operating_property(session, code)
    assert prop.id is not None
    tenant = tenant.strip()
    if not tenant:
        raise ValidationFailed(tr("缺少承租人", "missing tenant"))
    if annual_rent_fen < 0 or deposit_fen < 0:
        raise ValidationFailed(tr("金额不能为负", "amounts cannot be negative"))
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
        "instalments": instalments,
        "rent_from": start_on,  # entered here: every instalment is collected here
    }
    lease, _ = upsert(
        session, None, actor=actor, key=f"{code}:{start_on}", audit_id=f"{code}:{start_on}", obj=None,
        values=values, model=Lease, init={"property_id": prop.id}, detail="created",
    )  # fmt: skip
    return lease


def terminate_lease(session: Session, lease_id: int, *, on: date, actor: str) -> Lease:
    lease = session.get(Lease, lease_id)
    if lease is None:
        raise NotFound(tr(f"租赁 {lease_id} 不存在", f"lease {lease_id} not found"))
    if on < lease.start_on:
        raise ValidationFailed(
            tr(
                f"终止日期 {on} 早于租期起 {lease.start_on}",
                f"termination {on} before the start {lease.start_on}",
            )
        )
    upsert(
        session, None, actor=actor, key=f"{lease_id}", audit_id=f"{lease_id}", obj=lease,
        values={"terminated_on": on}, detail="terminated",
    )  # fmt: skip
    session.flush()
    return lease


def renew_lease(
    session: Session, lease_id: int, *, end_on: date, actor: str, annual_rent_fen: int | None = None
) -> Lease:
    """续租: a new lease of the same property and tenant from the day after this one ends, at the same
    rent unless another is given, checked like any lease."""
    old = session.get(Lease, lease_id)
    if old is None:
        raise NotFound(tr(f"租赁 {lease_id} 不存在", f"lease {lease_id} not found"))
    if old.terminated_on is not None:
        raise ValidationFailed(tr("已终止的租赁不能续租", "a terminated lease cannot be renewed"))
    prop = session.get(OperatingProperty, old.property_id)
    assert prop is not None
    return create_lease(
        session, code=prop.code, tenant=old.tenant,
        annual_rent_fen=old.annual_rent_fen if annual_rent_fen is None else annual_rent_fen,
        start_on=old.end_on + timedelta(days=1), end_on=end_on, actor=actor, deposit_fen=old.deposit_fen,
        instalments=old.instalments,
    )  # fmt: skip


def record_payment(
    session: Session,
    lease_id: int,
    *,
    paid_on: date,
    amount_fen: int,
    actor: str,
    receipt_no: str = "",
    note: str = "",
) -> RentPayment:
    """收租: one payment of a lease's rent. Refused: no amount, a day in the future or before the lease,
    a receipt number already recorded for the lease."""
    lease = session.get(Lease, lease_id)
    if lease is None:
        raise NotFound(tr(f"租赁 {lease_id} 不存在", f"lease {lease_id} not found"))
    if amount_fen <= 0:
        raise ValidationFailed(tr("收款金额须大于 0", "the amount must be more than 0"))
    if paid_on > china_today():
        raise ValidationFailed(
            tr(f"收款日期 {paid_on} 在今天之后", f"the payment date {paid_on} is after today")
        )
    receipt_no, note = receipt_no.strip(), note.strip()
    if (
        receipt_no
        and session.exec(
            select(RentPayment.id).where(
                RentPayment.lease_id == lease_id, RentPayment.receipt_no == receipt_no
            )
        ).first()
    ):
        raise Conflict(tr(f"收据号 {receipt_no} 已登记", f"receipt {receipt_no} is already recorded"))
    key = f"{lease_id}:{receipt_no or paid_on}"
    payment, _ = upsert(
        session, None, actor=actor, key=key, audit_id=key, obj=None, model=RentPayment,
        values={"paid_on": paid_on, "amount_fen": amount_fen, "receipt_no": receipt_no, "note": note,
                "recorded_by": actor},
        init={"lease_id": lease_id}, detail="rent payment",
    )  # fmt: skip
    session.flush()
    return payment


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
                tr(
                    f"{code} 承租人 {lease.tenant} 的租赁将于 {lease.end_on} 到期（剩 {days} 天）",
                    f"{code}: lease of {lease.tenant} ends on {lease.end_on}, in {days} days",
                ),
            )
    late = get_settings().rent_overdue_days
    for row in queries.rent_rows(session, today):
        if row["days_overdue"] >= late:
            key = f"{row['code']}:{row['lease'].start_on}"
            arrears, since = row["arrears_yuan"], row["overdue_since"]
            wanted[("rent_overdue", key)] = (
                since,
                tr(f"{row['code']} 承租人 {row['tenant']} 欠租 {arrears:.2f} 元，"
                   f"自 {since} 起逾期 {row['days_overdue']} 天",
                   f"{row['code']}: {row['tenant']} owes {arrears:.2f} yuan of rent, overdue since {since} "
                   f"({row['days_overdue']} days)"),
            )  # fmt: skip
    for p in props.values():
        if rules.takeover_overdue(p.status, p.takeover_due_on, today):
            assert p.takeover_due_on is not None
            wanted[("takeover_overdue", p.code)] = (
                p.takeover_due_on,
                tr(
                    f"{p.code}（{p.address}）应于 {p.takeover_due_on} 接管，至今未接管",
                    f"{p.code} ({p.address}): due to be taken over on {p.takeover_due_on}, "
                    "still not taken over",
                ),
            )
    for v in queries.office_views(session, today):
        for o in v["overdue"]:
            zh, en = rules.STEP_LABELS[o["step"]]
            wanted[("certificate_overdue", f"{v['code']}:{o['step']}")] = (
                o["due_on"],
                tr(
                    f"{v['code']} {v['name']}：{zh} 目标 {o['due_on']}，已逾期 {o['days_overdue']} 天",
                    f"{v['code']} {v['name']}: {en} due {o['due_on']}, overdue by {o['days_overdue']} days",
                ),
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


# --- geocoding ----------------------------------------------------------------------------------------


def geocode_office_properties(
    session: Session,
    geocoder: Geocoder,
    *,
    actor: str,
    only_missing: bool = True,
    codes: Iterable[str] | None = None,
    provider: str = "",
    retry: bool = False,
) -> dict[str, int]:
    """Fill the coordinates of office properties and shopfronts from their addresses through `geocoder`:
    counts located / not found / skipped (no address) / cached (answered from the cache, not asked). Each
    address is asked once per provider (property_geocode_cache, not found included, `retry` asks those
    again); every change is audit-logged as `actor`."""
    counts = {"located": 0, "not_found": 0, "skipped": 0, "cached": 0}
    models: tuple[Any, ...] = (OfficeProperty, OperatingProperty)
    for model in models:
        stmt = select(model).order_by(col(model.code))
        if codes is not None:
            stmt = stmt.where(col(model.code).in_(list(codes)))
        for p in session.exec(stmt).all():
            if only_missing and p.lat is not None and p.lon is not None:
                continue
            if not p.address:
                counts["skipped"] += 1
                continue
            point = _geocoded(session, geocoder, provider, p.address, retry, counts)
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


def _geocoded(
    session: Session, geocoder: Geocoder, provider: str, address: str, retry: bool, counts: dict[str, int]
) -> tuple[float, float] | None:
    query = address.strip()[:400]
    cached = session.get(GeocodeCache, (provider, query))
    if cached is not None and (cached.lat is not None or not retry):
        counts["cached"] += 1
        return None if cached.lat is None or cached.lon is None else (cached.lat, cached.lon)
    point = geocoder.geocode(query)
    row = cached or GeocodeCache(provider=provider, query=query)
    row.lat, row.lon = point if point is not None else (None, None)
    row.asked_at = utcnow()
    session.add(row)
    return point
