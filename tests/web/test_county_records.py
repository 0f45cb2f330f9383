"""What the demo county's import and nightly run leave behind follows the house rules: audit actions named
``<object>.<verb>``, each with a real actor, and flag details in the shape their kind declares
(fleet/flags.py KINDS)."""

from __future__ import annotations

import re
from typing import get_type_hints

from pydantic import TypeAdapter
from sqlmodel import Session, select

from core.models import AuditLog
from fleet.flags import KINDS
from fleet.models import Flag, FlagKind
from tests.web.conftest import County


def test_audit_actions_follow_one_scheme(county: County) -> None:
    with Session(county.engine) as s:
        rows = s.exec(select(AuditLog.action, AuditLog.actor).distinct()).all()
    actions = {a for a, _ in rows}
    assert {"flag.raise", "vehicle.create", "office_property.create"} <= actions, actions
    assert [a for a in actions if not re.fullmatch(r"[a-z_]+\.[a-z_]+", a)] == []
    assert all(actor for _, actor in rows)


def test_flag_details_follow_their_kind(county: County) -> None:
    with Session(county.engine) as s:
        found = s.exec(select(Flag.kind, Flag.detail)).all()
    assert {k for k, _ in found} >= {FlagKind.unreported_trip, FlagKind.order_without_track}
    for kind, detail in found:
        schema = KINDS[FlagKind(kind)].detail
        assert set(detail) <= set(get_type_hints(schema)), (kind, detail)
        assert getattr(schema, "__required_keys__", frozenset()) <= set(detail), (kind, detail)
        TypeAdapter(schema).validate_python(detail, strict=True)
