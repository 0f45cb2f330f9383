"""Flags (预警): every kind declared once — its code and labels (`FlagKind`), its severity and the schema of
its detail — and the one module that writes flag rows. Reconciliation, the trip store and the rules call
it: raise (in bulk), resolve, reopen, change the machine's fields, review. Every change of state is in the
audit log with its actor: `system` for the nightly run, the reviewer for a review.

A flag's natural key (kind, key) makes a re-run find the flag it raised before; the machine owns `state`,
`end_at` and `detail`, the vehicle manager the review fields, and neither overwrites the other.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NotRequired

from sqlalchemy import insert, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select
from typing_extensions import TypedDict  # pydantic validates these on Python 3.11

from accounts import notify
from core import audit
from core.errors import NotFound, ValidationFailed
from core.i18n import tr
from core.models import AuditLog
from core.timeutil import to_china, utcnow
from fleet.models import Flag, FlagKind, FlagState, ReviewStatus, Vehicle

SYSTEM = "system"  # the actor of the nightly run's changes
CHUNK = 500

# ------------------------------------------------------------------------------------------ the kinds


class UnreportedTripDetail(TypedDict, total=False):
    km: float
    minutes: int
    service_day: str
    tags: list[str]  # fleet/compliance.py TAGS: any makes the flag high severity


class OverspeedDetail(TypedDict):
    max_kmh: float
    seconds: int  # the longest run above the limit
    limit_kmh: float
    lat: float  # where the maximum was
    lon: float
    service_day: str


class WrongVehicleDetail(TypedDict):
    order_no: str
    plate: str  # the order's car, which did not move
    other_plate: str  # the unit's car that drove in its window without an order
    other_vehicle_id: int
    trip_ids: list[int]


class OutOfAreaTripDetail(TypedDict):
    order_no: str
    service_day: str
    km: float


class AwayOvernightDetail(TypedDict):
    evening_date: str  # the night's evening (China date): one flag per car and night
    km: float  # the last fix's distance from home
    fix_at: str  # the last fix at or before the hour (China time)
    lat: float  # where the car was
    lon: float
    home: str  # vehicle: its own 停放点; unit: its unit's location


class SensitiveStopDetail(TypedDict):
    place: str  # the place's name in the gazetteer
    place_kind: str  # hotel, restaurant, scenic, entertainment… (PlaceKind)
    minutes: int  # how long the car stood there
    why: str  # rest_day | off_hours | no_order: the first of the reasons that holds
    lat: float
    lon: float


class CostWithoutEvidenceDetail(TypedDict):
    record: str  # maintenance:ID | cost:ID
    done_on: str
    workshop: str
    category: NotRequired[str]  # the bill's kind (维修/保养/…) or the cost's (停车费/洗车费/…)
    amount_yuan: str
    missing: list[str]  # reason | document: 无事由, 无合同或发票


class FuelAnomalyDetail(TypedDict, total=False):
    """One fill-up (fuel_id … tank_l), or a month's fuel (month, litres, km, l_per_100km, band)."""

    fuel_id: int
    filled_at: str
    litres: float
    station: str
    why: list[str]  # no_trip (no trip that day, not at a fuel station) | over_tank | consumption
    tank_l: float
    month: str
    km: float
    l_per_100km: float
    band: list[float]


class DueDetail(TypedDict):
    due_on: str  # the last day of the cover (a policy's end, an inspection's next due day)
    what: str  # insurance | inspection


class LapsedTripDetail(TypedDict):
    day: str
    what: str  # insurance | inspection
    trips: int
    lapsed_on: str | None  # the day the last cover ended


class OrderWithoutTrackDetail(TypedDict):
    order_no: str
    window_from: str | None
    window_to: str | None


class IdleVehicleDetail(TypedDict, total=False):
    since: str | None
    days: int
    as_of: str | None
    moved_at: str | None


class SilentTrackerDetail(TypedDict, total=False):
    since: str | None
    hours: int
    as_of: str | None
    resumed_at: str | None
    orders: list[str]


@dataclass(frozen=True)
class KindSpec:
    kind: FlagKind
    severity: str  # normal | high: the queue sorts high first
    detail: type  # the TypedDict its `detail` follows
    per: str  # what one flag is about: trip, order, spell, night, stop, record (a cost's), day (a car's)


