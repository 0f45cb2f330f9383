"""Reconciliation (DESIGN §3): match stored trips with approved orders and keep the flags in step.

Flags are upserted by their natural key, so a re-run finds the flag it raised before and changes it only
when the facts changed: the machine's `state`, `end_at` and `detail`, never the manager's review.

- `unreported_trip`, key `device:start_ts` — a trip no approved order covers. A re-cut trip with the same
  start keeps its flag; a late order (补单) that now covers it resolves it, history and review kept.
- `order_without_track`, key `order_id` — an approved order whose padded window has passed and covers no
  trip of its vehicle. When the vehicle's tracker was silent then, the order is listed on that silent
  spell's flag instead; when the tracker was quiet through the window and has not spoken since (not yet
  silent), the order waits: it is judged once the tracker speaks again or the spell becomes silent.
- `idle_vehicle`, key `vehicle:since_ts` — an in-service vehicle whose positions still arrive but which
  made no trip for `idle_days`. One flag per spell; its detail says since when and for how many days.
- `silent_tracker`, key `vehicle:since_ts` (`vehicle:never` for a tracker never heard) — no fix for
  `silent_hours`. One flag per spell, resolved when the tracker speaks again.

Idle and silent spells are judged as of an instant (the end of the reconciled day, or now for the hourly
health check). A resolved spell is never reopened by an earlier judgement, and an older judgement never
overwrites a newer one's numbers, so re-running old days changes nothing. Machine resolutions and reopens
are audit-logged as `system`; reviews and disposal proposals as the person who made them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, or_, text, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from core.logs import log
from core.perf import gc_paused
from core.settings import get_settings
from core.timeutil import day_bounds, from_ts, to_china, to_ts, utcnow
from fleet import compliance, flags, matching, tags, trackers
from fleet.compliance import ComplianceRules
from fleet.holders import unit_at, unit_history
from fleet.models import (
    COVERING,
    FLAG_KINDS,
    Flag,
    FuelFill,
    Inspection,
    Insurance,
    Maintenance,
    Position,
    RunningCost,
    Stop,
    Trip,
    TripOrder,
    Vehicle,
)
from fleet.rules import MAX_ORDER_DAYS, OPEN_START, Rules, Timeline, UnitSpan, consumption, cover_end, unit_on
from fleet.tags import DayTags

logger = logging.getLogger(__name__)

(
    UNREPORTED,
    WITHOUT_TRACK,
    IDLE,
    SILENT,
    OVERSPEED,
    OUT_OF_AREA,
    WRONG_VEHICLE,
    AWAY,
    SENSITIVE,
    NO_EVIDENCE,
    FUEL,
    INSURANCE_DUE,
    INSPECTION_DUE,
    UNINSURED,
    UNINSPECTED,
) = FLAG_KINDS
CHUNK = 500
MAX_ORDER_S = MAX_ORDER_DAYS * 86400
# The longest trip considered when looking for the trips around an order's window.
MAX_TRIP_S = 3 * 86400
# How far back each nightly run re-checks open flags for a late order or a track that came late. Older
# ones are re-checked when an order is entered through the API or an import (recheck_orders), or when
# their day is reconciled again.
RECHECK_DAYS = 92

REASON_COVERED = "补单已覆盖 a late order covers the trip"
REASON_LATE = "late_order"  # the unit's own late order (补报, a reply to the flag) covers the trip
REASON_TRACK_FOUND = "已找到轨迹 a trip of the vehicle is now covered by the order"
REASON_NOT_APPROVED = "订单已不是已批准状态 order no longer approved"
REASON_NOT_PASSED = "订单时间窗尚未结束 order window not over yet"
REASON_SILENT = "终端离线, 已列入终端离线预警 tracker silent then, listed on its flag"
REASON_SPOKE = "终端恢复上报 tracker reporting again"
REASON_MOVED = "车辆已出行 vehicle made a trip"
REASON_NOT_IN_SERVICE = "车辆已不在用 vehicle no longer in service"
REASON_REMOVED = "终端已拆除 tracker removed from the car"
REASON_UNDER_LIMIT = "复核后未超速 no longer above the limit"
REASON_IN_AREA = "复核后未出县或订单已注明出县 no longer out of area, or the order says out of county"
REASON_RIGHT_CAR = "订单车辆已有轨迹或该时段行程已报备 the order's car has a track, or the trips are covered"
REASON_HOME = "复核后车辆在停放点或有订单 the car was home, or an order covers the night"
REASON_REASSIGNED = "order_reassigned"  # 改派: the order was given to the car that drove
REASON_SUPERSEDED = "闲置起点已重新计算 spell recomputed"
REASON_EVIDENCE = "evidence_given"  # the bill now has its reason and its contract or invoice no.
REASON_FUEL_OK = "fuel_explained"  # a trip, a stop at a fuel station, or a tank that holds it
REASON_RENEWED = "renewed"  # a policy or an inspection continues the cover, or the car left service
REASON_COVERED_THEN = "cover_found"  # a policy (an inspection) now on file covers that day
REASON_NOT_SENSITIVE = "not_sensitive"  # re-judged: shorter, elsewhere, on duty and covered by an order


@dataclass(frozen=True)
class _Vehicle:
    id: int
    unit_id: int
    tracker_id: str | None
    status: str
    created_at: datetime


_VEHICLE_COLS: tuple[Any, ...] = (
    Vehicle.id,
    Vehicle.unit_id,
    Vehicle.tracker_id,
    Vehicle.status,
    Vehicle.created_at,
)


def _vehicles(session: Session) -> dict[int, _Vehicle]:
    rows = session.exec(_select(*_VEHICLE_COLS)).all()
    return {r[0]: _Vehicle(*r) for r in rows if r[0] is not None}


def _select(*columns: Any) -> Any:
    """A multi-column SELECT (typed loosely: the rows are unpacked by position)."""
    return sa_select(*columns)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _iso(ts: int | None) -> str | None:
    return None if ts is None else to_china(from_ts(ts)).isoformat()


def _ts_of(iso: str | None) -> int | None:
    return None if not iso else to_ts(datetime.fromisoformat(iso))


# ------------------------------------------------------------------------------------ trips and orders


@dataclass
class _Trips:
    """Columns of a set of trips (with their vehicle's unit) as arrays and lists."""

    id: list[int]
    vehicle: np.ndarray
    device: list[str]
    start: np.ndarray
    end: np.ndarray
    order_id: list[int | None]
    unit: list[int]
    km: list[float]
    minutes: list[int]
    day: list[date]
    tags: list[int]  # fleet/compliance.py TAG_BITS


_TRIP_COLS: tuple[Any, ...] = (
    Trip.id,
    Trip.vehicle_id,
    Trip.device_id,
    Trip.start_at,
    Trip.end_at,
    Trip.order_id,
    # the unit that held the car on the trip's day: a transfer leaves the trips before it with the old unit
    unit_at(Trip.vehicle_id, Trip.service_day, Vehicle.unit_id),
    Trip.distance_m,
    Trip.duration_s,
    Trip.service_day,
    Trip.tags,
    # what the tagging reads besides (fleet/tags.py TAG_COLUMNS)
    Trip.max_speed_kmh,
    Trip.start_lat,
    Trip.start_lon,
    Trip.end_lat,
    Trip.end_lon,
)
_AS_TAG_ROW = (0, 2, 3, 4, 10, 11, 7, 12, 13, 14, 15)  # _TRIP_COLS → tags.TAG_COLUMNS


def _trip_select() -> Any:
    return _select(*_TRIP_COLS).join(Vehicle, col(Vehicle.id) == col(Trip.vehicle_id))


def _as_trips(rows: Sequence[Any]) -> _Trips:
    rows = sorted({r[0]: r for r in rows}.values(), key=lambda r: r[0])
    return _Trips(
        id=[r[0] for r in rows],
        vehicle=np.array([r[1] for r in rows], dtype=np.int64),
        device=[r[2] for r in rows],
        start=np.array([r[3].timestamp() for r in rows], dtype=np.int64),
        end=np.array([r[4].timestamp() for r in rows], dtype=np.int64),
        order_id=[r[5] for r in rows],
        unit=[r[6] for r in rows],
        km=[round(r[7] / 1000, 2) for r in rows],
        minutes=[round(r[8] / 60) for r in rows],
        day=[r[9] for r in rows],
        tags=[int(r[10] or 0) for r in rows],
    )


@dataclass
class _Orders:
    id: list[int]
    vehicle: np.ndarray
    start: np.ndarray
    end: np.ndarray
    order_no: list[str]
    unit: list[int]
    status: list[str]
    late: list[bool]  # filed in reply to an unreported_trip flag (补报)


_ORDER_COLS: tuple[Any, ...] = (
    TripOrder.id,
    TripOrder.vehicle_id,
    TripOrder.planned_start_at,
    TripOrder.planned_end_at,
    TripOrder.order_no,
    TripOrder.unit_id,
    TripOrder.status,
    TripOrder.late_for_flag_id,
)


def _as_orders(rows: Sequence[Any]) -> _Orders:
    # An order without a car (a request awaiting dispatch) covers nothing yet.
    rows = sorted({r[0]: r for r in rows if r[1] is not None}.values(), key=lambda r: r[0])
    return _Orders(
        id=[r[0] for r in rows],
        vehicle=np.array([r[1] for r in rows], dtype=np.int64),
        start=np.array([r[2].timestamp() for r in rows], dtype=np.int64),
        end=np.array([r[3].timestamp() for r in rows], dtype=np.int64),
        order_no=[r[4] for r in rows],
        unit=[r[5] for r in rows],
        status=[r[6] for r in rows],
        late=[r[7] is not None for r in rows],
    )


def _spans(vehicles: Sequence[int], starts: Sequence[int], ends: Sequence[int]) -> list[tuple[int, int, int]]:
    """Per vehicle, its intervals merged where they lie within two days of each other: (vehicle, lo, hi).
    One look-up per span keeps an old open flag from widening the range read for other vehicles."""
    spans: list[tuple[int, int, int]] = []
    for v, lo, hi in sorted(zip(vehicles, starts, ends, strict=True)):
        if spans and spans[-1][0] == v and lo - spans[-1][2] <= 2 * 86400:
            spans[-1] = (v, spans[-1][1], max(spans[-1][2], hi))
        else:
            spans.append((v, lo, hi))
    return spans


def _by_spans(
    session: Session,
    stmt: Any,
    vehicle: Any,
    spans: Sequence[tuple[int, int, int]],
    within: Callable[[int, int], list[Any]],
) -> list[Any]:
    """Rows of `stmt` of the spans' vehicles and times (a superset): spans close in time are read together,
    per chunk of vehicles, with the conditions `within(lo, hi)` of their common range — each a range of
    the composite (vehicle, time) index. A night's trips make one group; old open flags a few more."""
    rows: list[Any] = []
    groups: list[list[tuple[int, int, int]]] = []
    top = 0  # the latest end in the current group
    for span in sorted(spans, key=lambda x: x[1]):
        # a span joins the group unless it starts, or ends, more than 3 days past it: spans of the same
        # long range (every car's gap since its first night) are one range read, not one query each
        if not groups or span[1] - groups[-1][0][1] > 3 * 86400 or span[2] - top > 3 * 86400:
            groups.append([])
            top = span[2]
        groups[-1].append(span)
        top = max(top, span[2])
    for group in groups:
        lo, hi = group[0][1], max(g[2] for g in group)
        for chunk in _chunks(sorted({g[0] for g in group})):
            rows += session.exec(stmt.where(col(vehicle).in_(chunk), *within(lo, hi))).all()
    return rows


class _FlagIndex:
    """The stored flags of some keys as plain rows; an ORM object is loaded only for a flag that changes
    (a nightly run re-checks thousands and changes few)."""

    COLUMNS: tuple[Any, ...] = (
        Flag.key,
        Flag.id,
        Flag.state,
        Flag.resolved_reason,
        Flag.detail,
        Flag.trip_id,
        Flag.order_id,
        Flag.vehicle_id,
        Flag.unit_id,
        Flag.start_at,
        Flag.end_at,
        Flag.severity,
    )

    def __init__(self, session: Session, rows: Iterable[Any]) -> None:
        self.session = session
        self.rows: dict[str, dict[str, Any]] = {row[0]: dict(row._mapping) for row in rows}

    # Looked up through the (vehicle, start) and order indexes rather than by key: a long IN list of
    # strings is filtered row by row in PostgreSQL's generic plans.
    @classmethod
    def of_trips(cls, session: Session, trips: _Trips, kind: str = UNREPORTED) -> _FlagIndex:
        """`kind` flags (one per trip) of these trips (key: device and start; start_at: the trip's start)."""
        starts = trips.start.tolist()
        spans = _spans(trips.vehicle.tolist(), starts, starts)

        def within(lo: int, hi: int) -> list[Any]:
            return [col(Flag.start_at) >= from_ts(lo), col(Flag.start_at) <= from_ts(hi)]

        stmt = _select(*cls.COLUMNS).where(Flag.kind == kind)
        return cls(session, _by_spans(session, stmt, Flag.vehicle_id, spans, within))

    @classmethod
    def of_kind_between(cls, session: Session, kind: str, lo: int, hi: int) -> _FlagIndex:
        """`kind` flags whose start lies in [lo, hi]: a rule's flags of a day are few, found by (kind,
        start) at once rather than per vehicle."""
        stmt = _select(*cls.COLUMNS).where(
            Flag.kind == kind, col(Flag.start_at) >= from_ts(lo), col(Flag.start_at) <= from_ts(hi)
        )
        return cls(session, session.exec(stmt).all())

    @classmethod
    def of_orders(cls, session: Session, order_ids: Sequence[int]) -> _FlagIndex:
        """order_without_track flags of these orders (key: the order id)."""
        rows: list[Any] = []
        for chunk in _chunks(sorted(set(order_ids))):
            stmt = _select(*cls.COLUMNS).where(Flag.kind == WITHOUT_TRACK, col(Flag.order_id).in_(chunk))
            rows += session.exec(stmt).all()
        return cls(session, rows)

    def get(self, key: str) -> dict[str, Any] | None:
        return self.rows.get(key)

    def load(self, key: str) -> Flag:
        flag = self.session.get(Flag, self.rows[key]["id"])
        assert flag is not None
        return flag

    @staticmethod
    def differs(row: dict[str, Any], values: dict[str, Any]) -> bool:
        return any(row[k] != v for k, v in values.items())


def _approved_orders_around(session: Session, trips: _Trips, rules: Rules) -> _Orders:
    """Every approved order whose padded window can touch one of the trips."""
    spans = _spans(trips.vehicle.tolist(), trips.start.tolist(), trips.end.tolist())

    def within(lo: int, hi: int) -> list[Any]:
        return [
            col(TripOrder.planned_start_at) >= from_ts(lo - rules.lag_s - MAX_ORDER_S),
            col(TripOrder.planned_start_at) <= from_ts(hi + rules.lead_s),
            col(TripOrder.planned_end_at) >= from_ts(lo - rules.lag_s),
        ]

    stmt = _select(*_ORDER_COLS).where(col(TripOrder.status).in_(COVERING))
    return _as_orders(_by_spans(session, stmt, TripOrder.vehicle_id, spans, within))


def _match(trips: _Trips, orders: _Orders, rules: Rules) -> matching.MatchResult:
    return matching.match(
        trips.vehicle,
        trips.start,
        trips.end,
        orders.vehicle,
        orders.start,
        orders.end,
        lead_s=rules.lead_s,
        lag_s=rules.lag_s,
        share=rules.share,
    )


def _unreported_key(device: str, start_ts: int) -> str:
    return f"{device}:{start_ts}"


def _rematch(session: Session, trips: _Trips, rules: Rules, tally: flags.Tally) -> list[int]:
    """Store each trip's covering order and keep its unreported_trip flag in step. Returns the covering
    order id per trip (0 when none)."""
    if not trips.id:
        return []
    orders = _approved_orders_around(session, trips, rules)
    result = _match(trips, orders, rules)
    best = [orders.id[j] if j >= 0 else 0 for j in result.trip_order.tolist()]
    order_no = dict(zip(orders.id, orders.order_no, strict=True))
    late = {oid for oid, is_late in zip(orders.id, orders.late, strict=True) if is_late}

    changed = [
        {"id": tid, "order_id": oid or None}
        for tid, oid, old in zip(trips.id, best, trips.order_id, strict=True)
        if (oid or None) != old
    ]
    if changed:
        session.exec(update(Trip), params=changed)
        # The bulk UPDATE bypasses loaded objects: let them read the new cover.
        ids = {c["id"] for c in changed}
        for obj in list(session.identity_map.values()):
            if isinstance(obj, Trip) and obj.id in ids:
                session.expire(obj, ["order_id"])

    keys = [_unreported_key(d, s) for d, s in zip(trips.device, trips.start.tolist(), strict=True)]
    known = _FlagIndex.of_trips(session, trips)
    now = utcnow()
    new = flags.NewFlags(tally)
    for i, key in enumerate(keys):
        row, oid = known.get(key), best[i]
        if oid:
            if row is not None and row["state"] == "open":
                reason = REASON_LATE if oid in late else f"{REASON_COVERED}: {order_no[oid]}"
                flags.resolve(session, tally, known.load(key), now, reason, order_id=oid)
            continue
        detail: dict[str, Any] = {
            "km": trips.km[i], "minutes": trips.minutes[i], "service_day": trips.day[i].isoformat(),
        }  # fmt: skip
        if trips.tags[i]:  # rest day, night, out of area, overspeed: sorts first in the queue
            detail["tags"] = compliance.tag_names(trips.tags[i])
        where = {**_trip_where(trips, i), "severity": "high" if trips.tags[i] else "normal"}
        if row is None:
            new.add(kind=UNREPORTED, key=key, detail=detail, **where)
        elif row["state"] == "resolved":
            flags.reopen(session, tally, known.load(key), order_id=None, detail=detail, **where)
        elif _FlagIndex.differs(row, {"detail": detail, **where}):
            flags.refresh(session, known.load(key), detail=detail, **where)
    new.insert(session)
    return best


def _trip_where(trips: _Trips, i: int) -> dict[str, Any]:
    return {
        "trip_id": trips.id[i],
        "vehicle_id": int(trips.vehicle[i]),
        "unit_id": trips.unit[i],
        "start_at": from_ts(int(trips.start[i])),
        "end_at": from_ts(int(trips.end[i])),
    }


def _keep_trip_flags(
    session: Session, tally: flags.Tally, trips: _Trips, kind: str, wanted: dict[int, dict[str, Any]],
    judged: Sequence[int], reason: str,
) -> None:  # fmt: skip
    """One `kind` flag per trip of `judged` that `wanted` names (with its detail); the open ones of the
    others resolved with `reason`. Idempotent; reviews are never touched."""
    if not judged:
        return
    starts = trips.start[judged]
    known = _FlagIndex.of_kind_between(session, kind, int(starts.min()), int(starts.max()))
    new = flags.NewFlags(tally)
    now = utcnow()
    for i in judged:
        key = _unreported_key(trips.device[i], int(trips.start[i]))
        row = known.get(key)
        if i in wanted:
            where = _trip_where(trips, i)
            if row is None:
                new.add(kind=kind, key=key, detail=wanted[i], **where)
            elif row["state"] == "resolved":
                flags.reopen(session, tally, known.load(key), detail=wanted[i], **where)
            elif _FlagIndex.differs(row, {"detail": wanted[i], **where}):
                flags.refresh(session, known.load(key), detail=wanted[i], **where)
        elif row is not None and row["state"] == "open":
            flags.resolve(session, tally, known.load(key), now, reason)
    new.insert(session)


def _rule_flags(
    session: Session, tally: flags.Tally, trips: _Trips, best: Sequence[int], day: date, tagged: DayTags,
    rules: ComplianceRules,
) -> None:  # fmt: skip
    """The flags the day's trip tags call for: overspeed (every trip over the limit, covered or not) and
    out_of_area_trip (a covered trip out of the area whose order does not say 出县)."""
    judged = [i for i, d in enumerate(trips.day) if d == day]
    over: dict[int, dict[str, Any]] = {}
    for i in judged:
        o = tagged.overspeed.get(trips.id[i])
        if o is not None:
            over[i] = {
                "max_kmh": o.max_kmh, "seconds": o.seconds, "limit_kmh": rules.overspeed_kmh,
                "lat": round(o.lat, 6), "lon": round(o.lon, 6), "service_day": day.isoformat(),
            }  # fmt: skip
    _keep_trip_flags(session, tally, trips, OVERSPEED, over, judged, REASON_UNDER_LIMIT)
    out_bit = compliance.TAG_BITS["out_of_area"]
    # only the orders of the covered trips that left the area are read (a day's few, not its thousands)
    covering = sorted({best[i] for i in judged if best[i] and trips.tags[i] & out_bit})
    orders: dict[int, tuple[str, bool]] = {}
    for chunk in _chunks(covering):
        for oid, no, out in session.exec(
            _select(col(TripOrder.id), col(TripOrder.order_no), col(TripOrder.out_of_county)).where(
                col(TripOrder.id).in_(chunk)
            )
        ).all():
            orders[int(oid)] = (no, bool(out))
    away = {
        i: {"order_no": orders[best[i]][0], "service_day": day.isoformat(), "km": trips.km[i]}
        for i in judged
        if trips.tags[i] & out_bit and best[i] in orders and not orders[best[i]][1]
    }
    _keep_trip_flags(session, tally, trips, OUT_OF_AREA, away, judged, REASON_IN_AREA)


def _trips_to_recheck(session: Session, day: date) -> list[Any]:
    """Trips of other days whose cover may have changed: those with an open unreported_trip flag of the
    last RECHECK_DAYS (a late order) and those whose stored order is no longer approved (cancelled after
    the fact)."""
    since = day_bounds(day)[0] - timedelta(days=RECHECK_DAYS)
    open_flagged = _trip_select().join(Flag, col(Flag.trip_id) == col(Trip.id))
    open_flagged = open_flagged.where(
        Flag.kind == UNREPORTED, Flag.state == "open", col(Flag.start_at) >= since
    )
    lost_order = _trip_select().join(TripOrder, col(TripOrder.id) == col(Trip.order_id))
    lost_order = lost_order.where(col(TripOrder.status).not_in(COVERING))
    open_flagged = open_flagged.where(Trip.service_day != day)
    lost_order = lost_order.where(Trip.service_day != day)
    return list(session.exec(open_flagged).all()) + list(session.exec(lost_order).all())


# ------------------------------------------------------------------------------- orders without track


def _orders_to_check(
    session: Session, vehicles: dict[int, _Vehicle], rules: Rules, day_from: int, as_of: int
) -> _Orders:
    """Approved orders whose padded window closed in [day_from, as_of), approved orders entered or changed
    in that day (a late entry for an older window), and the orders of open order_without_track flags."""
    rows: list[Any] = []
    for chunk in _chunks(sorted(vehicles)):
        rows += session.exec(
            _select(*_ORDER_COLS).where(
                col(TripOrder.vehicle_id).in_(chunk),
                col(TripOrder.status).in_(COVERING),
                col(TripOrder.planned_start_at) >= from_ts(day_from - rules.lag_s - MAX_ORDER_S),
                col(TripOrder.planned_start_at) < from_ts(as_of),
                col(TripOrder.planned_end_at) >= from_ts(day_from - rules.lag_s),
                col(TripOrder.planned_end_at) < from_ts(as_of - rules.lag_s),
            )
        ).all()
    rows += session.exec(
        _select(*_ORDER_COLS).where(
            col(TripOrder.status).in_(COVERING),
            col(TripOrder.updated_at) >= from_ts(day_from),
            col(TripOrder.updated_at) < from_ts(as_of + 86400),
            col(TripOrder.planned_end_at) < from_ts(as_of - rules.lag_s),
        )
    ).all()
    rows += session.exec(
        _select(*_ORDER_COLS)
        .join(Flag, col(Flag.order_id) == col(TripOrder.id))
        .where(
            Flag.kind == WITHOUT_TRACK,
            Flag.state == "open",
            col(Flag.start_at) >= from_ts(day_from - RECHECK_DAYS * 86400),
        )
    ).all()
    rows += _orders_in_gaps(session, vehicles, rules, day_from, as_of)
    return _as_orders(rows)


def _orders_in_gaps(
    session: Session, vehicles: dict[int, _Vehicle], rules: Rules, day_from: int, as_of: int
) -> list[Any]:
    """Orders put off earlier because the tracker was quiet through their window and had not spoken
    since: those in a quiet spell that ended this day, and those in a spell that has now become silent."""
    fix = col(Position.fix_ts)
    on_device = col(Position.device_id) == col(Vehicle.tracker_id)
    before_day = select(func.max(fix)).where(on_device, fix < day_from).scalar_subquery()
    first_in_day = select(func.min(fix)).where(on_device, fix >= day_from, fix < as_of).scalar_subquery()
    last = select(func.max(fix)).where(on_device, fix < as_of).scalar_subquery()
    rows = session.exec(
        _select(col(Vehicle.id), before_day, first_in_day, last).where(
            Vehicle.status == "in_service", col(Vehicle.tracker_id).is_not(None)
        )
    ).all()
    floor = day_from - MAX_ORDER_S
    gaps: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for vid, lb, nd, lt in rows:
        if nd is not None and nd - (lb if lb is not None else floor) > rules.lead_s + rules.lag_s:
            gaps[vid].append((lb if lb is not None else floor, nd))
        if lt is None or as_of - lt >= rules.silent_s:
            gaps[vid].append((lt if lt is not None else floor, as_of))
    spans = [(v, a, b) for v, pairs in gaps.items() for a, b in pairs]

    def within(lo: int, hi: int) -> list[Any]:
        return [col(TripOrder.planned_start_at) > from_ts(lo), col(TripOrder.planned_start_at) < from_ts(hi)]

    stmt = _select(*_ORDER_COLS).where(
        col(TripOrder.status).in_(COVERING), col(TripOrder.planned_end_at) < from_ts(as_of - rules.lag_s)
    )
    found: list[Any] = []
    for row in _by_spans(session, stmt, TripOrder.vehicle_id, spans, within):
        ws, we = row[2].timestamp() - rules.lead_s, row[3].timestamp() + rules.lag_s
        if any(a < ws and we < b for a, b in gaps[row[1]]):
            found.append(row)
    return found


def _trips_near(session: Session, orders: _Orders, rules: Rules) -> list[Any]:
    """The trips of the orders' vehicles that touch one of their padded windows (a superset)."""
    ws, we = orders.start - rules.lead_s, orders.end + rules.lag_s
    spans = _spans(orders.vehicle.tolist(), ws.tolist(), we.tolist())

    def within(lo: int, hi: int) -> list[Any]:
        return [
            col(Trip.start_at) >= from_ts(lo - MAX_TRIP_S),
            col(Trip.start_at) <= from_ts(hi),
            col(Trip.end_at) >= from_ts(lo),
        ]

    return _by_spans(session, _trip_select(), Trip.vehicle_id, spans, within)


def _order_has_trip(session: Session, orders: _Orders, rules: Rules) -> np.ndarray:
    """Per order: does it cover at least one trip of its vehicle (whether or not another order was the
    better cover)."""
    trips = _as_trips(_trips_near(session, orders, rules)) if orders.id else None
    if trips is None or not trips.id:
        return np.zeros(len(orders.id), dtype=bool)
    return _match(trips, orders, rules).order_trips > 0


def _fix_after(session: Session, device: str, ts: int, before: int) -> int | None:
    """The first fix after ts and before `before`."""
    return session.exec(
        select(func.min(Position.fix_ts)).where(
            Position.device_id == device, Position.fix_ts > ts, Position.fix_ts < before
        )
    ).one()


def _gaps(
    session: Session, windows: Sequence[tuple[int, str, int, int]], as_of: int
) -> dict[int, tuple[int | None, int | None] | None]:
    """Per window (key, device, ws, we): the tracker's quiet spell around it — (last fix before it, None if
    never heard; first fix after it, None if still quiet at as_of) — or None when a fix lies in the
    window. Two index seeks per window, a few hundred windows per statement."""
    found: dict[int, tuple[int | None, int | None] | None] = {}
    table = Position.__tablename__
    for chunk in _chunks(windows, 400):  # SQLite allows 500 terms in a compound SELECT
        # Plain SQL: a few hundred literal rows would cost more to build as an expression than to run.
        rows = " UNION ALL ".join(
            f"SELECT CAST(:k{i} AS BIGINT), CAST(:d{i} AS VARCHAR(32)), CAST(:w{i} AS BIGINT)"
            for i in range(len(chunk))
        )
        params: dict[str, Any] = {"as_of": as_of}
        for i, (k, d, _, we) in enumerate(chunk):
            params |= {f"k{i}": k, f"d{i}": d, f"w{i}": min(we, as_of - 1)}
        stmt = text(
            f"WITH w(k, d, we) AS ({rows}) SELECT w.k,"
            f" (SELECT max(p.fix_ts) FROM {table} p WHERE p.device_id = w.d AND p.fix_ts <= w.we),"
            f" (SELECT min(p.fix_ts) FROM {table} p WHERE p.device_id = w.d AND p.fix_ts > w.we"
            " AND p.fix_ts < :as_of) FROM w"
        )
        starts = {k: ws for k, _, ws, _ in chunk}
        for k, last, spoke in session.exec(stmt, params=params).all():  # type: ignore[call-overload]
            found[k] = None if last is not None and last >= starts[k] else (last, spoke)
    return found


@dataclass
class _Run:
    """What the checks of one reconciliation share: the session, the vehicles, the rules, the moment
    judged (an exclusive bound, epoch seconds), the counts and the spell flags met so far."""

    session: Session
    vehicles: dict[int, _Vehicle]
    rules: Rules
    as_of: int
    tally: flags.Tally
    spells: _Spells
    timeline: Timeline  # which car held which tracker when
    history: dict[int, list[UnitSpan]]  # which unit held a transferred car when
    paper: _Paper | None = None  # the cars' policies and inspections, loaded by the first cost check

    def unit_on(self, vehicle_id: int, day: date) -> int:
        """The unit a flag of the car's `day` belongs to: the one that held the car then."""
        return unit_on(self.history.get(vehicle_id, []), day, self.vehicles[vehicle_id].unit_id)

    @classmethod
    def start(cls, session: Session, rules: Rules, as_of: int, tally: flags.Tally | None = None) -> _Run:
        tally = tally if tally is not None else flags.Tally()
        return cls(
            session, _vehicles(session), rules, as_of, tally, _Spells(session, tally, rules),
            trackers.timeline(session), unit_history(session),
        )  # fmt: skip


def _check_orders(run: _Run, orders: _Orders) -> None:
    if not orders.id:
        return
    session = run.session
    known = _FlagIndex.of_orders(session, orders.id)
    judged = _orders_to_judge(run, orders, known, utcnow())
    with session.no_autoflush:
        gaps = _gaps(
            session,
            [(i, d, ws, we) for i, v, d, ws, we in judged if v.status == "in_service"],
            run.as_of,
        )
    new = flags.NewFlags(run.tally)
    for i, vehicle, _, ws, we in judged:
        gap = gaps.get(i)
        if gap is not None and _put_off(run, orders, i, vehicle, ws, gap, known):
            continue
        _keep_without_track(run, orders, i, vehicle, (ws, we), known, new)
    new.insert(session)


def _wrong_vehicle(run: _Run, orders: _Orders) -> None:
    """车辆不符: an approved order whose car has no track (its order_without_track flag is open) while
    another car of the same unit made unreported trips the order's window would cover. One flag per order
    names both cars and the trips; the reviewer's 改派 (fleet/service.py reassign_order) resolves it."""
    session, rules = run.session, run.rules
    if not orders.id:
        return
    # both kinds' flags start with their order's window: one range read each, not one per chunk of orders
    lo, hi = int(orders.start.min()), int(orders.start.max())
    owt = _FlagIndex.of_kind_between(session, WITHOUT_TRACK, lo, hi).rows
    flagged = [i for i, oid in enumerate(orders.id) if owt.get(str(oid), {}).get("state") == "open"]
    known = _FlagIndex.of_kind_between(session, WRONG_VEHICLE, lo, hi)
    plates: dict[int, str] = {}
    wanted: dict[int, dict[str, Any]] = {}
    for i in flagged:
        ws, we = int(orders.start[i]) - rules.lead_s, int(orders.end[i]) + rules.lag_s
        rows = session.exec(
            _select(col(Trip.id), col(Trip.vehicle_id), col(Trip.start_at), col(Trip.end_at))
            .join(Vehicle, col(Vehicle.id) == col(Trip.vehicle_id))
            .where(
                col(Vehicle.unit_id) == orders.unit[i], col(Trip.vehicle_id) != int(orders.vehicle[i]),
                col(Trip.order_id).is_(None), col(Trip.start_at) < from_ts(we),
                col(Trip.end_at) > from_ts(ws),
            )
        ).all()  # fmt: skip
        inside: dict[int, list[tuple[int, int]]] = {}
        for tid, vid, start, end in rows:
            a, b = to_ts(start), to_ts(end)
            if b > a and (min(b, we) - max(a, ws)) / (b - a) >= rules.share:  # the coverage rule
                inside.setdefault(int(vid), []).append((int(tid), b - a))
        if not inside:
            continue
        other = max(inside, key=lambda v: (sum(d for _, d in inside[v]), -v))
        for vid in (int(orders.vehicle[i]), other):
            if vid not in plates:
                plates[vid] = session.exec(select(Vehicle.plate).where(Vehicle.id == vid)).one()
        wanted[i] = {
            "order_no": orders.order_no[i], "plate": plates.get(int(orders.vehicle[i]), ""),
            "other_plate": plates.get(other, ""), "other_vehicle_id": other,
            "trip_ids": sorted(t for t, _ in inside[other]),
        }  # fmt: skip
    new = flags.NewFlags(run.tally)
    now = utcnow()
    for i, oid in enumerate(orders.id):
        key, row = str(oid), known.get(str(oid))
        if i in wanted:
            where = {
                "order_id": oid, "vehicle_id": int(orders.vehicle[i]), "unit_id": orders.unit[i],
                "start_at": from_ts(int(orders.start[i])), "end_at": from_ts(int(orders.end[i])),
            }  # fmt: skip
            if row is None:
                new.add(kind=WRONG_VEHICLE, key=key, detail=wanted[i], **where)
            elif row["state"] == "resolved" and row["resolved_reason"] != REASON_REASSIGNED:
                flags.reopen(session, run.tally, known.load(key), detail=wanted[i], **where)
            elif row["state"] == "open" and _FlagIndex.differs(row, {"detail": wanted[i], **where}):
                flags.refresh(session, known.load(key), detail=wanted[i], **where)
        elif row is not None and row["state"] == "open":
            flags.resolve(session, run.tally, known.load(key), now, REASON_RIGHT_CAR)
    new.insert(session)


def _away_overnight(run: _Run, day: date, rules: ComplianceRules) -> dict[str, int]:
    """夜间未归 for the night that ended on `day`: one flag per car away from home at the hour (key
    `vehicle:evening`); a car judged home (or covered by an order) resolves its flag of that night."""
    session = run.session
    nights = tags.nights_away(session, day, run.timeline, rules, (run.rules.lead_s, run.rules.lag_s))
    known = _FlagIndex.of_kind_between(session, AWAY, nights.instant, nights.instant)
    new = flags.NewFlags(run.tally)
    at = from_ts(nights.instant)
    evening = nights.evening.isoformat()
    for car in nights.away:
        key = f"{car.vehicle_id}:{evening}"
        row = known.get(key)
        where = {"vehicle_id": car.vehicle_id, "unit_id": car.unit_id, "start_at": at, "end_at": at}
        if row is None:
            new.add(kind=AWAY, key=key, detail=car.detail, **where)
        elif row["state"] == "resolved":
            flags.reopen(session, run.tally, known.load(key), detail=car.detail, **where)
        elif _FlagIndex.differs(row, {"detail": car.detail, **where}):
            flags.refresh(session, known.load(key), detail=car.detail, **where)
    for key, row in known.rows.items():
        if row["state"] == "open" and row["vehicle_id"] in nights.home:
            flags.resolve(session, run.tally, known.load(key), utcnow(), REASON_HOME)
    new.insert(session)
    return nights.counts


def sensitive_kinds() -> set[str]:
    """The place types a long stop off duty is flagged at (GONGWU_SENSITIVE_PLACES)."""
    return {k.strip() for k in get_settings().sensitive_places.split(",") if k.strip()}


def _sensitive_stops(run: _Run, day: date, rules: ComplianceRules) -> dict[str, int]:
    """敏感场所停留 for the stops that began on `day`: at least `sensitive_minutes` at a place of a sensitive
    type, on a rest day, in the night window, or with no order of the car covering it. One flag per stop
    (key `vehicle:start`); a stop no longer judged so (renamed, re-cut, an order filed) resolves its flag."""
    session = run.session
    lo, hi = (to_ts(t) for t in day_bounds(day))
    kinds = sensitive_kinds()
    stops = session.exec(
        select(Stop)
        .where(
            col(Stop.start_at) >= from_ts(lo),
            col(Stop.start_at) < from_ts(hi),
            col(Stop.place_inside).is_(True),
            col(Stop.place_kind).in_(sorted(kinds)),
            col(Stop.duration_s) >= rules.sensitive_minutes * 60,
        )
        .execution_options(populate_existing=True)  # named by a bulk UPDATE since they were loaded
    ).all()
    rest = compliance.is_rest_day(day, tags.local_days(session, day, day))
    starts = np.array([to_ts(s.start_at) for s in stops], dtype=np.int64)
    ends = np.array([to_ts(s.end_at) for s in stops], dtype=np.int64)
    night = compliance.night_overlap_s(starts, ends, rules) > 0 if len(stops) else np.zeros(0, dtype=bool)
    wanted: dict[str, tuple[Stop, dict[str, Any]]] = {}
    for i, stop in enumerate(stops):
        vehicle = run.vehicles.get(stop.vehicle_id)
        if vehicle is None:
            continue
        why = "rest_day" if rest else "off_hours" if night[i] else ""
        if not why and not _stop_covered(session, stop, run.rules):
            why = "no_order"
        if why:
            detail = {
                "place": stop.place_name or "", "place_kind": stop.place_kind or "",
                "minutes": stop.duration_s // 60, "why": why,
                "lat": round(stop.lat, 6), "lon": round(stop.lon, 6),
            }  # fmt: skip
            wanted[f"{stop.vehicle_id}:{int(starts[i])}"] = (stop, detail)
    spans = {k: (stop.vehicle_id, stop.start_at, stop.end_at, d) for k, (stop, d) in wanted.items()}
    _day_flags(run, SENSITIVE, day, spans, REASON_NOT_SENSITIVE)
    return {"sensitive_stops": len(wanted)}


Wanted = dict[str, tuple[int, datetime, datetime, dict[str, Any]]]  # key → (vehicle, start, end, detail)


def _day_flags(run: _Run, kind: str, day: date, wanted: Wanted, reason: str) -> None:
    """Raise, reopen or refresh the `kind` flags of `day` that are wanted (one per key); an open one no
    longer wanted resolves with `reason`."""
    session = run.session
    lo, hi = (to_ts(t) for t in day_bounds(day))
    known = _FlagIndex.of_kind_between(session, kind, lo, hi - 1)
    new = flags.NewFlags(run.tally)
    for key, (vehicle_id, start, end, detail) in wanted.items():
        vehicle = run.vehicles.get(vehicle_id)
        if vehicle is None:
            continue
        unit_id = run.unit_on(vehicle_id, day)
        where = {"vehicle_id": vehicle_id, "unit_id": unit_id, "start_at": start, "end_at": end}
        row = known.get(key)
        if row is None:
            new.add(kind=kind, key=key, detail=detail, **where)
        elif row["state"] == "resolved":
            flags.reopen(session, run.tally, known.load(key), detail=detail, **where)
        elif _FlagIndex.differs(row, {"detail": detail, **where}):
            flags.refresh(session, known.load(key), detail=detail, **where)
    for key, row in known.rows.items():
        if row["state"] == "open" and key not in wanted:
            flags.resolve(session, run.tally, known.load(key), utcnow(), reason)
    new.insert(session)


def _cost_checks(run: _Run, day: date) -> dict[str, int]:
    """The running costs of `day` against their paper and the tracks (issue 25): a workshop bill or another
    cost without a reason, or at or above GONGWU_EVIDENCE_THRESHOLD_YUAN without a contract or invoice
    no. (cost_without_evidence); a fill-up on a day the car made no trip and stopped at no fuel station,
    of more litres than its tank holds, or — on a month's last day — a month's fuel outside
    GONGWU_FUEL_L100KM_MIN..MAX of its GPS km (fuel_anomaly); the insurance and the inspection."""
    session, settings = run.session, get_settings()
    start = day_bounds(day)[0]
    threshold = settings.evidence_threshold_yuan * 100
    bills: Wanted = {}
    records = [
        (f"maintenance:{m.id}", m.vehicle_id, m.amount_fen, m.reason, m.document_no, m.workshop, m.kind)
        for m in session.exec(select(Maintenance).where(Maintenance.done_on == day)).all()
    ] + [
        (f"cost:{c.id}", c.vehicle_id, c.amount_fen, c.reason, c.document_no, "", c.category)
        for c in session.exec(select(RunningCost).where(RunningCost.spent_on == day)).all()
    ]
    for key, vehicle_id, fen, reason, document, workshop, category in records:
        missing = ([] if reason.strip() else ["reason"]) + (
            ["document"] if fen >= threshold and not document.strip() else []
        )
        if missing:
            detail = {
                "record": key, "done_on": day.isoformat(), "workshop": workshop, "category": category,
                "amount_yuan": f"{fen / 100:.2f}", "missing": missing,
            }  # fmt: skip
            bills[key] = (vehicle_id, start, start, detail)
    _day_flags(run, NO_EVIDENCE, day, bills, REASON_EVIDENCE)
    odd = _fill_ups(run, day) | _month_of_fuel(run, day)
    _day_flags(run, FUEL, day, odd, REASON_FUEL_OK)
    return {"costs_without_evidence": len(bills), "fuel_anomalies": len(odd)} | _paper_checks(run, day)


def _fill_ups(run: _Run, day: date) -> Wanted:
    session, settings = run.session, get_settings()
    start, end = day_bounds(day)
    fills = session.exec(
        select(FuelFill).where(col(FuelFill.filled_at) >= start, col(FuelFill.filled_at) < end)
    ).all()
    odd: Wanted = {}
    if not fills:
        return odd
    cars = {f.vehicle_id for f in fills}
    drove = set(
        session.exec(
            select(Trip.vehicle_id).where(col(Trip.vehicle_id).in_(cars), Trip.service_day == day)
        ).all()
    )
    at_station = set(
        session.exec(
            select(Stop.vehicle_id).where(
                col(Stop.vehicle_id).in_(cars), col(Stop.start_at) < end, col(Stop.end_at) >= start,
                Stop.place_kind == "fuel", col(Stop.place_inside).is_(True),
            )
        ).all()
    )  # fmt: skip
    tanks = {v.id: v.tank_l for v in session.exec(select(Vehicle).where(col(Vehicle.id).in_(cars))).all()}
    for f in fills:
        tank = tanks.get(f.vehicle_id) or settings.tank_litres
        why = ([] if f.vehicle_id in drove or f.vehicle_id in at_station else ["no_trip"]) + (
            ["over_tank"] if f.litres > tank else []
        )
        if why:
            when = f"{to_china(f.filled_at):%Y-%m-%d %H:%M}"
            said: dict[str, Any] = {
                "fuel_id": f.id, "filled_at": when, "litres": f.litres, "station": f.station, "why": why,
                "tank_l": tank,
            }  # fmt: skip
            odd[f"fuel:{f.id}"] = (f.vehicle_id, f.filled_at, f.filled_at, said)
    return odd


def _month_of_fuel(run: _Run, day: date) -> Wanted:
    """On a month's last day: each car's litres that month over its GPS km, outside the plausible range
    (one flag per car and month, key `month:vehicle:YYYY-MM`, dated on the last day)."""
    if (day + timedelta(days=1)).day != 1:
        return {}
    session, settings = run.session, get_settings()
    first = day.replace(day=1)
    lo, end = day_bounds(first)[0], day_bounds(day)[1]
    litres = dict(
        session.exec(
            _select(col(FuelFill.vehicle_id), func.sum(FuelFill.litres))
            .where(col(FuelFill.filled_at) >= lo, col(FuelFill.filled_at) < end)
            .group_by(col(FuelFill.vehicle_id))
        ).all()
    )
    if not litres:
        return {}
    metres = dict(
        session.exec(
            _select(col(Trip.vehicle_id), func.sum(Trip.distance_m))
            .where(
                col(Trip.vehicle_id).in_(list(litres)),
                col(Trip.service_day) >= first,
                col(Trip.service_day) <= day,
            )
            .group_by(col(Trip.vehicle_id))
        ).all()
    )
    band = (settings.fuel_l100km_min, settings.fuel_l100km_max)
    odd: Wanted = {}
    for vid, total in litres.items():
        km = float(metres.get(vid) or 0) / 1000
        rate = consumption(float(total), km)
        if rate is not None and not band[0] <= rate <= band[1]:
            detail = {
                "month": f"{first:%Y-%m}", "litres": round(float(total), 1), "km": round(km, 1),
                "l_per_100km": round(rate, 1), "band": list(band), "why": ["consumption"],
            }  # fmt: skip
            odd[f"month:{vid}:{first:%Y-%m}"] = (vid, day_bounds(day)[0], end, detail)
    return odd


@dataclass
class _Paper:
    """Each car's cover as inclusive date spans: its policies (start..end) and its inspections (day..next
    due). A car with none on file is not judged: gongwu does not hold its papers."""

    insured: dict[int, list[tuple[date, date]]]
    inspected: dict[int, list[tuple[date, date]]]

    @classmethod
    def load(cls, session: Session) -> _Paper:
        insured: dict[int, list[tuple[date, date]]] = defaultdict(list)
        inspected: dict[int, list[tuple[date, date]]] = defaultdict(list)
        for vid, lo, hi in session.exec(_select(Insurance.vehicle_id, Insurance.start_on, Insurance.end_on)):
            insured[vid].append((lo, hi))
        for vid, lo, hi in session.exec(
            _select(Inspection.vehicle_id, Inspection.inspected_on, Inspection.next_due_on)
        ):
            inspected[vid].append((lo, hi))
        return cls(dict(insured), dict(inspected))


_PAPERS = (("insurance", "insured"), ("inspection", "inspected"))


def _paper_checks(run: _Run, day: date) -> dict[str, int]:
    """保险 and 年检 as of `day`: a reminder GONGWU_DUE_REMINDER_DAYS before a car's cover ends unrenewed
    (insurance_due, inspection_due: one per car and end, resolved by a renewal or the car leaving
    service), and a flag for a car's trips on a day its cover had lapsed (uninsured_trip,
    uninspected_trip: one per car and day). Only a car with some paper from before the day is judged."""
    session = run.session
    if run.paper is None:
        run.paper = _Paper.load(session)
    ahead = get_settings().due_reminder_days
    drove: dict[int, list[Any]] = defaultdict(list)
    for vid, lo, hi in session.exec(
        _select(Trip.vehicle_id, Trip.start_at, Trip.end_at).where(Trip.service_day == day)
    ).all():
        drove[vid].append((lo, hi))
    counts: dict[str, int] = {}
    for (what, attr), (due_kind, lapsed_kind) in zip(
        _PAPERS, ((INSURANCE_DUE, UNINSURED), (INSPECTION_DUE, UNINSPECTED)), strict=True
    ):
        spans_of: dict[int, list[tuple[date, date]]] = getattr(run.paper, attr)
        due: dict[str, tuple[int, date]] = {}
        lapsed: Wanted = {}
        for vid, spans in spans_of.items():
            car = run.vehicles.get(vid)
            if (
                car is None
                or car.status in ("disposed", "disposal_approved")
                or not any(lo <= day for lo, _ in spans)
            ):
                continue
            until = cover_end(spans, day)
            if until is not None and (until - day).days <= ahead:
                due[f"{vid}:{until.isoformat()}"] = (vid, until)
            if until is None and vid in drove:
                last = max((hi for lo, hi in spans if hi < day), default=None)
                trips = drove[vid]
                detail = {
                    "day": day.isoformat(), "what": what, "trips": len(trips),
                    "lapsed_on": last.isoformat() if last else None,
                }  # fmt: skip
                lapsed[f"{vid}:{day.isoformat()}"] = (
                    vid, min(t[0] for t in trips), max(t[1] for t in trips), detail,
                )  # fmt: skip
        _due_flags(run, due_kind, what, due, spans_of)
        _day_flags(run, lapsed_kind, day, lapsed, REASON_COVERED_THEN)
        counts[f"{what}_due"] = len(due)
        counts[f"{what}_lapsed_trips"] = len(lapsed)
    return counts


def _due_flags(
    run: _Run, kind: str, what: str, due: dict[str, tuple[int, date]], spans_of: dict[int, list[Any]]
) -> None:
    """Raise the reminders due (key `vehicle:last day of cover`); an open one resolves once a cover on file
    goes past its day (a renewal, even a late one) or the car is disposed — not merely by the day passing."""
    session = run.session
    stmt = _select(*_FlagIndex.COLUMNS).where(
        Flag.kind == kind, or_(col(Flag.state) == "open", col(Flag.key).in_(sorted(due)))
    )
    known = _FlagIndex(session, session.exec(stmt).all())
    new = flags.NewFlags(run.tally)
    for key, (vid, until) in due.items():
        unit_id = run.unit_on(vid, until)
        at = day_bounds(until)[0]
        detail = {"due_on": until.isoformat(), "what": what}
        where = {"vehicle_id": vid, "unit_id": unit_id, "start_at": at, "end_at": at}
        row = known.get(key)
        if row is None:
            new.add(kind=kind, key=key, detail=detail, **where)
        elif row["state"] == "resolved":
            flags.reopen(session, run.tally, known.load(key), detail=detail, **where)
    for key, row in known.rows.items():
        if row["state"] != "open" or key in due:
            continue
        vid, until = row["vehicle_id"], date.fromisoformat(key.split(":", 1)[1])
        car = run.vehicles.get(vid)
        # a later cover on file, even one that began after a gap (the gap's trips are flagged apart)
        renewed = any(hi > until for _, hi in spans_of.get(vid, []))
        if car is None or car.status in ("disposed", "disposal_approved") or renewed:
            flags.resolve(session, run.tally, known.load(key), utcnow(), REASON_RENEWED)
    new.insert(session)


def _stop_covered(session: Session, stop: Stop, rules: Rules) -> bool:
    """An order of the car (approved, dispatched or returned) whose padded window overlaps the stop."""
    found = session.exec(
        select(TripOrder.id).where(
            TripOrder.vehicle_id == stop.vehicle_id,
            col(TripOrder.status).in_(COVERING),
            col(TripOrder.planned_start_at) <= from_ts(to_ts(stop.end_at) + rules.lead_s),
            col(TripOrder.planned_end_at) >= from_ts(to_ts(stop.start_at) - rules.lag_s),
        )
    ).first()
    return found is not None


def _orders_to_judge(
    run: _Run, orders: _Orders, known: _FlagIndex, now: datetime
) -> list[tuple[int, _Vehicle, str, int, int]]:
    """Resolve the flags of orders that are covered, no longer approved or not over; the orders without a
    trip whose window has passed, with their vehicle, the tracker it held then and the padded window, are
    left to judge."""
    session, rules, as_of, tally = run.session, run.rules, run.as_of, run.tally
    has_trip = _order_has_trip(session, orders, rules)
    judged: list[tuple[int, _Vehicle, str, int, int]] = []
    for i, oid in enumerate(orders.id):
        vehicle = run.vehicles.get(int(orders.vehicle[i]))
        closes = int(orders.end[i]) + rules.lag_s
        reason = ""
        if orders.status[i] not in COVERING:
            reason = REASON_NOT_APPROVED
        elif has_trip[i]:
            reason = REASON_TRACK_FOUND
        elif closes > to_ts(now):
            reason = REASON_NOT_PASSED  # its window was moved into the future
        elif closes > as_of or vehicle is None:
            continue  # a judgement as of an earlier day: leave it to the later one
        if reason:
            row = known.get(str(oid))
            if row is not None and row["state"] == "open":
                flags.resolve(session, tally, known.load(str(oid)), now, reason)
            continue
        assert vehicle is not None
        ws = int(orders.start[i]) - rules.lead_s
        held = run.timeline.of_vehicle(vehicle.id, ws, closes)
        if held:  # no tracker in the car then, no track to expect
            judged.append((i, vehicle, held[0].device, ws, closes))
    return judged


def _put_off(
    run: _Run,
    orders: _Orders,
    i: int,
    vehicle: _Vehicle,
    ws: int,
    gap: tuple[int | None, int | None],
    known: _FlagIndex,
) -> bool:
    """An order whose window lies in a quiet spell of its tracker: listed on the silent spell's flag when
    the spell is silent, or left until the tracker speaks again. True when it is not flagged itself."""
    last, spoke = gap
    quiet = (spoke if spoke is not None else run.as_of) - last if last is not None else None
    if quiet is None or quiet >= run.rules.silent_s:
        # The car may well have driven while its tracker was silent: list the order there.
        run.spells.silent(vehicle, last, spoke, run.as_of, orders=[orders.order_no[i]], start_hint=ws)
        row = known.get(str(orders.id[i]))
        if row is not None and row["state"] == "open":
            flags.resolve(run.session, run.tally, known.load(str(orders.id[i])), utcnow(), REASON_SILENT)
        return True
    return spoke is None  # quiet since before the window, not yet silent: judged when it speaks again


def _keep_without_track(
    run: _Run,
    orders: _Orders,
    i: int,
    vehicle: _Vehicle,
    window: tuple[int, int],
    known: _FlagIndex,
    new: flags.NewFlags,
) -> None:
    """The order_without_track flag of a passed order without a trip: raised, reopened or brought in line."""
    session, (ws, we) = run.session, window
    oid = orders.id[i]
    row = known.get(str(oid))
    detail = {"order_no": orders.order_no[i], "window_from": _iso(ws), "window_to": _iso(we)}
    where = {
        "vehicle_id": vehicle.id,
        "unit_id": orders.unit[i],
        "order_id": oid,
        "start_at": from_ts(int(orders.start[i])),
        "end_at": from_ts(int(orders.end[i])),
    }
    if row is None:
        new.add(kind=WITHOUT_TRACK, key=str(oid), detail=detail, **where)
    elif row["state"] == "resolved":
        if row["resolved_reason"] != REASON_SILENT:
            flags.reopen(session, run.tally, known.load(str(oid)), detail=detail, **where)
    elif _FlagIndex.differs(row, {"detail": detail, **where}):
        flags.refresh(session, known.load(str(oid)), detail=detail, **where)


# ---------------------------------------------------------------------------------- idle and silent


def _newer(detail: dict[str, Any], as_of: int) -> bool:
    stored = _ts_of(detail.get("as_of"))
    return stored is None or as_of >= stored


class _Spells:
    """Upserts idle and silent spell flags within one run (a spell may be met twice: by an order in its
    gap and by the judgement at the end of the day)."""

    def __init__(self, session: Session, tally: flags.Tally, rules: Rules) -> None:
        self.session, self.tally, self.rules = session, tally, rules
        self._cache: dict[tuple[str, str], Flag | None] = {}

    def _get(self, kind: str, key: str) -> Flag | None:
        if (kind, key) not in self._cache:
            self._cache[(kind, key)] = flags.by_keys(self.session, kind, [key]).get(key)
        return self._cache[(kind, key)]

    def silent(
        self,
        vehicle: _Vehicle,
        since: int | None,
        resumed: int | None,
        as_of: int,
        *,
        orders: Sequence[str] = (),
        start_hint: int | None = None,
    ) -> Flag | None:
        key = f"{vehicle.id}:{since if since is not None else 'never'}"
        flag = self._get(SILENT, key)
        # A tracker never heard: its spell starts when the vehicle was registered (or its first order).
        start = since if since is not None else min(to_ts(vehicle.created_at), as_of, start_hint or as_of)
        until = resumed if resumed is not None else as_of
        detail: dict[str, Any] = {
            "since": _iso(since),
            "hours": max(until - start, 0) // 3600,
            "as_of": _iso(as_of),
            "resumed_at": _iso(resumed),
            "orders": sorted(set(orders)),
        }
        if flag is None:
            if resumed is not None and not orders:
                return None  # a spell that is over and bothered no order: nothing to say any more
            over: dict[str, Any] = {}
            if resumed is not None:  # a spell found after it ended (an order in an old gap): born resolved
                at = from_ts(resumed)
                over = {"state": "resolved", "end_at": at, "resolved_at": at, "resolved_reason": REASON_SPOKE}
                self.tally.note("resolved", SILENT)
            return self._raise(SILENT, key, vehicle, start, detail, **over)
        merged = sorted(set(flag.detail.get("orders", [])) | set(orders))
        if flag.state == "open" and _newer(flag.detail, as_of):
            new = detail | {"orders": merged}
            if resumed is not None:
                flags.resolve(
                    self.session, self.tally, flag, from_ts(resumed), REASON_SPOKE, end_at=from_ts(resumed)
                )
            flags.refresh(self.session, flag, detail=new)
        elif merged != flag.detail.get("orders", []):
            flags.refresh(self.session, flag, detail=flag.detail | {"orders": merged})
        elif flag.state == "resolved" and flag.resolved_reason == REASON_NOT_IN_SERVICE and resumed is None:
            flags.reopen(self.session, self.tally, flag, detail=detail)
        return flag

    def _raise(self, kind: str, key: str, vehicle: _Vehicle, start: int, detail: Any, **over: Any) -> Flag:
        flag = flags.raise_flag(
            self.session, self.tally, kind=kind, key=key, vehicle_id=vehicle.id, unit_id=vehicle.unit_id,
            start_at=from_ts(start), detail=detail, **over,
        )  # fmt: skip
        self._cache[(kind, key)] = flag
        return flag

    def idle(self, vehicle: _Vehicle, since: int, as_of: int) -> Flag:
        key = f"{vehicle.id}:{since}"
        flag = self._get(IDLE, key)
        detail = {"since": _iso(since), "days": (as_of - since) // 86400, "as_of": _iso(as_of)}
        if flag is None:
            flag = self._raise(IDLE, key, vehicle, since, detail)
        elif flag.state == "open":
            if _newer(flag.detail, as_of):
                flags.refresh(self.session, flag, detail=detail)
        elif flag.resolved_reason == REASON_NOT_IN_SERVICE:
            flags.reopen(self.session, self.tally, flag, detail=detail)
        return flag


def _spell_since(flag: Flag) -> int | None:
    tail = flag.key.rsplit(":", 1)[-1]
    return None if tail == "never" else int(tail)


def _judge_spells(run: _Run, *, idle: bool) -> None:
    """Silent trackers (and idle vehicles) as of the run's moment, an exclusive bound."""
    session, rules, as_of, spells = run.session, run.rules, run.as_of, run.spells
    last_fix = (
        select(func.max(Position.fix_ts))
        .where(col(Position.device_id) == col(Vehicle.tracker_id), Position.fix_ts < as_of)
        .scalar_subquery()
    )
    last_trip_end = (
        select(Trip.end_at)
        .where(col(Trip.vehicle_id) == col(Vehicle.id), col(Trip.start_at) < from_ts(as_of))
        .order_by(col(Trip.start_at).desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = session.exec(
        _select(col(Vehicle.id), last_fix, last_trip_end).where(
            Vehicle.status == "in_service", col(Vehicle.tracker_id).is_not(None)
        )
    ).all()
    current: dict[tuple[str, int | None], str] = {}
    for vid, last, trip_end in rows:
        vehicle = run.vehicles[vid]
        assert vehicle.tracker_id is not None
        held = run.timeline.vehicle_segment_at(vid, as_of - 1)
        if held is None or held.device != vehicle.tracker_id:
            continue  # no tracker in the car at that moment (a run of an earlier day): nothing to judge
        if held.start != OPEN_START and (last is None or last < held.start):
            # a tracker newly put in: quiet since its installation, not since its last car
            if as_of - held.start >= rules.silent_s:
                spells.silent(vehicle, held.start, None, as_of)
            continue
        if last is None:
            if as_of - to_ts(vehicle.created_at) >= rules.silent_s:
                spells.silent(vehicle, None, None, as_of)
            continue
        if as_of - last >= rules.silent_s:
            spells.silent(vehicle, last, None, as_of)
            continue
        if not idle:
            continue
        if trip_end is not None:
            since = to_ts(trip_end)
        else:
            since = session.exec(
                select(func.min(Position.fix_ts)).where(Position.device_id == vehicle.tracker_id)
            ).one()
        # time without a tracker is not idle time (无终端: nothing is known of the car then)
        if (
            since is not None
            and since < as_of
            and (as_of - since - run.timeline.untracked_s(vid, since, as_of) >= rules.idle_s)
        ):
            current[(IDLE, vid)] = spells.idle(vehicle, since, as_of).key

    kinds = [SILENT, IDLE] if idle else [SILENT]
    for flag in session.exec(select(Flag).where(col(Flag.kind).in_(kinds), Flag.state == "open")).all():
        _end_spell(run, flag, current)


def _end_spell(run: _Run, flag: Flag, current: dict[tuple[str, int | None], str]) -> None:
    session, as_of, tally = run.session, run.as_of, run.tally
    vehicle = run.vehicles.get(flag.vehicle_id)
    if vehicle is None or vehicle.status != "in_service" or not vehicle.tracker_id:
        now = utcnow()
        reason = (
            REASON_NOT_IN_SERVICE if vehicle is None or vehicle.status != "in_service" else REASON_REMOVED
        )
        flags.resolve(session, tally, flag, now, reason, end_at=now)
        return
    since = _spell_since(flag)
    if flag.kind == SILENT:
        spoke = _fix_after(session, vehicle.tracker_id, since if since is not None else -1, as_of)
        if spoke is not None:
            detail = flag.detail | {
                "resumed_at": _iso(spoke),
                "hours": (spoke - to_ts(flag.start_at)) // 3600,
            }
            flags.resolve(
                session, tally, flag, from_ts(spoke), REASON_SPOKE, end_at=from_ts(spoke), detail=detail
            )
        return
    assert since is not None
    moved = session.exec(
        select(func.min(Trip.start_at)).where(
            Trip.vehicle_id == vehicle.id,
            col(Trip.start_at) > from_ts(since),
            col(Trip.start_at) < from_ts(as_of),
        )
    ).one()
    if moved is not None:
        detail = flag.detail | {"days": (to_ts(moved) - since) // 86400, "moved_at": _iso(to_ts(moved))}
        flags.resolve(session, tally, flag, moved, REASON_MOVED, end_at=moved, detail=detail)
    elif current.get((IDLE, vehicle.id), flag.key) != flag.key and _newer(flag.detail, as_of):
        flags.resolve(session, tally, flag, from_ts(as_of), REASON_SUPERSEDED, end_at=from_ts(as_of))


# ----------------------------------------------------------------------------------------- entry points


def reconcile_day(
    session: Session, day: date, *, rules: Rules | None = None, compliance_rules: bool = True
) -> dict[str, int]:
    """Reconcile one China day: match its trips (and re-check older open flags), flag orders whose window
    closed that day, and judge idle vehicles and silent trackers as of the day's end. Idempotent."""
    rules = rules or Rules.from_settings()
    day_start, day_end = (to_ts(t) for t in day_bounds(day))
    run = _Run.start(session, rules, day_end)
    tally = run.tally

    # the trips' tags and the flags they call for (off only to measure what they cost: bench_rules)
    judged = tags.current_rules(session)
    day_rows = session.exec(_trip_select().where(Trip.service_day == day)).all()
    tagged = DayTags()
    if compliance_rules:
        tag_rows = [tuple(r[k] for k in _AS_TAG_ROW) for r in day_rows]
        with gc_paused():  # a shapely point per trip end and per fix read
            tagged = tags.tag_day(session, day, judged, tag_rows)
    trips = _as_trips(list(day_rows) + _trips_to_recheck(session, day))
    trips.tags = [tagged.tags.get(tid, bits) for tid, bits in zip(trips.id, trips.tags, strict=True)]
    best = _rematch(session, trips, rules, tally)
    if compliance_rules:
        with gc_paused():
            _rule_flags(session, tally, trips, best, day, tagged, judged)
    in_day = [d == day for d in trips.day]
    tally["trips"] += sum(in_day)
    tally["covered"] += sum(1 for b, d in zip(best, in_day, strict=True) if b and d)
    session.flush()

    orders = _orders_to_check(session, run.vehicles, rules, day_start, day_end)
    _check_orders(run, orders)
    session.flush()
    nights: dict[str, int] = {}
    if compliance_rules:
        with gc_paused():
            _wrong_vehicle(run, orders)
            nights = (
                _away_overnight(run, day, judged)
                | _sensitive_stops(run, day, judged)
                | _cost_checks(run, day)
            )
        session.flush()
    _judge_spells(run, idle=True)
    session.flush()
    counts = tally.as_dict() | tagged.counts | nights
    log(
        logger,
        "reconciled",
        day=day,
        trips=counts["trips"],
        raised=counts["raised"],
        resolved=counts["resolved"],
    )
    return counts


def judge_costs(session: Session, first: date, last: date) -> dict[str, int]:
    """The running-cost checks alone over first..last (after a fuel, workshop, insurance, inspection or
    cost file came in: the paper usually arrives after the night that judged its day)."""
    run = _Run.start(session, Rules.from_settings(), to_ts(day_bounds(last)[1]))
    counts: dict[str, int] = defaultdict(int)
    for i in range((last - first).days + 1):
        for key, value in _cost_checks(run, first + timedelta(days=i)).items():
            counts[key] += value
    session.flush()
    return run.tally.as_dict() | dict(counts)


def check_tracker_health(session: Session, now: datetime | None = None) -> dict[str, int]:
    """The hourly job: raise and resolve silent_tracker flags as of now."""
    run = _Run.start(session, Rules.from_settings(), to_ts(now or utcnow()) + 1)
    tally = run.tally
    _judge_spells(run, idle=False)
    session.flush()
    open_count = session.exec(
        select(func.count()).select_from(Flag).where(Flag.kind == SILENT, Flag.state == "open")
    ).one()
    return {
        "silent_raised": tally[f"{SILENT}_raised"],
        "silent_resolved": tally[f"{SILENT}_resolved"],
        "silent_open": int(open_count),
    }


def recheck_orders(
    session: Session, order_ids: Sequence[int], *, rules: Rules | None = None
) -> dict[str, int]:
    """After orders were entered, changed or cancelled: re-match the already reconciled trips they cover
    or could cover, and re-judge their order_without_track flags — so a late order resolves its flag at
    once instead of at the next nightly run. Trips not reconciled yet are left to the nightly run."""
    rules = rules or Rules.from_settings()
    tally = flags.Tally()
    ids = sorted(set(order_ids))
    rows: list[Any] = []
    for chunk in _chunks(ids):
        rows += session.exec(_select(*_ORDER_COLS).where(col(TripOrder.id).in_(chunk))).all()
    orders = _as_orders(rows)
    if not orders.id:
        return tally.as_dict()
    trips: list[Any] = []
    for chunk in _chunks(orders.id):
        trips += session.exec(_trip_select().where(col(Trip.order_id).in_(chunk))).all()
    near = _trips_near(session, orders, rules)
    flagged: set[int] = set()
    for chunk in _chunks([r[0] for r in near]):
        found = session.exec(
            select(Flag.trip_id).where(Flag.kind == UNREPORTED, col(Flag.trip_id).in_(chunk))
        ).all()
        flagged |= {t for t in found if t is not None}
    trips += [r for r in near if r[5] is not None or r[0] in flagged]
    _rematch(session, _as_trips(trips), rules, tally)
    session.flush()
    owt = _FlagIndex.of_orders(session, orders.id).rows
    keep = [i for i, oid in enumerate(orders.id) if str(oid) in owt]
    if keep:
        subset = _Orders(
            id=[orders.id[i] for i in keep],
            vehicle=orders.vehicle[keep],
            start=orders.start[keep],
            end=orders.end[keep],
            order_no=[orders.order_no[i] for i in keep],
            unit=[orders.unit[i] for i in keep],
            status=[orders.status[i] for i in keep],
            late=[orders.late[i] for i in keep],
        )
        _check_orders(_Run.start(session, rules, to_ts(utcnow()), tally), subset)
    session.flush()
    return tally.as_dict()
