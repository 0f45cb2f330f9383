"""The morning digest (issue 24): after the nightly run, each user's list of what needs them, scoped as
their pages are — the manager: new flags by kind (high severity first), orders awaiting the center or a
car, tracker checks due; a unit: its new flags to answer and the requests awaiting its approval; the
clerk: leases ending, overdue certificate steps, takeovers and rent; a driver: the orders dispatched to
them. One notification (kind `digest`) per user and day, in the inbox; its lines are codes and counts,
worded when shown. `gongwu notify digest --dry-run` prints what would be sent to whom."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from accounts import notify
from accounts.notify import UNIT_ROLES
from core.settings import get_settings
from core.timeutil import day_bounds
from fleet import queries as fleet_queries
from fleet.flags import KINDS as FLAG_SPECS
from fleet.models import Driver, Flag, FlagKind, OrderStatus, TripOrder
from property.models import PropertyAlert

MANAGER_ROLES = ("admin", "vehicle_manager")
CLERK_ROLES = ("admin", "property_clerk")
CLERK_LINES = (
    "lease_ending_30",
    "lease_ending_90",
    "certificate_overdue",
    "takeover_overdue",
    "rent_overdue",
)


@dataclass(frozen=True)
class Line:
    code: str
    n: int
    kind: str = ""  # a flag kind, for new_flag

    def as_param(self) -> list[Any]:
        return [self.code, self.n, self.kind]


def _new_flags(session: Session, since: Any, unit_id: int | None) -> Counter[str]:
    stmt = select(Flag.kind, func.count()).where(col(Flag.raised_at) >= since, Flag.state == "open")
    if unit_id is not None:
        stmt = stmt.where(Flag.unit_id == unit_id)
    return Counter(dict(session.exec(stmt.group_by(col(Flag.kind))).all()))


def _orders(session: Session, status: str, unit_id: int | None = None) -> list[TripOrder]:
    stmt = select(TripOrder).where(TripOrder.status == status)
    if unit_id is not None:
        stmt = stmt.where(TripOrder.unit_id == unit_id)
    return list(session.exec(stmt).all())


def lines_for(session: Session, user: Any, day: date) -> list[Line]:
    """What the digest of `day` tells `user` — only what their role and unit may see."""
    s = get_settings()  # raised since yesterday's digest: a night's flags are told once
    since = day_bounds(day - timedelta(days=1))[0] + timedelta(hours=s.digest_hour, minutes=s.digest_minute)
    out: list[Line] = []
    if user.role in MANAGER_ROLES:
        new = _new_flags(session, since, None)
        ordered = sorted(new, key=lambda k: (FLAG_SPECS[FlagKind(k)].severity != "high", k))
        out += [Line("new_flag", new[k], k) for k in ordered]
        submitted = _orders(session, OrderStatus.submitted)
        center = [o for o in submitted if _awaits(session, o) == 2]
        out += [Line("awaiting_center", len(center)), Line("to_dispatch", len(_orders(session, "approved")))]
        trackers = fleet_queries.tracker_report(session, day)
        out.append(Line("checks_due", sum(1 for r in trackers if r["state"] in ("due", "overdue"))))
    if user.role in UNIT_ROLES and user.unit_id is not None and user.role != "driver":
        unit_new = _new_flags(session, since, user.unit_id)
        out.append(Line("to_answer", unit_new.get(FlagKind.unreported_trip.value, 0)))
        if user.role == "unit_approver":
            waiting = [
                o for o in _orders(session, OrderStatus.submitted, user.unit_id) if _awaits(session, o) == 1
            ]
            out.append(Line("to_approve", len(waiting)))
    if user.role == "driver":
        mine = session.exec(select(Driver.id).where(Driver.user_id == user.id)).all()
        tasks = [o for o in _orders(session, OrderStatus.dispatched) if o.driver_id in set(mine)]
        out.append(Line("my_tasks", len(tasks)))
    if user.role in CLERK_ROLES:
        open_alerts = Counter(
            dict(
                session.exec(
                    select(PropertyAlert.kind, func.count())
                    .where(col(PropertyAlert.resolved_at).is_(None))
                    .group_by(col(PropertyAlert.kind))
                ).all()
            )
        )
        out += [Line(k, open_alerts.get(k, 0)) for k in CLERK_LINES]
    return [line for line in out if line.n]


def _awaits(session: Session, order: TripOrder) -> int | None:
    from fleet import service

    return service.pending_level(session, order)


def run_digest(session: Session, day: date, *, dry_run: bool = False) -> list[tuple[Any, list[Line]]]:
    """Each active user's digest of `day` (those with nothing to say get none); written to the inbox
    unless `dry_run`, once per user and day."""
    out = []
    for user in notify.active_users(session):
        lines = lines_for(session, user, day)
        if not lines:
            continue
        out.append((user, lines))
        if not dry_run:
            params = {"date": day.isoformat(), "lines": [line.as_param() for line in lines]}
            notify.notify(session, [user], "digest", params, url="/inbox", key=f"digest:{day.isoformat()}")
    return out