KINDS: Mapping[FlagKind, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec(FlagKind.unreported_trip, "normal", UnreportedTripDetail, "trip"),
        KindSpec(FlagKind.order_without_track, "normal", OrderWithoutTrackDetail, "order"),
        KindSpec(FlagKind.idle_vehicle, "normal", IdleVehicleDetail, "spell"),
        KindSpec(FlagKind.silent_tracker, "normal", SilentTrackerDetail, "spell"),
        KindSpec(FlagKind.overspeed, "high", OverspeedDetail, "trip"),
        KindSpec(FlagKind.out_of_area_trip, "high", OutOfAreaTripDetail, "trip"),
        KindSpec(FlagKind.wrong_vehicle, "high", WrongVehicleDetail, "order"),
        KindSpec(FlagKind.away_overnight, "high", AwayOvernightDetail, "night"),
        KindSpec(FlagKind.sensitive_stop, "high", SensitiveStopDetail, "stop"),
        KindSpec(FlagKind.cost_without_evidence, "normal", CostWithoutEvidenceDetail, "record"),
        KindSpec(FlagKind.fuel_anomaly, "high", FuelAnomalyDetail, "record"),
        KindSpec(FlagKind.insurance_due, "normal", DueDetail, "record"),
        KindSpec(FlagKind.inspection_due, "normal", DueDetail, "record"),
        KindSpec(FlagKind.uninsured_trip, "high", LapsedTripDetail, "day"),
        KindSpec(FlagKind.uninspected_trip, "high", LapsedTripDetail, "day"),
    )
}


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# ------------------------------------------------------------------------------- the machine's changes


class Tally(Counter[str]):
    """Counts for the run history: raised/resolved/reopened in total and per kind."""

    def note(self, what: str, kind: str) -> None:
        self[what] += 1
        self[f"{kind}_{what}"] += 1

    def as_dict(self) -> dict[str, int]:
        keys = ["trips", "covered", "raised", "resolved", "reopened"]
        keys += [f"{k}_{w}" for k in FlagKind for w in ("raised", "resolved")]
        return {k: int(self.get(k, 0)) for k in keys} | {k: int(v) for k, v in self.items()}


def by_keys(session: Session, kind: str, keys: Sequence[str]) -> dict[str, Flag]:
    found: dict[str, Flag] = {}
    for chunk in _chunks(sorted(set(keys)), CHUNK):
        for flag in session.exec(select(Flag).where(Flag.kind == kind, col(Flag.key).in_(chunk))).all():
            found[flag.key] = flag
    return found


def _audit(session: Session, flag: Flag, actor: str, verb: str, before: Any, after: Any) -> None:
    audit.record(
        session, actor=actor, action=f"flag.{verb}", entity="fleet_flag", entity_id=flag.id, before=before,
        after=after, detail=f"{flag.kind} {flag.key}",
    )  # fmt: skip


def open_flag_id(session: Session, kind: str, vehicle_id: int) -> int | None:
    """The open flag of `kind` of a vehicle (a spell: at most one is open), if any."""
    return session.exec(
        select(Flag.id).where(Flag.kind == kind, Flag.vehicle_id == vehicle_id, Flag.state == FlagState.open)
    ).first()


def set_fields(flag: Flag, **values: Any) -> bool:
    """Assign only what differs, so an unchanged flag is not written."""
    changed = False
    for name, value in values.items():
        if getattr(flag, name) != value:
            setattr(flag, name, value)
            changed = True
    return changed


def refresh(session: Session, flag: Flag, **values: Any) -> None:
    """Keep a flag's facts current (its window, its detail as of the latest run). Not a change of state,
    so not audit-logged: raise, resolve, reopen and review are."""
    if set_fields(flag, **values):
        session.add(flag)


def resolve(session: Session, tally: Tally, flag: Flag, at: datetime, reason: str, **values: Any) -> None:
    if flag.id is None:
        session.flush()
    before = {"state": flag.state}
    set_fields(flag, state="resolved", resolved_at=at, resolved_reason=reason, **values)
    session.add(flag)
    tally.note("resolved", flag.kind)
    _audit(session, flag, SYSTEM, "resolve", before, {"state": "resolved", "reason": reason})


def reopen(session: Session, tally: Tally, flag: Flag, **values: Any) -> None:
    before = {"state": flag.state, "reason": flag.resolved_reason}
    set_fields(flag, state="open", resolved_at=None, resolved_reason="", **values)
    session.add(flag)
    tally.note("reopened", flag.kind)
    _audit(session, flag, SYSTEM, "reopen", before, {"state": "open"})


