from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlmodel import Session, select

from core import audit
from core.models import AuditLog
from fleet.models import Position, TripOrder
from tests.factories import make_order, make_vehicle


def test_datetimes_come_back_aware_utc(session: Session) -> None:
    vehicle = make_vehicle(session)
    china = timezone(timedelta(hours=8))
    order = make_order(session, vehicle, planned_start_at=datetime(2024, 6, 1, 8, 0, tzinfo=china))
    session.expire_all()
    stored = session.get(TripOrder, order.id)
    assert stored is not None
    assert stored.planned_start_at == datetime(2024, 6, 1, 0, 0, tzinfo=UTC)
    assert stored.planned_start_at.tzinfo is not None
    assert stored.planned_start_at.utcoffset() == timedelta(0)


def test_naive_datetime_is_refused(session: Session) -> None:
    vehicle = make_vehicle(session)
    with pytest.raises(StatementError, match="naive datetime"):
        make_order(session, vehicle, planned_start_at=datetime(2024, 6, 1, 8, 0))


def test_position_is_unique_per_device_and_time(session: Session) -> None:
    from fleet import partitions

    partitions.ensure(session.connection(), [(2024, 6)])  # PostgreSQL: the month's partition
    session.add(Position(device_id="13900001111", fix_ts=1_717_200_000, lat=36.1, lon=113.1))
    session.flush()
    session.add(Position(device_id="13900001111", fix_ts=1_717_200_000, lat=36.2, lon=113.2))
    with pytest.raises(IntegrityError):
        session.flush()


def test_audit_log_is_append_only(session: Session) -> None:
    audit.record(session, actor="admin", action="test", entity="unit", entity_id=1, after={"name": "x"})
    session.flush()
    row = session.exec(select(AuditLog).where(AuditLog.action == "test")).one()
    assert row.after == {"name": "x"}
    for stmt in ("UPDATE core_audit_log SET actor = 'mallory'", "DELETE FROM core_audit_log"):
        nested = session.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(stmt))
        nested.rollback()
    assert session.exec(select(AuditLog).where(AuditLog.action == "test")).one().actor == "admin"
