"""Run history of scheduled jobs and the lock that keeps one nightly run at a time."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger
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


class ImportStatus(Coded):
    queued = "queued", "排队中", "Queued"
    running = "running", "导入中", "Running"
    done = "done", "已完成", "Done"
    rejected = "rejected", "有误，未导入", "Rejected"
    failed = "failed", "失败", "Failed"


IMPORT_FINISHED = frozenset({ImportStatus.done, ImportStatus.rejected, ImportStatus.failed})


class ImportJob(SQLModel, table=True):
    """A file handed in for import (page or API): stored on disk at once, imported by the server's worker
    off the request, so an upload answers in a moment and the server keeps answering meanwhile. The
    status and report are written in the import's own transaction: `done` means the rows are in."""

    __tablename__ = "scheduler_import_job"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    filename: str = Field(max_length=255)
    stored_as: str = Field(max_length=500)  # the upload on the server's disk (removed once finished)
    size: int = Field(sa_type=BigInteger)
    sha256: str = Field(max_length=64)
    options: dict[str, Any] = json_field({})  # dry_run, skip_bad, sheet
    actor: str = Field(max_length=64)
    user_id: int | None = Field(default=None, foreign_key="core_user.id", index=True)
    status: str = Field(default=ImportStatus.queued, max_length=12, index=True)
    worker: str = Field(default="", max_length=200)  # host:pid of the process importing it
    created_at: datetime = created_at_field()
    started_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    rows_read: int = 0  # progress (PostgreSQL: updated as it goes; SQLite: in the worker's memory)
    rows_total: int | None = None
    report: dict[str, Any] | None = json_field()
    error: str = Field(default="", max_length=4000)
