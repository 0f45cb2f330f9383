"""The nightly pipeline: pull positions → cut trips for touched ranges → reconcile the day(s) → raise and
resolve flags → property reminders. Every day since the last completed one is processed (catch-up), each
day in its own transaction; a failed step fails the run visibly and the next run retries from that day.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.logs import log
from core.timeutil import china_day, utcnow
from scheduler.lock import Busy, run_lock
from scheduler.models import JobRun

logger = logging.getLogger(__name__)

NIGHTLY = "nightly"
# A step gets the day's session and the day; it returns counts for the run history.
Step = Callable[[Session, date], dict[str, Any]]


def _pull(session: Session, day: date) -> dict[str, Any]:
    from ingest import sources

    return sources.pull_all(session, until_day=day)


def _cut(session: Session, day: date) -> dict[str, Any]:
    from fleet.trips import recut_pending

    c = recut_pending(session)
    return {"trips_added": c.trips_added, "trips_removed": c.trips_removed, "devices_recut": c.devices}


def _reconcile(session: Session, day: date) -> dict[str, Any]:
    from fleet import reconcile

    return reconcile.reconcile_day(session, day)


def _property(session: Session, day: date) -> dict[str, Any]:
    from property import service as property_service

    return property_service.raise_property_alerts(session, day + timedelta(days=1))


@dataclass(frozen=True)
class StepDef:
    name: str
    run: Step
    available: Callable[[], bool] = lambda: True


def _has(module: str, attr: str) -> Callable[[], bool]:
    def check() -> bool:
        import importlib

        try:
            return hasattr(importlib.import_module(module), attr)
        except ImportError:
            return False

    return check


STEPS: list[StepDef] = [
    StepDef("pull", _pull, _has("ingest.sources", "pull_all")),
    StepDef("cut", _cut),
    StepDef("reconcile", _reconcile, _has("fleet.reconcile", "reconcile_day")),
    StepDef("property", _property, _has("property.service", "raise_property_alerts")),
]


def yesterday() -> date:
    return china_day(utcnow()) - timedelta(days=1)


def last_completed_day(session: Session) -> date | None:
    return session.exec(select(func.max(JobRun.day_to)).where(JobRun.job == NIGHTLY)).one()


def days_to_run(session: Session, *, since: date | None, until: date | None) -> list[date]:
    until = until or yesterday()
    if since is None:
        last = last_completed_day(session)
        since = last + timedelta(days=1) if last else until
    return [since + timedelta(days=i) for i in range((until - since).days + 1)]


@dataclass
class RunOutcome:
    run_id: int | None
    status: str
    days: list[date]
    counts: dict[str, Any]
    error: str = ""


def run_nightly(
    engine: Engine,
    *,
    since: date | None = None,
    until: date | None = None,
    steps: list[StepDef] | None = None,
    on_day: Callable[[date], None] | None = None,
) -> RunOutcome:
    """Run the pipeline over `since..until` (default: every day after the last completed one up to
    yesterday). One run at a time: a concurrent call returns status 'skipped' and says who holds it."""
    steps = [s for s in (steps or STEPS) if s.available()]
    try:
        with run_lock(engine, NIGHTLY):
            return _run_locked(engine, since, until, steps, on_day)
    except Busy as busy:
        log(logger, "nightly run skipped", reason=str(busy))
        with Session(engine) as s:
            run = JobRun(job=NIGHTLY, status="skipped", finished_at=utcnow(), error=str(busy))
            s.add(run)
            s.commit()
            return RunOutcome(run.id, "skipped", [], {}, str(busy))


def _run_locked(
    engine: Engine,
    since: date | None,
    until: date | None,
    steps: list[StepDef],
    on_day: Callable[[date], None] | None,
) -> RunOutcome:
    with Session(engine, expire_on_commit=False) as s:
        days = days_to_run(s, since=since, until=until)
        run = JobRun(job=NIGHTLY, day_from=days[0] if days else None)
        s.add(run)
        s.commit()
    totals: dict[str, Any] = {}
    done: date | None = None
    try:
        for day in days:
            with Session(engine, expire_on_commit=False) as s:
                for step in steps:
                    counts = step.run(s, day)
                    for k, v in counts.items():
                        if isinstance(v, int | float):
                            totals[f"{step.name}.{k}"] = totals.get(f"{step.name}.{k}", 0) + v
                s.commit()
            done = day
            if on_day is not None:
                on_day(day)
        status, error = "succeeded", ""
    except Exception as exc:  # a failed step fails the run visibly; the next run retries the day
        status = "failed"
        error = f"{type(exc).__name__}: {exc}"[:4000]
        logger.error("nightly run failed on %s: %s\n%s", day, error, traceback.format_exc())
    with Session(engine, expire_on_commit=False) as s:
        stored = s.get(JobRun, run.id)
        assert stored is not None
        stored.status, stored.error, stored.counts = status, error, totals
        stored.day_to, stored.finished_at = done, utcnow()
        s.add(stored)
        s.commit()
    log(logger, "nightly run finished", status=status, days=len(days), through=done)
    return RunOutcome(run.id, status, days, totals, error)


def recent_runs(session: Session, limit: int = 20) -> list[JobRun]:
    return list(session.exec(select(JobRun).order_by(col(JobRun.started_at).desc()).limit(limit)).all())