def raise_flag(session: Session, tally: Tally, **values: Any) -> Flag:
    flag = Flag(**values)
    session.add(flag)
    session.flush()
    tally.note("raised", flag.kind)
    _audit(session, flag, SYSTEM, "raise", None, {"state": flag.state})
    return flag


def _raised_audit(at: datetime, raised: Iterable[Any]) -> list[dict[str, Any]]:
    return [
        dict(at=at, actor=SYSTEM, action="flag.raise", entity="fleet_flag", entity_id=str(fid), before=None,
             after={"state": state}, detail=f"{kind} {key}")
        for fid, kind, key, state in raised
    ]  # fmt: skip


class NewFlags:
    """Flags raised in bulk (thousands a night): one multi-row INSERT, not an ORM object each."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.rows: list[dict[str, Any]] = []
        self.now = utcnow()

    def add(self, **values: Any) -> None:
        self.rows.append(
            {
                "trip_id": None,
                "order_id": None,
                "end_at": None,
                "state": "open",
                "severity": KINDS[FlagKind(values["kind"])].severity,
                "raised_at": self.now,
                "resolved_at": None,
                "resolved_reason": "",
                "review_status": None,
                "review_comment": "",
                "reviewed_by": None,
                "reviewed_at": None,
                **values,
            }
        )
        self.tally.note("raised", values["kind"])

    def insert(self, session: Session) -> None:
        """Insert the flags, then their audit rows with the ids read back by the natural key (a batched
        INSERT … RETURNING is three times slower on PostgreSQL than the two statements)."""
        for chunk in _chunks(self.rows, 2000):
            session.exec(insert(Flag), params=list(chunk))
            keys: dict[str, list[str]] = {}
            for row in chunk:
                keys.setdefault(row["kind"], []).append(row["key"])
            raised: list[Any] = []
            for kind, of_kind in keys.items():
                for part in _chunks(of_kind, CHUNK):
                    raised += session.exec(
                        select(Flag.id, Flag.kind, Flag.key, Flag.state).where(
                            Flag.kind == kind, col(Flag.key).in_(part)
                        )
                    ).all()
            session.exec(insert(AuditLog), params=_raised_audit(self.now, raised))
            ids = {(r[1], r[2]): r[0] for r in raised}
            _tell_high(
                session,
                [(ids.get((row["kind"], row["key"])), row) for row in chunk if row["severity"] == "high"],
            )
        self.rows = []


def _tell_high(session: Session, flagged: Sequence[tuple[int | None, dict[str, Any]]]) -> None:
    """A high-severity flag (overspeed, out of area, a night away, a sensitive place, the wrong car, a
    tagged unreported trip) is told at once — to the center's managers and the unit's own staff — the rest
    wait for the morning digest (issue 24)."""
    recent = utcnow() - timedelta(days=2)  # a re-reconciled month is not news: it waits for the digest
    flagged = [(i, row) for i, row in flagged if row["start_at"] >= recent]
    if not flagged:
        return
    managers = notify.users(session, ("vehicle_manager",))
    units: dict[int, list[Any]] = {}
    for flag_id, row in flagged:
        if flag_id is None:
            continue
        unit_id = int(row["unit_id"])
        if unit_id not in units:
            units[unit_id] = notify.users(session, ("unit_staff", "unit_approver", "unit_viewer"), unit_id)
        car = session.get(Vehicle, row["vehicle_id"])
        params = {"kind": row["kind"], "plate": car.plate if car else "",
                  "when": f"{to_china(row['start_at']):%Y-%m-%d %H:%M}"}  # fmt: skip
        notify.notify(session, [*managers, *units[unit_id]], "flag_raised", params, url=f"/flags/{flag_id}",
                      key=f"flag:{flag_id}:raised")  # fmt: skip


def detach_trips(conn: Connection, trip_ids: list[int], reason: str) -> None:
    """Trips a late batch re-cut away: their flags keep their history and review, lose the pointer, and
    open ones are resolved, each in the audit log as `system` (bulk: a re-cut may remove thousands)."""
    flag_t = Flag.__table__  # type: ignore[attr-defined]
    now = utcnow()
    closing = conn.execute(
        select(flag_t.c.id, flag_t.c.kind, flag_t.c.key).where(
            flag_t.c.trip_id.in_(trip_ids), flag_t.c.state == FlagState.open
        )
    ).all()
    conn.execute(
        update(flag_t)
        .where(flag_t.c.trip_id.in_(trip_ids), flag_t.c.state == FlagState.open)
        .values(state=FlagState.resolved, resolved_at=now, resolved_reason=reason)
    )
    conn.execute(update(flag_t).where(flag_t.c.trip_id.in_(trip_ids)).values(trip_id=None))
    if closing:
        after = {"state": "resolved", "reason": reason}  # as resolve() writes it
        rows = [
            dict(at=now, actor=SYSTEM, action="flag.resolve", entity="fleet_flag", entity_id=str(fid),
                 before={"state": "open"}, after=after, detail=f"{kind} {key}")
            for fid, kind, key in closing
        ]  # fmt: skip
        conn.execute(insert(AuditLog), rows)


# ----------------------------------------------------------------------------------------------- review

REVIEW_CHOICES = (*ReviewStatus.codes(), "open")
_REVIEW_WORDS = {
    "违规": "violation",
    "已说明": "explained",
    "说明": "explained",
    "合理": "explained",
    "误报": "false_alarm",
    "false alarm": "false_alarm",
    "待审": "open",
    "未审核": "open",
    "重置": "open",
}
_REVIEW_HELP = "violation 违规, explained 已说明, false_alarm 误报, open 重置为未审核"


def review_status_of(status: str) -> str:
    """A review status as stored; clear error naming the allowed values otherwise."""
    s = (status or "").strip()
    s = _REVIEW_WORDS.get(s, _REVIEW_WORDS.get(s.lower(), s.lower()))
    if s not in REVIEW_CHOICES:
        raise ValidationFailed(
            tr(
                f"未知的审核结论 '{status}': 可选 {_REVIEW_HELP}",
                f"unknown review status '{status}': allowed: {', '.join(REVIEW_CHOICES)}",
            )
        )
    return s


def _review_one(session: Session, flag: Flag, status: str, comment: str, actor: str) -> bool:
    before = {"review_status": flag.review_status, "review_comment": flag.review_comment}
    if status == "open":
        after = {"review_status": None, "review_comment": comment}
        changed = before != after
        set_fields(flag, review_status=None, review_comment=comment, reviewed_by=None, reviewed_at=None)
    else:
        after = {"review_status": status, "review_comment": comment}
        changed = before != after
        if changed:
            set_fields(
                flag, review_status=status, review_comment=comment, reviewed_by=actor, reviewed_at=utcnow()
            )
    if changed:
        session.add(flag)
        _audit(session, flag, actor, "review", before, after)
    return changed


def _check_review_args(status: str, comment: str | None, actor: str) -> tuple[str, str]:
    s = review_status_of(status)
    comment = (comment or "").strip()
    if len(comment) > 2000:
        raise ValidationFailed(tr("审核意见过长 (最多 2000 字)", "comment longer than 2000 characters"))
    if not actor:
        raise ValidationFailed(tr("缺少审核人", "reviewer (actor) missing"))
    return s, comment


def review_flag(session: Session, flag_id: int, status: str, comment: str | None, actor: str) -> Flag:
    """Set the manager's review of one flag (violation / explained / false_alarm, or open to reset).
    Audit-logged with before and after; a repeated identical review changes nothing."""
    s, comment = _check_review_args(status, comment, actor)
    flag = session.get(Flag, flag_id)
    if flag is None:
        raise NotFound(tr(f"预警不存在：{flag_id}", f"flag {flag_id} not found"))
    _review_one(session, flag, s, comment, actor)
    session.flush()
    return flag


def review_flags(
    session: Session, flag_ids: Sequence[int], status: str, comment: str | None, actor: str
) -> list[Flag]:
    """The same review for several flags, all or nothing."""
    s, comment = _check_review_args(status, comment, actor)
    ids = list(dict.fromkeys(flag_ids))
    if not ids:
        raise ValidationFailed(tr("未选择预警", "no flag ids given"))
    found = {f.id: f for f in session.exec(select(Flag).where(col(Flag.id).in_(ids))).all()}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(
            tr(
                f"预警不存在: {', '.join(map(str, missing))}",
                f"flags not found: {', '.join(map(str, missing))}",
            )
        )
    for i in ids:
        _review_one(session, found[i], s, comment, actor)
    session.flush()
    return [found[i] for i in ids]
