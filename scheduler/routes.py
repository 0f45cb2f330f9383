"""The scheduler's API under /api/v1: the run history, and imports (a file in, its re-cut as a run)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from accounts.access import actor
from core import normalize as n
from core.api import ListOut, PageDep, SessionDep, listing
from core.errors import ValidationFailed
from core.i18n import tr
from core.settings import get_settings
from fleet import trackers
from fleet.schemas import TrackerAssignmentIn, TrackerAssignmentOut, TrackerHistory
from ingest.kinds import KINDS, get_kind
from ingest.templates import template_xlsx
from scheduler import import_jobs, pipeline, queries
from scheduler.import_jobs import OpenSession
from scheduler.models import ImportJob, ImportStatus

router = APIRouter(tags=["scheduler"])


class RunPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    job: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    day_from: date | None
    day_to: date | None
    counts: dict[str, Any]
    error: str


@router.get("/runs", response_model=ListOut[RunPublic])
def list_runs(session: SessionDep, page: PageDep, job: str | None = None) -> ListOut[RunPublic]:
    return listing(RunPublic, session, queries.runs_query(job=job), page)


# --- imports ------------------------------------------------------------------------------------------


def _open_session(request: Request) -> OpenSession:
    return request.app.state.open_session  # type: ignore[no-any-return]


@router.post(
    "/imports/{kind}",
    tags=["imports"],
    status_code=202,
    responses={
        200: {"description": "with `wait=true`: the import report (nothing refused)"},
        413: {"description": "the file is over GONGWU_IMPORT_MAX_UPLOAD_MB"},
        422: {
            "description": "with `wait=true`: bad rows (the report; nothing imported) or an unreadable file"
        },
    },
)
async def import_upload(
    request: Request,
    session: SessionDep,
    kind: str,
    file: Annotated[UploadFile, File(description="CSV (UTF-8/GBK) or XLSX with Chinese or English headers")],
    dry_run: Annotated[bool, Query(description="check everything, commit nothing")] = False,
    skip_bad: Annotated[
        bool, Query(description="commit the good rows; bad rows are listed in errors")
    ] = False,
    sheet: Annotated[str | None, Query(description="XLSX sheet name or 1-based number")] = None,
    coord_system: Annotated[
        str, Query(description="positions: the file's datum, wgs84 | gcj02 | bd09 (stored WGS-84)")
    ] = "wgs84",
    wait: Annotated[bool, Query(description="answer with the report when the import is done")] = False,
) -> Any:
    """Hand a file in for import: it is stored and queued, and the answer (202) is the job — `id`,
    `status` (queued, running, done, rejected, failed), `url` to follow its `progress` and, once finished,
    its `report`: `{"kind", "read", "inserted", "updated", "unchanged", "rejected", "dropped", "errors":
    [{"line", "column", "reason"}], ...}`. All-or-nothing unless `skip_bad`. With `wait=true` the answer
    is the report itself, as an import took before: 200, or 422 when any row was bad (nothing imported)."""
    kind = _kind(kind)
    length = request.headers.get("content-length", "")
    declared = int(length) if length.isdigit() else 0
    if declared > get_settings().import_max_upload_mb * 1_000_000 + 1_000_000:  # refused before reading
        return JSONResponse(status_code=413, content={"detail": import_jobs.too_big(declared)})
    try:
        stored = await run_in_threadpool(import_jobs.store_upload, file.file)
    except ValidationFailed as exc:
        return JSONResponse(status_code=413, content={"detail": exc.message})
    principal = request.state.principal
    open_session = _open_session(request)
    options = {"dry_run": dry_run, "skip_bad": skip_bad, "sheet": sheet, "coord_system": coord_system}

    def queue(status: str) -> int:
        return import_jobs.submit(
            session, kind, stored, filename=file.filename or "upload", actor=principal.username,
            user_id=principal.user_id, options=options, status=status,
        )  # fmt: skip

    if not wait:
        job_id = await run_in_threadpool(queue, ImportStatus.queued)
        worker = getattr(request.app.state, "import_worker", None)
        if worker is not None:
            await run_in_threadpool(worker.notify)
        state = await run_in_threadpool(_state, open_session, job_id)
        return JSONResponse(
            status_code=202, content=jsonable_encoder(state), headers={"Location": state["url"]}
        )
    # Waiting: the same job, imported here (in a worker thread, off the event loop) instead of queued.
    job_id = await run_in_threadpool(queue, ImportStatus.running)
    await run_in_threadpool(import_jobs.run_job, open_session, job_id, request.app.state.engine)
    state = await run_in_threadpool(_state, open_session, job_id)
    if state["status"] == ImportStatus.failed:
        return JSONResponse(status_code=422, content={"detail": state["error"], "job": job_id})
    body = {**state["report"], "job": job_id}
    if state["status"] == ImportStatus.rejected:
        # 422 with the whole report, so a client sees every bad row (nothing was imported)
        detail = tr(
            f"{body['rejected']} 行有误，未导入任何数据", f"{body['rejected']} bad rows: nothing was imported"
        )
        return JSONResponse(status_code=422, content={"detail": detail, **body})
    return body


def _state(open_session: OpenSession, job_id: int) -> dict[str, Any]:
    with open_session() as session:
        job = session.get(ImportJob, job_id)
        assert job is not None
        return import_jobs.job_state(job)


@router.get("/imports", tags=["imports"])
def list_imports(request: Request, session: SessionDep) -> dict[str, Any]:
    """The latest import jobs: one's own (an admin sees everyone's)."""
    principal = request.state.principal
    jobs = import_jobs.list_jobs(session, user_id=principal.user_id, see_all=principal.role == "admin")
    return {"data": [import_jobs.job_state(j) for j in jobs], "count": len(jobs)}


@router.get("/imports/{job_id}", tags=["imports"])
def get_import(request: Request, session: SessionDep, job_id: int) -> dict[str, Any]:
    """An import job: its `status`, `progress` (`read` of `total` rows; total null until known) and,
    once finished, its `report` or `error`. Only its own user (or an admin) sees it."""
    principal = request.state.principal
    job = import_jobs.get_job(session, job_id, user_id=principal.user_id, see_all=principal.role == "admin")
    return import_jobs.job_state(job)


@router.get("/imports/{kind}/template", response_class=Response, tags=["imports"])
def download_template(kind: str) -> Response:
    """The XLSX template of a kind: Chinese headers, an example row, a sheet of notes."""
    t = get_kind(_kind(kind))
    name = quote(f"{t.title}模板.xlsx")
    return Response(
        template_xlsx(t.kind),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"},
    )


def _kind(kind: str) -> str:
    k = kind.strip().lower().replace("_", "-")
    k = "operating-properties" if k == "shopfronts" else k
    if k not in KINDS:
        raise ValidationFailed(
            tr(
                f"未知的导入类型 '{kind}', 可选 {', '.join(KINDS)}",
                f"unknown import kind '{kind}': use one of {', '.join(KINDS)}",
            )
        )
    return k


# --- tracker assignments (here, not in fleet/routes.py: a change re-cuts and re-reconciles) -------------


@router.get("/tracker-assignments", response_model=TrackerHistory)
def list_tracker_assignments(
    session: SessionDep,
    key: Annotated[str | None, Query(description="a plate or a tracker id; all when absent")] = None,
) -> dict[str, Any]:
    """Which car held which tracker when (终端安装记录), oldest first, as in effect: an implicit assignment
    (the vehicles file's 终端号) gives way wherever an explicit one overlaps it."""
    found, rows = trackers.history(session, key)
    return {"of": found, "key": key or "", "data": rows, "count": len(rows)}


@router.post("/tracker-assignments", response_model=TrackerAssignmentOut, status_code=201)
def assign_tracker(session: SessionDep, request: Request, body: TrackerAssignmentIn) -> dict[str, Any]:
    """Record that a tracker went into a car (and came out): an open assignment of the same tracker or car
    is closed at `installed_at`, the same installation again corrects its times, any other overlap is
    refused (422) naming both. The trips of the span it touches are re-cut and the days already reconciled
    reconciled again, in the same transaction (many at once: `POST /api/v1/imports/tracker-assignments`)."""
    vehicle = trackers.vehicle_or_404(session, body.plate)
    start = n.datetime_china(body.installed_at)
    end = n.datetime_china(body.removed_at) if body.removed_at else None
    row, _ = trackers.assign(
        session, body.device_id, vehicle, start, end, actor=actor(request), note=body.note
    )
    outcome = pipeline.after_tracker_change(session)
    return {
        "assignment_id": row.id, "device_id": row.device_id, "plate": vehicle.plate,
        "installed_at": row.installed_at, "removed_at": row.removed_at, "run_id": outcome.run_id,
        "counts": {k.split(".", 1)[1]: int(v) for k, v in outcome.counts.items()},
    }  # fmt: skip
