"""Feed bookkeeping: per source and device, the last fix, last contact, counts and the pull watermark;
JT/T 808 terminals with their hashed auth codes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.models import UtcDateTime, created_at_field, json_field


class FeedDevice(SQLModel, table=True):
    __tablename__ = "ingest_feed_device"
    __table_args__ = (UniqueConstraint("source", "device_id"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    device_id: str = Field(max_length=32, index=True)
    last_fix_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_contact_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    watermark_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    accepted: int = Field(default=0, sa_type=BigInteger)
    rejected: dict[str, Any] = json_field({})


class Jt808Terminal(SQLModel, table=True):
    __tablename__ = "ingest_jt808_terminal"

    id: int | None = Field(default=None, primary_key=True)
    terminal_id: str = Field(max_length=20, unique=True)
    device_id: str = Field(max_length=32, index=True)
    auth_hash: str = Field(max_length=255)
    registered_at: datetime = created_at_field()
    last_auth_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
