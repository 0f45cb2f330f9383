from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from scheduler.lock import Busy, run_lock
from scheduler.models import JobRun
from scheduler.pipeline import StepDef, days_to_run, run_nightly, yesterday


def recording_step(seen: list[date], fail_on: date | None = None) -> StepDef:
    def run(session: Session, day: date) -> dict[str, Any]:
        if day == fail_on:
            raise RuntimeError(f"injected failure on {day}")
        seen.append(day)
        return {"days": 1}

    return StepDef("record", run)


def test_catch_up_runs_every_missed_day(eng: Engine) -> None:
    y = yesterday()
    with Session(eng) as s:
        s.add(
            JobRun(
                job="nightly",
                status="succeeded",
                day_from=y - timedelta(days=5),
                day_to=y - timedelta(days=4),
            )
        )
        s.commit()
    seen: list[date] = []
    outcome = run_nightly(eng, steps=[recording_step(seen)])
    assert outcome.status == "succeeded"
    assert seen == [y - timedelta(days=3), y - timedelta(days=2), y - timedelta(days=1), y]
    assert outcome.counts == {"record.days": 4}
    # nothing left to catch up: the next run has no day to do
    with Session(eng) as s:
        assert days_to_run(s, since=None, until=None) == []


def test_a_crash_fails_the_run_and_the_next_run_completes_the_day(eng: Engine) -> None:
    d1, d2, d3 = date(2024, 6, 1), date(2024, 6, 2), date(2024, 6, 3)
    seen: list[date] = []
    failed = run_nightly(eng, since=d1, until=d3, steps=[recording_step(seen, fail_on=d2)])
    assert failed.status == "failed"
    assert "injected failure" in failed.error
    with Session(eng) as s:
        run = s.get(JobRun, failed.run_id)
        assert run is not None and run.status == "failed" and run.day_to == d1
        assert days_to_run(s, since=None, until=d3) == [d2, d3]
    again = run_nightly(eng, until=d3, steps=[recording_step(seen)])
    assert again.status == "succeeded"
    assert seen == [d1, d2, d3]


def test_two_concurrent_runs_never_both_run(eng: Engine) -> None:
    entered = threading.Event()
    release = threading.Event()
    ran: list[date] = []

    def slow(session: Session, day: date) -> dict[str, Any]:
        entered.set()
        assert release.wait(30)
        ran.append(day)
        return {}

    results: list[Any] = []
    first = threading.Thread(
        target=lambda: results.append(
            run_nightly(eng, since=date(2024, 6, 1), until=date(2024, 6, 1), steps=[StepDef("slow", slow)])
        )
    )
    first.start()
    assert entered.wait(30)
    second = run_nightly(eng, since=date(2024, 6, 1), until=date(2024, 6, 1), steps=[StepDef("slow", slow)])
    release.set()
    first.join(30)
    assert second.status == "skipped"
    assert "lock" in second.error
    assert results[0].status == "succeeded"
    assert ran == [date(2024, 6, 1)]
    with Session(eng) as s:
        statuses = sorted(r.status for r in s.exec(select(JobRun).order_by(col(JobRun.id))).all())
    assert statuses == ["skipped", "succeeded"]


def test_lock_is_released_after_a_failure(eng: Engine) -> None:
    with pytest.raises(RuntimeError), run_lock(eng, "test"):
        raise RuntimeError("boom")
    with run_lock(eng, "test"), pytest.raises(Busy), run_lock(eng, "test"):
        pass
