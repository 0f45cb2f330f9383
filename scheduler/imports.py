"""An import as the user starts it (`gongwu import`, an import job from the page or the API, the demo): the
file through ingest/importer.py, then — for positions that went in — the pipeline's re-cut of the ranges
they touched, recorded as a run, and one audit row that says who imported which file (name, SHA-256) with
what outcome; all in the caller's transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlmodel import Session

from core import audit
from fleet import archive
from ingest.importer import ImportReport, run_import
from scheduler import pipeline

TRACKER_KINDS = ("tracker-assignments", "vehicles")
COST_KINDS = ("fuel", "maintenance", "insurance", "inspections", "costs")  # judged against the tracks
PLACE_KINDS = ("places", "units", "properties", "operating-properties")  # where a stop's name comes from


def import_file(
    session: Session,
    kind: str,
    source: str | Path | bytes,
    *,
    recut: bool = True,
    progress: Callable[[int, int | None], None] | None = None,
    sha256: str | None = None,
    **options: Any,
) -> ImportReport:
    """Import `source` (options as `run_import` takes them) and, unless `recut` is off, cut the trips of
    the fixes it stored. A positions file in Parquet is a month gongwu archived: it comes back as it was
    stored (fleet/archive.py)."""
    if kind == "positions" and isinstance(source, str | Path) and archive.is_parquet(Path(source)):
        report = _restore(session, Path(source), options)
    else:
        report = run_import(session, kind, source, progress=progress, **options)
    if recut and report.committed and kind == "positions" and report.inserted:
        outcome = pipeline.recut_after_import(session)
        report.recut = {k.split(".", 1)[1]: int(v) for k, v in outcome.counts.items()}
    elif recut and report.committed and kind in TRACKER_KINDS and (report.inserted or report.updated):
        # a tracker moved (or the vehicles file's 终端号 changed): re-cut and re-reconcile what it touched
        outcome = pipeline.after_tracker_change(session)
        report.recut = {k.split(".", 1)[1]: int(v) for k, v in outcome.counts.items()}
    elif recut and report.committed and report.kind in COST_KINDS and (report.inserted or report.updated):
        outcome = pipeline.after_cost_import(session)
        report.recut = {k.split(".", 1)[1]: int(v) for k, v in outcome.counts.items()}
    if report.committed and kind in PLACE_KINDS and (report.inserted or report.updated):
        report.recut = {**report.recut, "stops_named": pipeline.rename_stops(session)}
    _audit(session, report, source, sha256, options)
    return report


def _restore(session: Session, path: Path, options: dict[str, Any]) -> ImportReport:
    report = ImportReport(kind="positions", file=path.name)
    if options.get("dry_run"):
        report.read = archive.open_parquet(path).metadata.num_rows
        return report
    restored = archive.restore(session, path, options.get("actor", "import"))
    report.read, report.inserted, report.committed = restored.read, restored.inserted, True
    report.unchanged = restored.read - restored.inserted
    return report


def file_sha256(source: str | Path | bytes) -> str:
    if isinstance(source, bytes | bytearray):
        return hashlib.sha256(source).hexdigest()
    digest = hashlib.sha256()
    with open(source, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _audit(
    session: Session,
    report: ImportReport,
    source: str | Path | bytes,
    sha256: str | None,
    options: dict[str, Any],
) -> None:
    """The import's summary row (the rows it wrote have their own where the kind audits them)."""
    outcome = "committed" if report.committed else "dry_run" if options.get("dry_run") else "refused"
    counts = {
        k: getattr(report, k) for k in ("read", "inserted", "updated", "unchanged", "rejected", "dropped")
    }
    audit.record(
        session,
        actor=options.get("actor", "import"),
        action="import.run",
        entity="import",
        entity_id=report.kind,
        after={
            "kind": report.kind,
            "file": Path(report.file).name,
            "sha256": sha256 or file_sha256(source),
            "outcome": outcome,
            **counts,
        },
        detail=f"{report.kind} {Path(report.file).name}: {outcome}",
    )
