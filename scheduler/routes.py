"""Run history API under /api/v1."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from sqlmodel import col, select

from core.api import ListOut, PageDep, SessionDep, paginate
from scheduler.models import JobRun

router = APIRouter(tags=["scheduler"])


class RunPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    job: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    day_from: date | None
    day_to: date | None
    counts: dict[str, Any]
    error: str


@router.get("/runs", response_model=ListOut[RunPublic])
def list_runs(session: SessionDep, page: PageDep, job: str | None = None) -> ListOut[RunPublic]:
    stmt = select(JobRun).order_by(col(JobRun.started_at).desc())
    if job:
        stmt = stmt.where(JobRun.job == job)
    rows, count = paginate(session, stmt, page)
    return ListOut(data=[RunPublic.model_validate(r) for r in rows], count=count)
