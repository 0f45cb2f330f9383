"""Tables every domain shares: units (organisations) and the audit log; and the column types that carry the
project's conventions (aware UTC datetimes, scaled integers)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Dialect, Index, Integer, TypeDecorator
from sqlmodel import Field, SQLModel

from core.labels import Coded
from core.timeutil import utcnow

# Explicit, stable constraint names on both databases (and in migrations).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC in and out. SQLite keeps no zone, so it stores naive UTC and we put the zone back."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ScaledInt(TypeDecorator[float]):
    """A float stored as an integer of `1/scale` units: coordinates in 1e-7 degrees (1 cm) and speeds in
    0.1 km/h fit in 4 and 2 bytes on SQLite where a REAL takes 8 — the position table is the big one."""

    impl = Integer
    cache_ok = True

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def process_bind_param(self, value: float | None, dialect: Dialect) -> int | None:
        return None if value is None else round(value * self.scale)

    def process_result_value(self, value: int | None, dialect: Dialect) -> float | None:
        return None if value is None else value / self.scale


def created_at_field() -> Any:
    return Field(default_factory=utcnow, sa_type=UtcDateTime, nullable=False)


def json_field(default: Any = None) -> Any:
    if default is None:
        return Field(default=None, sa_column=Column(JSON, nullable=True))
    return Field(default_factory=lambda: type(default)(), sa_column=Column(JSON, nullable=False))


class UnitKind(Coded):
    township = "township", "乡镇", "Township"
    department = "department", "县直单位", "County department"


UNIT_KINDS = UnitKind.codes()


class Unit(SQLModel, table=True):
    """单位: a township (乡镇) or a county department (县直单位)."""

    __tablename__ = "core_unit"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    kind: str = Field(max_length=16)
    # 办公地点 (WGS-84): the home of its cars that have no 停放点 of their own
    lat: float | None = None
    lon: float | None = None
    created_at: datetime = created_at_field()


class AuditLog(SQLModel, table=True):
    """Append-only: every change with who, when, what before and after. No code path updates or deletes a
    row, and triggers refuse it on both databases (migration 0003), an insert onto an existing id too.
    Rows are chained when their transaction commits (core/audit.py seals them): `seq` numbers them,
    `hash` is SHA-256 over the previous row's hash and this row's content; `gongwu audit verify` checks."""

    __tablename__ = "core_audit_log"
    __table_args__ = (Index("ix_core_audit_log_seq", "seq", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = created_at_field()
    actor: str = Field(max_length=64, index=True)
    action: str = Field(max_length=64, index=True)
    entity: str = Field(max_length=64)
    entity_id: str = Field(default="", max_length=64)
    before: dict[str, Any] | None = json_field()
    after: dict[str, Any] | None = json_field()
    detail: str = Field(default="", max_length=2000)
    seq: int | None = Field(default=None, sa_type=BigInteger)
    prev_hash: str | None = Field(default=None, max_length=64)
    hash: str | None = Field(default=None, max_length=64)
