"""THE pipeline: cutting the position ranges that changed, reconciling trips with orders, raising and
resolving flags, and the property reminders happen here and nowhere else. Every run is recorded in the run
history (`scheduler_run`) with its counts and outcome: the nightly run, `gongwu reconcile`, an import's
re-cut, the hourly tracker check.

- `run_nightly` — pull → cut → reconcile → property reminders, for every day since the last completed one
  (catch-up), or the days given; one run at a time (scheduler/lock.py).
- `run_days(job="reconcile")` — cut → reconcile for the days given (`gongwu reconcile`).
- `run_once` — one unit of work recorded as a run (the tracker health check); `record` — the same inside
  the caller's transaction (an import's re-cut).

Each day is one transaction (core.db.unit_of_work); a failed step fails the run visibly and the next run
retries from that day.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.db import unit_of_work
from core.errors import UsageError
from core.i18n import tr
from core.logs import log
from core.timeutil import china_day, from_ts, to_ts, utcnow
from fleet import reconcile
from fleet.models import RecutRange
from fleet.trips import name_stops, recut_pending
from ingest import sources
from property import queries as property_queries
from property import service as property_service
from scheduler.lock import Busy, run_lock
from scheduler.models import JobRun, RunStatus

logger = logging.getLogger(__name__)

NIGHTLY = "nightly"
RECONCILE = "reconcile"
# A step gets the day's session and the day; it returns counts for the run history.
Step = Callable[[Session, date], dict[str, Any]]


def pull(session: Session, day: date) -> dict[str, Any]:
    return sources.pull_all(session, until_day=day)


def cut(session: Session, day: date | None = None) -> dict[str, Any]:
    c = recut_pending(session)
    named = name_stops(session, property_queries.places(session))
    return {
        "trips_added": c.trips_added, "trips_removed": c.trips_removed, "devices_recut": c.devices,
        "stops_named": named, "archived_months_left": len(c.archived),
    }  # fmt: skip


def rename_stops(session: Session) -> int:
    """After the places changed (the gazetteer, a unit's or a property's location): every stop again."""
    return name_stops(session, property_queries.places(session), every=True)


def reconcile_day(session: Session, day: date) -> dict[str, Any]:
    return reconcile.reconcile_day(session, day)


def remind(session: Session, day: date) -> dict[str, Any]:
    return property_service.raise_property_alerts(session, day + timedelta(days=1))


@dataclass(frozen=True)
class StepDef:
    name: str
    run: Step


NIGHTLY_STEPS: list[StepDef] = [
    StepDef("pull", pull),
    StepDef("cut", cut),
    StepDef("reconcile", reconcile_day),
    StepDef("property", remind),
]
RECONCILE_STEPS: list[StepDef] = [StepDef("cut", cut), StepDef("reconcile", reconcile_day)]


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


def _start(engine: Engine, job: str, first: date | None = None) -> int:
    with unit_of_work(engine) as s:
        run = JobRun(job=job, day_from=first)
        s.add(run)
        s.flush()
        assert run.id is not None
        return run.id


def _finish(
    engine: Engine, run_id: int, status: str, counts: dict[str, Any], error: str, done: date | None
) -> None:
    with unit_of_work(engine) as s:
        stored = s.get(JobRun, run_id)
        assert stored is not None
        stored.status, stored.error, stored.counts = status, error, counts
        stored.day_to, stored.finished_at = done, utcnow()
        s.add(stored)


def _add(totals: dict[str, Any], prefix: str, counts: dict[str, Any]) -> None:
    for k, v in counts.items():
        if isinstance(v, int | float) and not isinstance(v, bool):
            key = f"{prefix}.{k}"
            totals[key] = totals.get(key, 0) + v


def run_once(engine: Engine, job: str, work: Callable[[Session], dict[str, Any]]) -> RunOutcome:
    """`work` in one transaction, recorded as a run of `job` with the counts it returns. Its exception is
    recorded and raised again."""
    run_id = _start(engine, job)
    try:
        with unit_of_work(engine) as s:
            counts = work(s)
    except Exception as exc:
        _finish(engine, run_id, RunStatus.failed, {}, f"{type(exc).__name__}: {exc}"[:4000], None)
        raise
    totals: dict[str, Any] = {}
    _add(totals, job, counts)
    _finish(engine, run_id, RunStatus.succeeded, totals, "", None)
    log(logger, f"{job} run finished", **{k: v for k, v in totals.items() if isinstance(v, int)})
    return RunOutcome(run_id, RunStatus.succeeded, [], totals)


def run_days(
    engine: Engine,
    days: Sequence[date],
    *,
    job: str = RECONCILE,
    steps: Sequence[StepDef] = RECONCILE_STEPS,
    on_day: Callable[[date], None] | None = None,
) -> RunOutcome:
    """The steps over `days` in order, each day in its own transaction; idle vehicles and silent trackers
    end up judged as of the last day. Recorded as a run of `job`; a failure is recorded, not raised."""
    run_id = _start(engine, job, days[0] if days else None)
    totals: dict[str, Any] = {}
    done: date | None = None
    day: date | None = None
    try:
        for day in days:
            with unit_of_work(engine) as s:
                for step in steps:
                    _add(totals, step.name, step.run(s, day))
            done = day
            if on_day is not None:
                on_day(day)
        status, error = RunStatus.succeeded, ""
    except Exception as exc:  # a failed step fails the run visibly; the next run retries the day
        status, error = RunStatus.failed, f"{type(exc).__name__}: {exc}"[:4000]
        logger.error("%s run failed on %s: %s\n%s", job, day, error, traceback.format_exc())
    _finish(engine, run_id, status, totals, error, done)
    log(logger, f"{job} run finished", status=status, days=len(days), through=done)
    return RunOutcome(run_id, status, list(days), totals, error)


def run_reconcile(engine: Engine, since: date, until: date) -> RunOutcome:
    """`gongwu reconcile`: cut pending ranges, then match and flag each day (a run of its own)."""
    if until < since:
        raise UsageError(
            tr(f"结束日期 {until} 早于开始日期 {since}", f"--until {until} is before --since {since}")
        )
    return run_days(engine, [since + timedelta(days=i) for i in range((until - since).days + 1)])


def _fail_orphans(session: Session, job: str) -> None:
    """Runs of `job` still `running` while we hold its lock: their process died (killed, power cut)."""
    orphans = session.exec(select(JobRun).where(JobRun.job == job, JobRun.status == RunStatus.running)).all()
    for run in orphans:
        run.status, run.finished_at = RunStatus.failed, utcnow()
        run.error = tr(
            "运行中断：执行它的进程已不在（被终止或断电），下次运行会重做未完成的日子",
            "interrupted: the process running it is gone (killed or powered off); the next run redoes "
            "its days",
        )
        session.add(run)
        log(logger, "orphaned run marked failed", job=job, run=run.id)


def run_nightly(
    engine: Engine,
    *,
    since: date | None = None,
    until: date | None = None,
    steps: Sequence[StepDef] | None = None,
    on_day: Callable[[date], None] | None = None,
) -> RunOutcome:
    """The nightly pipeline over `since..until` (default: every day after the last completed one up to
    yesterday). One run at a time: a concurrent call returns status 'skipped' and says who holds it."""
    try:
        with run_lock(engine, NIGHTLY):
            with unit_of_work(engine) as s:
                _fail_orphans(s, NIGHTLY)
                days = days_to_run(s, since=since, until=until)
            made = make_partitions_ahead(engine)
            if made:
                log(logger, "position partitions made ahead", partitions=", ".join(made))
            return run_days(engine, days, job=NIGHTLY, steps=steps or NIGHTLY_STEPS, on_day=on_day)
    except Busy as busy:
        log(logger, "nightly run skipped", reason=str(busy))
        with unit_of_work(engine) as s:
            run = JobRun(job=NIGHTLY, status=RunStatus.skipped, finished_at=utcnow(), error=str(busy))
            s.add(run)
            s.flush()
            return RunOutcome(run.id, RunStatus.skipped, [], {}, str(busy))


def make_partitions_ahead(engine: Engine) -> list[str]:
    """On PostgreSQL, this month's and the next months' position partitions, in a transaction of their own
    (making one locks the table a moment: not for a whole night's day)."""
    from fleet import partitions

    with unit_of_work(engine) as s:
        return partitions.ensure_ahead(s.connection(), china_day(utcnow()))


def record(session: Session, job: str, work: Callable[[Session], dict[str, Any]]) -> RunOutcome:
    """`work` in the caller's transaction, recorded in it as a run of `job` (committed with the work, or
    not at all): an import's re-cut."""
    run = JobRun(job=job)
    session.add(run)
    session.flush()
    totals: dict[str, Any] = {}
    _add(totals, job, work(session))
    run.status, run.counts, run.finished_at = RunStatus.succeeded, totals, utcnow()
    session.add(run)
    session.flush()
    return RunOutcome(run.id, RunStatus.succeeded, [], totals)


def last_reconciled_day(session: Session) -> date | None:
    """The latest day a nightly run or `gongwu reconcile` covered: days after it are left to the next
    night."""
    return session.exec(
        select(func.max(JobRun.day_to)).where(col(JobRun.job).in_([NIGHTLY, RECONCILE]))
    ).one()


def first_reconciled_day(session: Session) -> date | None:
    return session.exec(
        select(func.min(JobRun.day_from)).where(col(JobRun.job).in_([NIGHTLY, RECONCILE]))
    ).one()


TRACKERS = "trackers"
MAX_RERECONCILED_DAYS = 400  # a history going back years re-reconciles the latest ~13 months at once


def after_tracker_change(session: Session) -> RunOutcome:
    """After an assignment changed (`gongwu trackers assign`, the API, a tracker-assignments import):
    re-cut the spans it touched and re-reconcile the days already reconciled whose trips changed or
    that lie in a changed span (idle, silent and 无终端 follow the tracker too), in the caller's
    transaction, recorded as a run of `trackers`. Days not yet reconciled are left to the night."""

    def work(s: Session) -> dict[str, Any]:
        s.flush()
        spans = [(r.from_ts, r.to_ts) for r in s.exec(select(RecutRange)).all()]
        c = recut_pending(s)
        first, last = first_reconciled_day(s), last_reconciled_day(s)
        counts: dict[str, Any] = {
            "trips_added": c.trips_added, "trips_removed": c.trips_removed, "devices_recut": c.devices,
            # the re-cut stops named before their days are judged again
            "stops_named": name_stops(s, property_queries.places(s)),
        }  # fmt: skip
        if first is None or last is None:
            counts["days_reconciled"] = 0
            return counts
        days = {d for d in c.days if first <= d <= last}
        for a, b in spans:
            lo = max(first, china_day(from_ts(max(a, 0))))
            hi = min(last, china_day(from_ts(min(b, to_ts(utcnow())))))
            days |= {lo + timedelta(days=i) for i in range(max(0, (hi - lo).days + 1))}
        chosen = sorted(days)[-MAX_RERECONCILED_DAYS:]
        for day in chosen:
            for key, value in reconcile.reconcile_day(s, day).items():
                if isinstance(value, int | float):
                    counts[key] = counts.get(key, 0) + value
        counts["days_reconciled"] = len(chosen)
        return counts

    return record(session, TRACKERS, work)


COSTS = "costs"


def after_cost_import(session: Session) -> RunOutcome:
    """After a fuel, workshop, insurance, inspection or cost file: judge the running-cost checks again over
    the days already reconciled (the latest MAX_RERECONCILED_DAYS), in the import's transaction, recorded
    as a run of `costs` — a statement or a policy usually arrives after the night that judged its day."""

    def work(s: Session) -> dict[str, Any]:
        first, last = first_reconciled_day(s), last_reconciled_day(s)
        if first is None or last is None:
            return {"days_judged": 0}
        first = max(first, last - timedelta(days=MAX_RERECONCILED_DAYS - 1))
        return reconcile.judge_costs(s, first, last) | {"days_judged": (last - first).days + 1}

    return record(session, COSTS, work)


def recut_after_import(session: Session) -> RunOutcome:
    """An import's re-cut of the ranges its fixes touched (the nightly run would do it otherwise), in the
    import's transaction: the trips are there as soon as the file is in."""
    return record(session, "import", cut)
