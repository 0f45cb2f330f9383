"""A killed nightly run gives its lock up (#18 finding 8): its process is gone or its heartbeat stopped, so
the next run takes over at once instead of waiting hours, and marks the orphaned run failed; a lock is
renewed while its run works and released only by its holder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.timeutil import utcnow
from scheduler.lock import Busy, run_lock
from scheduler.models import JobRun, RunLock
from scheduler.pipeline import NIGHTLY, StepDef, run_nightly

HOLD = textwrap.dedent(
    """
    import sys, time
    from core.db import build_engine
    from scheduler.lock import run_lock
    from scheduler.pipeline import run_days, NIGHTLY
    from scheduler.pipeline import StepDef
    from datetime import date
    engine = build_engine(sys.argv[1])

    def hang(session, day):
        print("working", flush=True)
        time.sleep(600)
        return {}

    with run_lock(engine, NIGHTLY):
        run_days(engine, [date(2024, 6, 1)], job=NIGHTLY, steps=[StepDef("hang", hang)])
    """
)


def _holding_process(engine: Engine) -> subprocess.Popen[str]:
    url = engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "GONGWU_LOCK_STALE_MINUTES": "0.05"}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, url], stdout=subprocess.PIPE, text=True, env=env, cwd=os.getcwd()
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "working"
    return proc


def _step(seen: list[date]) -> StepDef:
    def run(session: Session, day: date) -> dict[str, Any]:
        seen.append(day)
        return {}

    return StepDef("record", run)


def test_a_killed_run_hands_its_lock_over_and_is_marked_failed(eng: Engine) -> None:
    proc = _holding_process(eng)
    try:
        busy = run_nightly(eng, since=date(2024, 6, 1), until=date(2024, 6, 1), steps=[_step([])])
        assert busy.status == "skipped"  # alive: the lock is respected
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    seen: list[date] = []
    outcome = run_nightly(eng, since=date(2024, 6, 1), until=date(2024, 6, 1), steps=[_step(seen)])
    assert outcome.status == "succeeded" and seen == [date(2024, 6, 1)]
    with Session(eng) as s:
        runs = {r.status: r for r in s.exec(select(JobRun).where(JobRun.job == NIGHTLY)).all()}
    assert set(runs) == {"failed", "skipped", "succeeded"}
    assert "进程已不在" in runs["failed"].error and runs["failed"].finished_at is not None


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[Engine]:
    """The lock row is SQLite's (PostgreSQL frees a dead session's advisory lock itself): these run on a
    SQLite file of their own whichever database the suite is on."""
    from core.db import build_engine
    from gongwu import migrate

    engine = build_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def test_a_lock_whose_heartbeat_stopped_is_taken_over(lite: Engine) -> None:
    eng = lite
    # a holder on another host (its pid cannot be checked) that stopped renewing a while ago
    with Session(eng) as s:
        past = utcnow() - timedelta(minutes=30)
        s.add(RunLock(name=NIGHTLY, holder="far-away-host:1", acquired_at=past, expires_at=past))
        s.commit()
    with run_lock(eng, NIGHTLY), Session(eng) as s:
        row = s.get(RunLock, NIGHTLY)
        assert row is not None and row.holder.endswith(f":{os.getpid()}")
    # one that renews is respected, however long it has held the lock
    with Session(eng) as s:
        soon = utcnow() + timedelta(minutes=5)
        s.add(
            RunLock(
                name=NIGHTLY,
                holder="far-away-host:1",
                acquired_at=utcnow() - timedelta(hours=9),
                expires_at=soon,
            )
        )
        s.commit()
    with pytest.raises(Busy, match="far-away-host"), run_lock(eng, NIGHTLY):
        pass


def test_the_heartbeat_renews_and_only_the_holder_releases(lite: Engine, settings_env: Any) -> None:
    eng = lite
    settings_env(lock_stale_minutes=0.02)  # 1.2 s: beats every 0.24 s
    with run_lock(eng, NIGHTLY):
        with Session(eng) as s:
            first = s.get(RunLock, NIGHTLY)
            assert first is not None
            start = first.expires_at
        time.sleep(1.0)
        with Session(eng) as s:
            renewed = s.get(RunLock, NIGHTLY)
            assert renewed is not None and renewed.expires_at > start
        # taken over by another holder while we were thought dead: our release leaves theirs alone
        with Session(eng) as s:
            row = s.get(RunLock, NIGHTLY)
            assert row is not None
            row.holder = "other-host:7"
            s.add(row)
            s.commit()
    with Session(eng) as s:
        row = s.get(RunLock, NIGHTLY)
        assert row is not None and row.holder == "other-host:7"
