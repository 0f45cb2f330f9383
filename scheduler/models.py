"""Run history of scheduled jobs and the lock that keeps one nightly run at a time."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlmodel import Field, SQLModel

from core.labels import Coded
from core.models import UtcDateTime, created_at_field, json_field


class RunStatus(Coded):
    running = "running", "运行中", "Running"
    succeeded = "succeeded", "成功", "Succeeded"
    failed = "failed", "失败", "Failed"
    skipped = "skipped", "已跳过", "Skipped"


RUN_STATUSES = RunStatus.codes()


class JobRun(SQLModel, table=True):
    __tablename__ = "scheduler_run"

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=64, index=True)
    started_at: datetime = created_at_field()
    finished_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    status: str = Field(default="running", max_length=12)
    day_from: date | None = None
    day_to: date | None = None
    counts: dict[str, Any] = json_field({})
    error: str = Field(default="", max_length=4000)


class RunLock(SQLModel, table=True):
    """A lock row (SQLite); PostgreSQL uses an advisory lock instead."""

    __tablename__ = "scheduler_lock"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=200)
    acquired_at: datetime = Field(sa_type=UtcDateTime)
    expires_at: datetime = Field(sa_type=UtcDateTime)
