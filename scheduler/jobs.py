"""The one explicit registry of scheduled jobs and their triggers (APScheduler 3).

Each job is a plain function of the engine; the scheduler process only collects them. The job store is
the database (table `scheduler_apjob`), so schedules survive restarts; misfires within the grace time are
run once on start (coalesced), and the nightly pipeline itself catches up every missed day.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine

from core.db import get_engine
from core.logs import log
from core.settings import get_settings

logger = logging.getLogger(__name__)


def nightly_job() -> dict[str, Any]:
    from scheduler.pipeline import run_nightly

    outcome = run_nightly(get_engine())
    return {"status": outcome.status, "days": [d.isoformat() for d in outcome.days], **outcome.counts}


def tracker_health_job() -> dict[str, Any]:
    """Silent trackers between nightly runs: a maintenance job should not wait for 02:00."""
    from fleet import reconcile
    from scheduler.pipeline import run_once

    return run_once(get_engine(), "tracker_health", reconcile.check_tracker_health).counts


def feeds_check_job() -> dict[str, Any]:
    """Daily: devices whose feed watermark or last contact fell behind."""
    from core.db import unit_of_work
    from ingest import queries

    with unit_of_work(get_engine()) as s:
        return queries.stale_devices_report(s)


def digest_job() -> dict[str, Any]:
    """The morning digest, after the nightly run: each user's list in their inbox (recorded as a run)."""
    from core.timeutil import china_day, utcnow
    from scheduler.digest import run_digest
    from scheduler.pipeline import run_once

    def work(session: Any) -> dict[str, Any]:
        sent = run_digest(session, china_day(utcnow()))
        return {"digests": len(sent), "lines": sum(len(lines) for _, lines in sent)}

    return run_once(get_engine(), "digest", work).counts


def deliver_job() -> dict[str, Any]:
    """Every minute: the notifications due through e-mail and the robots (a channel down waits here)."""
    from accounts.sender import deliver_due

    return deliver_due(get_engine())


@dataclass(frozen=True)
class Job:
    id: str
    func: Callable[[], dict[str, Any]]
    description: str
    trigger: Callable[[], Any]


def _nightly_trigger() -> CronTrigger:
    s = get_settings()
    return CronTrigger(hour=s.nightly_hour, minute=s.nightly_minute, timezone=s.timezone)


JOBS: list[Job] = [
    Job(
        "nightly",
        nightly_job,
        "pull, cut, reconcile, flag, remind (catches up missed days)",
        _nightly_trigger,
    ),
    Job(
        "tracker_health",
        tracker_health_job,
        "silent trackers, hourly",
        lambda: IntervalTrigger(hours=1, timezone=get_settings().timezone),
    ),
    Job(
        "digest",
        digest_job,
        "the morning digest to every user's inbox, daily 07:30",
        lambda: CronTrigger(
            hour=get_settings().digest_hour,
            minute=get_settings().digest_minute,
            timezone=get_settings().timezone,
        ),
    ),
    Job(
        "deliver",
        deliver_job,
        "notifications out by e-mail and DingTalk/WeCom robots, every minute",
        lambda: IntervalTrigger(minutes=1, timezone=get_settings().timezone),
    ),
    Job(
        "feeds_check",
        feeds_check_job,
        "feeds watermark check, daily 07:30",
        lambda: CronTrigger(hour=7, minute=30, timezone=get_settings().timezone),
    ),
]


def job_by_id(job_id: str) -> Job:
    from core.errors import NotFound

    for job in JOBS:
        if job.id == job_id:
            return job
    raise NotFound(f"no job '{job_id}': known jobs are {', '.join(j.id for j in JOBS)}")


def build_scheduler(engine: Engine | None = None) -> BackgroundScheduler:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    engine = engine or get_engine()
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename="scheduler_apjob")},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 6 * 3600},
        timezone=get_settings().timezone,
    )
    for job in JOBS:
        scheduler.add_job(
            f"scheduler.jobs:{job.func.__name__}",
            trigger=job.trigger(),
            id=job.id,
            name=job.description,
            replace_existing=True,
        )
    log(logger, "scheduler configured", jobs=",".join(j.id for j in JOBS))
    return scheduler
