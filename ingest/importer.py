"""The import pipeline: read a file of one KIND, normalise every cell, hand the good rows to the domain's
applier (core/importing.py), and report what happened with line, column and reason for every bad row.

All-or-nothing by default: one bad row and nothing is committed. `skip_bad` applies the good rows and
writes the bad ones, unchanged plus a reason column, to a reject file. Positions take the bulk path
(arrays, executemany/COPY) through the one position-ingest path and mark touched ranges for re-cutting.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import threading
from collections import Counter
from collections.abc import Callable, Generator, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from sqlmodel import Session, select

from core import datum, tabular
from core.datum import COORD_SYSTEMS
from core.errors import ValidationFailed
from core.i18n import tr
from core.importing import ApplyResult, Row, RowIssue
from core.settings import get_settings
from ingest.kinds import KINDS, get_kind
from ingest.readers import (
    BadRow,
    ParsedRow,
    PositionBatch,
    RowError,
    Table,
    open_table,
    parse_rows,
    read_positions_batches,
)

T = TypeVar("T")
WARNINGS_LISTED = 100  # rows listed per kind of warning; the count has them all


@dataclass
class ImportReport:
    kind: str
    file: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    duplicates: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    errors: list[RowError] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    committed: bool = False
    reject_file: str | None = None
    recut: dict[str, int] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)  # headers no field of the kind reads
    bad_rows: dict[int, list[RowError]] = field(default_factory=dict, repr=False)
    errors_not_listed: int = 0  # errors past GONGWU_IMPORT_MAX_ERRORS: counted, not listed
    stopped_at: int | None = None  # the line reading stopped at: too many bad rows to go on
    # positions whose plate column names another car than the tracker's: kept (platforms keep a swapped
    # tracker's old plate), counted, the first ones listed
    plate_mismatches: int = 0
    warnings: list[RowError] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "read": self.read,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "dropped": dict(self.dropped),
            "errors": [{"line": e.line, "column": e.column, "reason": _reason(e)} for e in self.errors],
            "duplicates": self.duplicates,
            "committed": self.committed,
            "changes": self.changes,
            "ignored_columns": self.ignored_columns,
            "errors_not_listed": self.errors_not_listed,
            "stopped_at_line": self.stopped_at,
            "plate_mismatches": self.plate_mismatches,
            "warnings": [{"line": e.line, "column": e.column, "reason": _reason(e)} for e in self.warnings],
        }


def _reason(e: RowError) -> str:
    return f"{e.header}: {e.reason}" if e.header and e.column else e.reason


def run_import(
    session: Session,
    kind: str,
    source: str | Path | bytes,
    *,
    filename: str | None = None,
    dry_run: bool = False,
    skip_bad: bool = False,
    reject_file: Path | None = None,
    sheet: str | int | None = None,
    actor: str = "import",
    progress: Callable[[int, int | None], None] | None = None,
    write_rejects: bool = True,
    coord_system: str = "wgs84",
) -> ImportReport:
    """Import one file in the caller's transaction; on failure (or dry run) everything done here is
    rolled back to the savepoint taken at the start, so the caller may still commit its other work.
    Positions only mark the ranges they touch: the pipeline re-cuts them (scheduler/imports.py does it
    right after the import, the nightly run otherwise)."""
    if kind not in KINDS:
        raise ValidationFailed(f"unknown import kind '{kind}': use one of {', '.join(KINDS)}")
    if coord_system not in COORD_SYSTEMS:
        raise ValidationFailed(
            tr(
                f"未知的坐标系 {coord_system}：可选 {', '.join(COORD_SYSTEMS)}",
                f"unknown coordinate system {coord_system}: one of {', '.join(COORD_SYSTEMS)}",
            )
        )
    name = filename or (str(source) if not isinstance(source, bytes) else "upload")
    report = ImportReport(kind=kind, file=name)
    # a big positions file's reader starts first: it reads the file while this process gets ready
    reader = _ReaderProcess.for_source(source, sheet, session) if kind == "positions" else None
    savepoint = session.begin_nested()
    try:
        with open_table(source, sheet=sheet, kind=kind) as table:
            report.ignored_columns = list(table.ignored)
            if kind == "positions":
                _import_positions(session, table, report, skip_bad, progress, reader, coord_system)
            else:
                _import_rows(session, kind, table, report, skip_bad, actor, progress)
        ok = not report.errors or skip_bad
        if dry_run or not ok:
            savepoint.rollback()
        else:
            savepoint.commit()
            report.committed = True
    except BaseException:
        if savepoint.is_active:
            savepoint.rollback()
        raise
    finally:
        if reader is not None:
            reader.close()
    if report.errors and skip_bad and write_rejects:
        target = reject_file or Path(name).with_suffix(".rejects.csv")
        report.reject_file = str(_write_rejects(report, source, sheet, target))
    return report


# ------------------------------------------------------------------------------------ register rows


def _import_rows(
    session: Session,
    kind: str,
    table: Table,
    report: ImportReport,
    skip_bad: bool,
    actor: str,
    progress: Callable[[int, int | None], None] | None,
) -> None:
    spec = get_kind(kind)
    rename = spec.renames
    good: list[ParsedRow] = []
    bad: dict[int, BadRow] = {}
    seen: dict[tuple[Any, ...], ParsedRow] = {}
    most = get_settings().import_max_errors
    for item in parse_rows(kind, table):
        report.read += 1
        if isinstance(item, BadRow):
            bad[item.line] = item
            if len(bad) > most and not skip_bad:
                report.stopped_at = item.line  # nothing will be imported: no need to read on
                break
            continue
        key = tuple(item.values.get(k) for k in spec.key)
        first = seen.get(key)
        if first is None:
            seen[key] = item
            good.append(item)
        elif first.values == item.values:
            report.duplicates += 1  # the same row twice: taken once
        else:
            col, header = table.locate(spec.key[0])
            reason = tr(
                f"与第 {first.line} 行重复但内容不同", f"same key as line {first.line} with other values"
            )
            bad[item.line] = BadRow(item.line, item.cells, [RowError(item.line, col, header, reason)])
        if progress is not None and report.read % 1000 == 0:
            progress(*table.progress())

    # Only the columns the file has: an absent column leaves the stored field alone, an empty cell clears it.
    present = set(table.columns)
    rows = [Row(r.line, {rename.get(k, k): v for k, v in r.values.items() if k in present}) for r in good]
    cells = {r.line: r.cells for r in good}
    apply = spec.apply
    assert apply is not None, f"{kind} has no applier"
    while True:  # with skip_bad, rows the applier refuses are dropped and the rest applied again
        attempt = session.begin_nested()
        result = apply(session, rows, actor)
        if not result.issues:
            attempt.commit()
            break
        attempt.rollback()
        for issue in result.issues:
            bad.setdefault(issue.line, BadRow(issue.line, cells.get(issue.line, []), [])).errors.append(
                _locate(table, issue, {v: k for k, v in rename.items()})
            )
        if not skip_bad:
            result = ApplyResult()
            break
        refused = {i.line for i in result.issues}
        rows = [r for r in rows if r.line not in refused]
    report.inserted, report.updated, report.unchanged = result.inserted, result.updated, result.unchanged
    report.changes = result.changes
    _collect_errors(report, bad)


def _locate(table: Table, issue: RowIssue, back: dict[str, str]) -> RowError:
    name = back.get(issue.field, issue.field)
    if name and name in table.columns:
        col, header = table.locate(name)
        return RowError(issue.line, col, header, issue.reason, name)
    return RowError(issue.line, "", "", issue.reason, name or None)


def _collect_errors(report: ImportReport, bad: dict[int, BadRow]) -> None:
    """All bad rows counted (and kept for the rejects file), the first GONGWU_IMPORT_MAX_ERRORS listed."""
    report.rejected = len(bad)
    report.bad_rows = {line: bad[line].errors for line in sorted(bad)}
    every = [e for errors in report.bad_rows.values() for e in errors]
    most = get_settings().import_max_errors
    report.errors, report.errors_not_listed = every[:most], max(len(every) - most, 0)


def _write_rejects(
    report: ImportReport, source: str | Path | bytes, sheet: str | int | None, path: Path
) -> Path:
    """The bad rows as they were in the file (read again, so nothing is re-formatted), the header first,
    a reason column last; UTF-8 with BOM so that Excel opens it as such."""
    with (
        open_table(source, sheet=sheet, kind=report.kind) as table,
        path.open("w", newline="", encoding="utf-8-sig") as fh,
    ):
        rows = (
            [line, *("" if c is None else c for c in cells), "; ".join(map(str, report.bad_rows[line]))]
            for line, cells in table.records()
            if line in report.bad_rows
        )
        tabular.write_csv(fh, [tr("行号", "line"), *table.headers, tr("原因", "reason")], rows)
    return path


# -------------------------------------------------------------------------------------- positions


def _prefetch(items: Iterable[T], depth: int = 2) -> Generator[T, None, None]:
    """`items`, produced on a thread up to `depth` ahead: the next batch of a file is read and parsed
    while this one is written (the database's work — and SQLite's or the network's wait — runs without
    the GIL). The producer's exception is raised here, in order. Close the generator when leaving early
    (`closing`): that stops the producer before the file under it is closed."""
    q: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                q.put(entry, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((False, None))
        except BaseException as exc:  # handed over to the consumer
            put((False, exc))

    thread = threading.Thread(target=produce, name="gongwu-import-reader", daemon=True)
    thread.start()
    try:
        while True:
            more, item = q.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        thread.join()


Progress = tuple[int, int | None]
# A file at least this big is read and parsed in a child process: a thread shares the GIL with the
# screening and inserting, and holds it through most of the parsing. Starting a process costs ~0.2 s.
PROCESS_READER_MIN_BYTES = 16 << 20


def _cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):  # Linux: what a container or taskset allows
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class _ReaderProcess:
    """`read_positions_batches` of a file on disk, run in a spawned process (nothing of this process's
    state, such as database connections, goes with it) from the moment it is made, a batch or two ahead
    of its consumer: its sends block while the pipe is full. Iterate for (batch, progress) pairs; the
    child's exception is raised in order. Close it (`closing`) to stop the child."""

    @classmethod
    def for_source(
        cls, source: str | Path | bytes, sheet: str | int | None, session: Session
    ) -> _ReaderProcess | None:
        """Started for a big enough file on disk when a core is free for it; None otherwise. Busy while
        importing: this process, a PostgreSQL server's backend, the reader. Measured on 2 cores: SQLite
        imports 20 % faster with the reader in a process, PostgreSQL 10 % slower."""
        if not isinstance(source, str | os.PathLike):
            return None
        busy = 3 if session.get_bind().dialect.name == "postgresql" else 2
        if _cores() < busy:
            return None
        try:
            big = os.path.getsize(source) >= PROCESS_READER_MIN_BYTES
        except OSError:
            return None
        return cls(str(source), sheet) if big else None

    def __init__(self, path: str, sheet: str | int | None) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.path = path
        self._receive, send = ctx.Pipe(duplex=False)
        self._child = ctx.Process(
            target=_reader_process, args=(path, sheet, send), name="gongwu-import-reader"
        )
        self._child.daemon = True
        self._child.start()
        send.close()  # the child holds the only writing end: its end is our EOF, our end its broken pipe

    def __iter__(self) -> Generator[tuple[PositionBatch, Progress], None, None]:
        while True:
            try:
                item = self._receive.recv()
            except EOFError:
                self._child.join(5)
                name, code = Path(self.path).name, self._child.exitcode
                raise RuntimeError(
                    tr(
                        f"{name}: 读取进程意外退出 (退出码 {code}); 请重新导入",
                        f"{name}: the process reading the file ended (exit code {code}); "
                        "run the import again",
                    )
                ) from None
            if isinstance(item, BaseException):
                raise item
            if item is None:
                return
            yield item

    def close(self) -> None:
        if self._child.is_alive():
            self._child.terminate()
        self._child.join()
        self._receive.close()


