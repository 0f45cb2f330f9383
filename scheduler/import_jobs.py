"""Imports as jobs: an upload is written to disk (hashed, size-capped) and queued; the server's worker
thread imports it off the request, so the page or API answers at once and the server — its listeners
included — keeps answering while a big file goes in.

The job's status and report are written in the import's own transaction (`done` means the rows are in,
and a killed import leaves its job `running` with nothing of it committed); a job whose worker process is
gone is queued again when a worker starts (same host), so an acknowledged upload is never lost. Progress
lives in the worker's memory (and, on PostgreSQL, in the row: SQLite's one writer is the import)."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.errors import GongwuError, NotFound, ValidationFailed
from core.i18n import tr
from core.logs import log
from core.settings import get_settings
from core.timeutil import utcnow
from scheduler.imports import import_file
from scheduler.lock import holder_gone
from scheduler.models import IMPORT_FINISHED, ImportJob, ImportStatus

logger = logging.getLogger(__name__)

OpenSession = Callable[[], AbstractContextManager[Session]]


def _me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def upload_dir() -> Path:
    return Path(get_settings().import_upload_dir)


def too_big(size: int) -> str:
    most = get_settings().import_max_upload_mb
    return tr(
        f"文件有 {size / 1e6:,.0f} MB，超过上传上限 {most} MB（GONGWU_IMPORT_MAX_UPLOAD_MB）；"
        "更大的文件请在服务器上用 gongwu import 导入",
        f"the file is {size / 1e6:,.0f} MB, more than the upload limit of {most} MB "
        "(GONGWU_IMPORT_MAX_UPLOAD_MB): import bigger files with `gongwu import` on the server",
    )


@dataclass(frozen=True)
class Stored:
    path: Path
    size: int
    sha256: str


def store_upload(stream: IO[bytes]) -> Stored:
    """Copy an upload to the upload folder in blocks, hashing it, refusing it past the size cap."""
    most = get_settings().import_max_upload_mb * 1_000_000
    folder = upload_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.upload"
    digest, size = hashlib.sha256(), 0
    try:
        with path.open("wb") as out:
            while block := stream.read(1 << 20):
                size += len(block)
                if size > most:
                    raise ValidationFailed(too_big(size))
                digest.update(block)
                out.write(block)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Stored(path, size, digest.hexdigest())


def enqueue(
    session: Session,
    kind: str,
    stored: Stored,
    *,
    filename: str,
    actor: str,
    user_id: int | None,
    options: dict[str, Any],
    status: str = ImportStatus.queued,
) -> ImportJob:
    job = ImportJob(
        kind=kind,
        filename=Path(filename or "upload").name[:255],
        stored_as=str(stored.path),
        size=stored.size,
        sha256=stored.sha256,
        options=options,
        actor=actor,
        user_id=user_id,
        status=status,
        worker=_me() if status == ImportStatus.running else "",
        started_at=utcnow() if status == ImportStatus.running else None,
    )
    session.add(job)
    session.flush()
    return job


def submit(
    session: Session,
    kind: str,
    stored: Stored,
    *,
    filename: str,
    actor: str,
    user_id: int | None,
    options: dict[str, Any],
    status: str = ImportStatus.queued,
) -> int:
    """Enqueue an upload and commit the request's transaction: the job is acknowledged, and the import
    (in transactions of its own, which on SQLite must not wait behind this one's write lock) may start."""
    job = enqueue(
        session, kind, stored, filename=filename, actor=actor, user_id=user_id, options=options, status=status
    )
    assert job.id is not None
    session.commit()
    return job.id


# --- running a job --------------------------------------------------------------------------------------

_progress: dict[int, tuple[int, int | None]] = {}  # job id → (rows read, rows in all) while it runs here


def progress_of(job: ImportJob) -> tuple[int, int | None]:
    assert job.id is not None
    return _progress.get(job.id, (job.rows_read, job.rows_total))


def run_job(open_session: OpenSession, job_id: int, engine: Engine | None = None) -> None:
    """Import a claimed job's file; its status and report are committed with the import itself. A file
    the importer cannot read (or any other error) fails the job in a transaction of its own."""
    beat = (
        _ProgressWriter(engine, job_id)
        if engine is not None and engine.dialect.name == "postgresql"
        else None
    )

    def progress(read: int, total: int | None) -> None:
        _progress[job_id] = (read, total)
        if beat is not None:
            beat.note(read, total)

    try:
        with open_session() as session:
            if beat is None:  # SQLite (PostgreSQL's progress writer updates this row from outside)
                # The job's row written first takes the one write lock before anything is read, so a
                # listener's write meanwhile cannot leave this transaction's snapshot stale.
                session.exec(update(ImportJob).where(col(ImportJob.id) == job_id).values(rows_read=0))  # type: ignore[call-overload]
            job = session.get(ImportJob, job_id)
            if job is None:
                return
            source = Path(job.stored_as)
            if not source.exists():
                raise ValidationFailed(
                    tr(
                        "上传的文件已不在服务器上，请重新上传",
                        "the uploaded file is no longer on the server: upload it again",
                    )
                )
            opts = dict(job.options)
            report = import_file(
                session,
                job.kind,
                source,
                filename=job.filename,
                dry_run=bool(opts.get("dry_run")),
                skip_bad=bool(opts.get("skip_bad")),
                sheet=opts.get("sheet"),
                coord_system=opts.get("coord_system") or "wgs84",
                actor=job.actor,
                write_rejects=False,
                progress=progress,
                sha256=job.sha256,
            )
            bad = bool(report.errors) and not report.committed and not opts.get("dry_run")
            job.status = ImportStatus.rejected if bad else ImportStatus.done
            job.report = report.to_json()
            job.rows_read, job.rows_total = report.read, report.read
            job.finished_at = utcnow()
            session.add(job)
    except Exception as exc:
        message = exc.message if isinstance(exc, GongwuError) else str(exc) or type(exc).__name__
        if not isinstance(exc, GongwuError | ValueError):
            logger.exception("import job %s failed", job_id)
        with open_session() as session:
            job = session.get(ImportJob, job_id)
            if job is not None:
                job.status, job.error, job.finished_at = ImportStatus.failed, message[:4000], utcnow()
                session.add(job)
    finally:
        _progress.pop(job_id, None)
    _remove_upload(open_session, job_id)


def _remove_upload(open_session: OpenSession, job_id: int) -> None:
    with open_session() as session:
        job = session.get(ImportJob, job_id)
        if job is not None and job.status in IMPORT_FINISHED:
            Path(job.stored_as).unlink(missing_ok=True)


class _ProgressWriter:
    """On PostgreSQL, the job's progress in its row (its own connection, at most every 2 s), so any server
    process can show it."""

    def __init__(self, engine: Engine, job_id: int) -> None:
        self.engine, self.job_id, self.last = engine, job_id, 0.0

    def note(self, read: int, total: int | None) -> None:
        import time

        now = time.monotonic()
        if now - self.last < 2:
            return
        self.last = now
        with self.engine.begin() as conn:
            conn.execute(
                update(ImportJob)
                .where(col(ImportJob.id) == self.job_id)
                .values(rows_read=read, rows_total=total)
            )


def claim_next(open_session: OpenSession) -> int | None:
    """The oldest queued job, marked running by this process (a conditional update: two workers never
    take the same job)."""
    with open_session() as session:
        ids = session.exec(
            select(ImportJob.id)
            .where(ImportJob.status == ImportStatus.queued)
            .order_by(col(ImportJob.id))
            .limit(5)
        ).all()
        for job_id in ids:
            taken = session.exec(  # type: ignore[call-overload]
                update(ImportJob)
                .where(col(ImportJob.id) == job_id, col(ImportJob.status) == ImportStatus.queued)
                .values(status=ImportStatus.running, worker=_me(), started_at=utcnow())
            )
            if taken.rowcount == 1:
                return job_id
    return None


def requeue_orphans(open_session: OpenSession) -> int:
    """Jobs left `running` by a process of this host that is gone (killed, restarted): queued again —
    their import's transaction died with the process, so nothing of them is in."""
    with open_session() as session:
        running = session.exec(select(ImportJob).where(ImportJob.status == ImportStatus.running)).all()
        orphans = [j for j in running if j.worker and holder_gone(j.worker)]
        for job in orphans:
            job.status, job.worker, job.started_at = ImportStatus.queued, "", None
            session.add(job)
            log(logger, "import job queued again", job=job.id, file=job.filename)
        return len(orphans)


class ImportWorker:
    """One thread per server process importing queued jobs in order (one at a time: imports write the
    same tables, and SQLite has one writer anyway). `threaded=False` imports a job when it is queued, in
    the queuing thread: for an app on a test's single session, which two threads must not share."""

    def __init__(
        self, open_session: OpenSession, engine: Engine | None = None, *, threaded: bool = True
    ) -> None:
        self.open_session, self.engine, self.threaded = open_session, engine, threaded
        self.wake = threading.Event()
        self.idle = threading.Event()  # set while the queue is empty and nothing runs
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="gongwu-imports", daemon=True)

    def start(self) -> ImportWorker:
        try:
            requeue_orphans(self.open_session)
        except Exception:  # a worker that cannot look yet still serves; the next start requeues
            logger.exception("could not requeue orphaned import jobs")
        if self.threaded:
            self.thread.start()
        return self

    def notify(self) -> None:
        """A job was queued: look now."""
        if not self.threaded:
            while (job_id := claim_next(self.open_session)) is not None:
                run_job(self.open_session, job_id, self.engine)
            return
        self.idle.clear()
        self.wake.set()

    def drain(self, timeout: float = 60) -> bool:
        """Wait until the queue is empty and nothing runs (tests, a graceful stop)."""
        return self.idle.wait(timeout) if self.threaded else True

    def stop(self, timeout: float = 5) -> None:
        self.stopping.set()
        self.wake.set()
        if self.thread.is_alive():
            self.thread.join(timeout)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                job_id = claim_next(self.open_session)
            except Exception:
                logger.exception("import worker could not claim a job")
                job_id = None
            if job_id is None:
                if not self.wake.is_set():
                    self.idle.set()
                self.wake.wait(2.0)  # woken by a new upload; polls for jobs queued by other processes
                self.wake.clear()
                continue
            run_job(self.open_session, job_id, self.engine)


