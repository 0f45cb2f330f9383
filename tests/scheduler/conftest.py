"""What the scheduler tests share: the test database for code that commits, cleaned of runs and locks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session

from scheduler.models import JobRun, RunLock


@pytest.fixture
def eng(engine: Engine) -> Iterator[Engine]:
    """The pipeline commits (a day per transaction), so these tests clean up the run tables."""
    yield engine
    with Session(engine) as s:
        s.exec(delete(JobRun))  # type: ignore[call-overload]
        s.exec(delete(RunLock))  # type: ignore[call-overload]
        s.commit()