def _reader_process(path: str, sheet: str | int | None, send: Any) -> None:
    """The child of `_ReaderProcess`: (batch, progress) pairs, then None, or the exception that stopped
    it. When the parent is gone (killed mid-import) its next send fails and it ends."""
    from core.perf import keep_freed_memory

    keep_freed_memory()
    try:
        try:
            with open_table(path, kind="positions", sheet=sheet) as table:
                for batch in read_positions_batches(table, first=20_000):
                    send.send((batch, table.progress()))
            send.send(None)
        except (BrokenPipeError, ConnectionResetError):
            return
        except BaseException as exc:  # handed over; one that cannot be pickled, as its text
            try:
                pickle.dumps(exc)
            except Exception:
                exc = RuntimeError(f"{type(exc).__name__}: {exc}")
            send.send(exc)
    except (BrokenPipeError, ConnectionResetError):
        return
    finally:
        send.close()


def _import_positions(
    session: Session,
    table: Table,
    report: ImportReport,
    skip_bad: bool,
    progress: Callable[[int, int | None], None] | None,
    reader: _ReaderProcess | None,
    coord_system: str = "wgs84",
) -> None:
    """`reader`: the file's batches read by a child process, else they are read here, by a thread;
    `coord_system`: the file's datum, converted to WGS-84 (what is stored) here."""
    from fleet import trackers
    from fleet.models import Vehicle
    from fleet.positions import FixBatch, ingest_fixes, known_devices

    vehicles = known_devices(session)
    timeline = trackers.timeline(session)
    plates = {v.id: v.plate for v in session.exec(select(Vehicle)).all()}
    bad: dict[int, BadRow] = {}
    dev_col, dev_header = table.locate("device_id")
    batches = (
        iter(reader)
        if reader is not None
        else _prefetch((batch, table.progress()) for batch in read_positions_batches(table))
    )
    with closing(batches):
        for batch, done in batches:
            report.read += len(batch) + len(batch.rejects)
            for b in batch.rejects:
                bad[b.line] = b
            # a device that is no vehicle's tracker: bad rows (looked up once per distinct device, then
            # spread over the rows)
            names, inverse = np.unique(batch.device_id.astype(str), return_inverse=True)
            known = np.array([d in vehicles for d in names.tolist()], dtype=bool)[inverse]
            ok = known.copy()
            if "plate" in table.columns:
                # The plate never re-attributes a fix (the fix is the tracker's, in the car that held it
                # then): a row naming another car is kept, counted and reported.
                p_col, p_header = table.locate("plate")
                holder = np.zeros(len(batch), dtype=np.int64)
                by_dev = np.argsort(inverse, kind="stable")
                bounds = np.searchsorted(inverse[by_dev], np.arange(len(names) + 1))
                for j, d in enumerate(names.tolist()):
                    rows_j = by_dev[bounds[j] : bounds[j + 1]]
                    holder[rows_j] = timeline.vehicle_at(d, batch.fixed_at[rows_j])
                owner = np.array([plates.get(v) for v in holder.tolist()], dtype=object)
                wrong = known & (batch.plate != None) & (batch.plate != owner)  # noqa: E711
                report.plate_mismatches += int(wrong.sum())
                for i in np.flatnonzero(wrong)[: max(0, WARNINGS_LISTED - len(report.warnings))]:
                    line = int(batch.line[i])
                    dev, plate = batch.device_id[i], owner[i]
                    if plate is None:
                        reason = tr(
                            f"终端 {dev} 此时未装在任何车上，此行车牌为 {batch.plate[i]}："
                            "定位点保留，装车后计入",
                            f"tracker {dev} was in no car then, the row says {batch.plate[i]}: kept, "
                            "counted once it is assigned",
                        )
                    else:
                        reason = tr(
                            f"终端 {dev} 此时装在 {plate}，此行车牌为 {batch.plate[i]}：按终端计入 {plate}",
                            f"tracker {dev} was in {plate} then, the row says {batch.plate[i]}: kept as "
                            f"{plate}'s",
                        )
                    report.warnings.append(RowError(line, p_col, p_header, reason, "plate"))
            for i in np.flatnonzero(~known):
                line = int(batch.line[i])
                dev = batch.device_id[i]
                reason = tr(
                    f"未登记的终端号 '{dev}' (先导入车辆)", f"unknown tracker '{dev}' (import vehicles first)"
                )
                bad[line] = BadRow(line, [], [RowError(line, dev_col, dev_header, reason, "device_id")])
            idx = np.flatnonzero(ok)
            lat, lon = datum.to_wgs84(coord_system, batch.lat[idx], batch.lon[idx])
            fixes = FixBatch(
                device_id=batch.device_id[idx],
                fix_ts=batch.fixed_at[idx],
                lat=lat,
                lon=lon,
                speed_kmh=batch.speed_kmh[idx],
                course=batch.course[idx],
                ignition=batch.ignition[idx],
                odometer_m=batch.odometer_m[idx],
                valid=np.ones(len(idx), dtype=bool),
            )
            # Unless bad rows are to be skipped, stop inserting after the first bad one: it all rolls back;
            # and stop reading once there are more bad rows than a report lists.
            if bad and not skip_bad:
                if len(bad) > get_settings().import_max_errors:
                    report.stopped_at = max(bad)
                    break
                continue
            result = ingest_fixes(session, fixes, "import", vehicles=vehicles)
            report.inserted += result.inserted
            report.duplicates += result.duplicates
            report.dropped.update(result.dropped)
            if progress is not None:
                progress(*done)
    report.unchanged = report.duplicates
    _collect_errors(report, bad)