# --- reading jobs ---------------------------------------------------------------------------------------


def get_job(session: Session, job_id: int, *, user_id: int, see_all: bool) -> ImportJob:
    """A job its own user (or an admin) may see; anyone else is told it does not exist."""
    job = session.get(ImportJob, job_id)
    if job is None or not (see_all or job.user_id == user_id):
        raise NotFound(tr(f"导入任务 {job_id} 不存在", f"import job {job_id} not found"))
    return job


def list_jobs(session: Session, *, user_id: int, see_all: bool, limit: int = 50) -> list[ImportJob]:
    stmt = select(ImportJob).order_by(col(ImportJob.id).desc()).limit(limit)
    if not see_all:
        stmt = stmt.where(ImportJob.user_id == user_id)
    return list(session.exec(stmt).all())


def job_state(job: ImportJob) -> dict[str, Any]:
    """A job as the API and the page show it."""
    read, total = progress_of(job) if job.status == ImportStatus.running else (job.rows_read, job.rows_total)
    return {
        "id": job.id,
        "kind": job.kind,
        "file": job.filename,
        "size": job.size,
        "sha256": job.sha256,
        "status": job.status,
        "actor": job.actor,
        "options": job.options,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "progress": {"read": read, "total": total},
        "report": job.report,
        "error": job.error,
        "url": f"/api/v1/imports/{job.id}",
    }
