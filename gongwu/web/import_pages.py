"""The import page: hand a file in (the kinds one may import), follow its job's progress bar, read its
report with every bad row's line, column and reason. The upload becomes a job like the API's
(scheduler/import_jobs.py): the page answers at once and the server keeps serving meanwhile."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from accounts.access import PermissionTable
from core.api import SessionDep
from core.errors import PermissionDenied, ValidationFailed
from gongwu.web.common import PageRoute, i18n, principal_of, render
from ingest.kinds import SPECS, kind_name
from scheduler import import_jobs
from scheduler.models import IMPORT_FINISHED, ImportStatus

router = APIRouter(include_in_schema=False, route_class=PageRoute)


def _kinds(request: Request) -> list[str]:
    """The kinds the signed-in user may import (the permission table's IMPORTS)."""
    principal = principal_of(request)
    table = request.app.state.permissions
    if principal is None or not isinstance(table, PermissionTable):
        return []
    return [k for k in SPECS if table.allows(principal.role, table.import_permission(k, principal.role))]


def _see_all(request: Request) -> bool:
    principal = principal_of(request)
    return principal is not None and principal.role == "admin"


@router.get("/imports", response_class=HTMLResponse)
def imports_page(request: Request, session: SessionDep) -> HTMLResponse:
    principal = principal_of(request)
    assert principal is not None
    jobs = import_jobs.list_jobs(session, user_id=principal.user_id, see_all=_see_all(request), limit=30)
    ctx = {
        "kinds": [(k, SPECS[k].title) for k in _kinds(request)],
        "jobs": [import_jobs.job_state(j) for j in jobs],
        "max_mb": request.app.state.settings.import_max_upload_mb,
    }
    return render(request, session, "imports.html", ctx, section="imports")


@router.post("/imports", response_class=HTMLResponse)
async def imports_submit(
    request: Request,
    session: SessionDep,
    kind: Annotated[str, Form()],
    file: Annotated[UploadFile, File()],
    dry_run: Annotated[bool, Form()] = False,
    skip_bad: Annotated[bool, Form()] = False,
    coord_system: Annotated[str, Form()] = "wgs84",
) -> Response:
    """The file in as a job, then its page. The kind's own permission is checked here (the form names the
    kind; the API's route carries it in the path)."""
    t = i18n(request)
    try:
        kind = kind_name(kind)
    except KeyError:
        raise ValidationFailed(t("请选择要导入的数据类型")) from None
    if kind not in _kinds(request):
        raise PermissionDenied(t("无权导入这类数据"))
    if not file.filename:
        raise ValidationFailed(t("请选择文件"))
    stored = await run_in_threadpool(import_jobs.store_upload, file.file)
    principal = principal_of(request)
    assert principal is not None

    def queue() -> int:
        return import_jobs.submit(
            session, kind, stored, filename=file.filename or "upload", actor=principal.username,
            user_id=principal.user_id, options={"dry_run": dry_run, "skip_bad": skip_bad, "sheet": None,
                     "coord_system": coord_system},
        )  # fmt: skip

    job_id = await run_in_threadpool(queue)
    worker = getattr(request.app.state, "import_worker", None)
    if worker is not None:
        await run_in_threadpool(worker.notify)
    return RedirectResponse(f"/imports/{job_id}", status_code=303)


def _job_context(request: Request, session: SessionDep, job_id: int) -> dict[str, Any]:
    principal = principal_of(request)
    assert principal is not None
    job = import_jobs.get_job(session, job_id, user_id=principal.user_id, see_all=_see_all(request))
    state = import_jobs.job_state(job)
    report = state["report"] or {}
    return {
        "job": state,
        "title_of": SPECS[job.kind].title if job.kind in SPECS else job.kind,
        "finished": job.status in IMPORT_FINISHED,
        "running": job.status == ImportStatus.running,
        "report": report,
        "errors": (report.get("errors") or [])[:200],
    }


@router.get("/imports/{job_id}", response_class=HTMLResponse)
def import_job_page(request: Request, session: SessionDep, job_id: int) -> HTMLResponse:
    return render(
        request, session, "import_job.html", _job_context(request, session, job_id), section="imports"
    )


@router.get("/imports/{job_id}/status", response_class=HTMLResponse)
def import_job_status(request: Request, session: SessionDep, job_id: int) -> HTMLResponse:
    """The job's progress and outcome: the part of its page that htmx swaps in every second until done."""
    return render(request, session, "_import_status.html", _job_context(request, session, job_id))
