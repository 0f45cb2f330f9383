"""Reads of the run history: the runs page, the API and the home page's last run."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from scheduler.models import JobRun


def runs_query(*, job: str | None = None) -> Any:
    stmt = select(JobRun).order_by(col(JobRun.started_at).desc())
    return stmt.where(JobRun.job == job) if job else stmt


def recent_runs(session: Session, limit: int = 20) -> list[JobRun]:
    return list(session.exec(runs_query().limit(limit)).all())
