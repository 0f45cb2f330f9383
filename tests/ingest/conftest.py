"""What the feed tests share: the batch writer on the test database (its batches commit)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from ingest.feeds import BatchWriter


@pytest.fixture
def writer(engine: Engine) -> Iterator[BatchWriter]:
    w = BatchWriter(engine).start()
    yield w
    w.stop()
