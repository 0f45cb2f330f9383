"""The scheduler's API under /api/v1: the run history, and imports (a file in, its re-cut as a run)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from accounts.access import actor
from core.api import ListOut, PageDep, SessionDep, listing
from core.errors import ValidationFailed
from ingest.kinds import KINDS, get_kind
from ingest.templates import template_xlsx
from scheduler import queries
from scheduler.imports import import_file

router = APIRouter(tags=["scheduler"])
MAX_UPLOAD = 512 * 1024 * 1024  # a bigger positions export goes through `gongwu import` on the server


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


@router.post("/imports/{kind}", tags=["imports"])
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
) -> Any:
    """The import report: `{"kind", "read", "inserted", "updated", "unchanged", "rejected", "dropped",
    "errors": [{"line", "column", "reason"}], ...}`. All-or-nothing unless `skip_bad`; 422 when any row
    was bad (and nothing committed), 200 otherwise."""
    kind = _kind(kind)
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise ValidationFailed("文件过大 file too large for an upload: use `gongwu import` on the server")
    report = await run_in_threadpool(
        import_file,
        session,
        kind,
        data,
        filename=file.filename or "upload",
        dry_run=dry_run,
        skip_bad=skip_bad,
        sheet=sheet,
        actor=actor(request),
        write_rejects=False,
    )
    body = report.to_json()
    if report.errors and not skip_bad:
        # 422 with the whole report, so a client sees every bad row (the import's savepoint is rolled back)
        detail = f"{report.rejected} 行有误, 未导入任何数据 bad rows: nothing was imported"
        return JSONResponse(status_code=422, content={"detail": detail, **body})
    return body


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
        raise ValidationFailed(f"未知的导入类型 unknown import kind '{kind}': use one of {', '.join(KINDS)}")
    return k
