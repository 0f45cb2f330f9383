"""Reads of the accounts domain: the user list and the audit log reader."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select

from accounts.models import User
from accounts.schemas import AuditFilters
from core.models import AuditLog
from core.timeutil import as_utc


def users_query(*, role: str | None = None, active: bool | None = None, q: str | None = None) -> Any:
    stmt = select(User).order_by(col(User.username))
    if role:
        stmt = stmt.where(User.role == role)
    if active is not None:
        stmt = stmt.where(User.is_active == active)
    if q:
        stmt = stmt.where(col(User.username).contains(q, autoescape=True))
    return stmt


def _audit_query(
    actor_: str | None,
    action: str | None,
    entity: str | None,
    entity_id: str | None,
    since: datetime | None,
    until: datetime | None,
    q: str | None,
) -> Any:
    stmt = select(AuditLog).order_by(col(AuditLog.id).desc())
    if actor_:
        stmt = stmt.where(AuditLog.actor == actor_)
    if action:
        # "login." (a trailing dot) selects a family: login.failed, login.succeeded, ...
        action_col = col(AuditLog.action)
        stmt = stmt.where(action_col.startswith(action) if action.endswith(".") else action_col == action)
    if entity:
        stmt = stmt.where(AuditLog.entity == entity)
    if entity_id:
        stmt = stmt.where(AuditLog.entity_id == entity_id)
    if since:
        stmt = stmt.where(col(AuditLog.at) >= as_utc(since))
    if until:
        stmt = stmt.where(col(AuditLog.at) < as_utc(until))
    if q:
        stmt = stmt.where(col(AuditLog.detail).contains(q, autoescape=True))
    return stmt


def audit_query(f: AuditFilters) -> Any:
    """The audit log filtered, newest first."""
    return _audit_query(f.actor, f.action, f.entity, f.entity_id, f.since, f.until, f.q)
