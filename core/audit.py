"""Writing to the append-only audit log."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from core.models import AuditLog


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: Any = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: str = "",
) -> AuditLog:
    row = AuditLog(
        actor=actor,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        before=before,
        after=after,
        detail=detail[:2000],
    )
    session.add(row)
    return row
