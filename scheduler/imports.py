"""An import as the user starts it (`gongwu import`, `POST /api/v1/imports/{kind}`, the demo): the file
through ingest/importer.py, then — for positions that went in — the pipeline's re-cut of the ranges they
touched, recorded as a run; all in the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlmodel import Session

from ingest.importer import ImportReport, run_import
from scheduler import pipeline


def import_file(
    session: Session,
    kind: str,
    source: str | Path | bytes,
    *,
    recut: bool = True,
    progress: Callable[[int, int | None], None] | None = None,
    **options: Any,
) -> ImportReport:
    """Import `source` (options as `run_import` takes them) and, unless `recut` is off, cut the trips of
    the fixes it stored."""
    report = run_import(session, kind, source, progress=progress, **options)
    if recut and report.committed and kind == "positions" and report.inserted:
        outcome = pipeline.recut_after_import(session)
        report.recut = {k.split(".", 1)[1]: int(v) for k, v in outcome.counts.items()}
    return report
