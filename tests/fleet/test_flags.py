"""fleet/flags.py, the one writer of flag rows: every change of state lands in the audit log."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, col, select

from core.models import AuditLog
from fleet import flags
from fleet.models import Flag
from tests.factories import make_trip, make_vehicle

START = datetime(2024, 6, 3, 1, 0, tzinfo=UTC)


def test_trips_re_cut_away_resolve_their_open_flags_with_an_audit_row_each(session: Session) -> None:
    v = make_vehicle(session)
    gone, kept = make_trip(session, v, START), make_trip(session, v, START.replace(hour=5))
    tally = flags.Tally()
    ids = []
    for trip in (gone, kept):
        assert trip.id is not None
        f = flags.raise_flag(
            session, tally, kind="unreported_trip", key=f"{v.tracker_id}:{trip.id}", vehicle_id=v.id,
            unit_id=v.unit_id, trip_id=trip.id, start_at=trip.start_at, detail={},
        )  # fmt: skip
        session.flush()
        ids.append(f.id)
    assert gone.id is not None

    flags.detach_trips(session.connection(), [gone.id], "re-cut")
    session.expire_all()
    a, b = (session.get(Flag, i) for i in ids)
    assert a is not None and (a.state, a.trip_id, a.resolved_reason) == ("resolved", None, "re-cut")
    assert b is not None and (b.state, b.trip_id) == ("open", kept.id)
    rows = session.exec(
        select(AuditLog).where(AuditLog.entity == "fleet_flag", AuditLog.action == "flag.resolve")
    ).all()
    assert [(r.entity_id, r.actor, r.after) for r in rows] == [
        (str(ids[0]), "system", {"state": "resolved", "reason": "re-cut"})
    ]
    raised = session.exec(select(AuditLog.entity_id).where(col(AuditLog.action) == "flag.raise")).all()
    assert sorted(raised) == sorted(str(i) for i in ids)
