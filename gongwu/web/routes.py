"""The web pages (server-rendered, Chinese by default): the home page and run history here, the fleet and
property pages in their own modules, gathered into one router that gongwu/app.py includes.

Sign-in is the session cookie set by /login (gongwu/routes_auth.py); every page is declared with its
permission in `gongwu.web.pages.PAGES` (merged into gongwu/permissions.py), a page GET without sign-in is
redirected to /login, and forms carry the session's CSRF token (checked by `accounts.access.authorize`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import func
from sqlmodel import Session, select

from accounts import notify
from accounts.access import ScopeDep
from accounts.sender import status as delivery_status
from core.api import SessionDep
from core.models import Unit
from core.settings import get_settings
from core.tabular import Col
from fleet.models import Vehicle
from gongwu.web import (
    charts,
    cost_pages,
    fleet_pages,
    import_pages,
    lease_pages,
    maps,
    order_pages,
    property_pages,
)
from gongwu.web.common import (
    STATIC_DIR,
    FormState,
    PageRoute,
    can,
    i18n,
    local_path,
    principal_of,
    render,
    today,
    xlsx_response,
)
from gongwu.web.i18n import I18n
from gongwu.web.login import templates as auth_templates
from property import queries as property_queries
from scheduler.queries import recent_runs

__all__ = ["STATIC_DIR", "router"]

router = APIRouter(include_in_schema=False, route_class=PageRoute)


def _login_t(text: str) -> str:
    return I18n(get_settings().language)(text)


# The login page (gongwu/templates/login.html) shares the pages' stylesheet and labels.
auth_templates.env.globals.setdefault("t", _login_t)
auth_templates.env.globals.setdefault(
    "page_lang", lambda: "en" if get_settings().language == "en" else "zh-CN"
)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep, scope: ScopeDep) -> HTMLResponse:
    """What each role needs first: the open flags for the vehicle manager, the certificate board and the
    reminders for the property clerk, their own unit for unit staff."""
    t = i18n(request)
    ctx: dict[str, Any] = {"restricted": scope.restricted}
    day = today()
    if can(request, "fleet:read"):
        counts = fleet_pages.open_counts(session, scope)
        per_day = fleet_pages.trips_per_day(session, day - timedelta(days=29), day, scope)
        vehicles = session.exec(scope.apply(select(func.count()).select_from(Vehicle), Vehicle.unit_id)).one()
        ctx["fleet"] = {
            "counts": counts,
            "open": sum(counts.values()),
            "vehicles": int(vehicles),
            "trips": sum(n for _, n in per_day),
            "chart": _trips_chart(t, per_day),
        }
    if can(request, "property:read"):
        views = property_queries.office_views(
            session, day, unit_id=scope.unit_id if scope.restricted else None
        )
        ctx["property"] = {
            "total": len(views),
            "certified": sum(1 for v in views if v["stage"] == "certified"),
            "blocked": sum(1 for v in views if v["blockers"]),
            "overdue": sum(1 for v in views if v["overdue"]),
            "chart": property_pages.stage_chart(t, views),
        }
    if can(request, "property:county"):
        ctx["alerts"] = list(session.exec(property_queries.alert_query(open_only=True).limit(10)).all())
    if can(request, "runs:read"):
        runs = recent_runs(session, 1)
        ctx["last_run"] = runs[0] if runs else None
    if scope.restricted:
        ctx["unit"] = session.get(Unit, scope.unit_id)
    ctx["todo"] = order_pages.todo_counts(session, request, scope)
    return render(request, session, "home.html", ctx, section="home")


def _trips_chart(t: I18n, per_day: list[Any]) -> Any:
    return charts.column_chart([(f"{d.month}/{d.day}", n) for d, n in per_day], title=t("近 30 天每日行程数"))


def _count(counts: dict[str, Any], name: str) -> int | None:
    """A count whatever step recorded it (`cut.trips_added` at night, `trips_added` after an assignment)."""
    found = [v for k, v in counts.items() if (k == name or k.endswith("." + name)) and isinstance(v, int)]
    return sum(found) if found else None


def _run_rows(session: Session) -> list[dict[str, Any]]:
    rows = []
    for run in recent_runs(session, 60):
        took = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
        counts = run.counts or {}
        rows.append(
            {
                "run": run,
                "took": took,
                "trips_added": _count(counts, "trips_added"),
                "trips_removed": _count(counts, "trips_removed"),
                "recut": _count(counts, "devices_recut"),
                "raised": _count(counts, "raised"),
                "resolved": _count(counts, "resolved"),
            }
        )
    return rows


def run_summary(t: I18n, r: dict[str, Any]) -> str:
    """What a run did, in words: trips cut and re-cut, flags raised and resolved."""
    parts = []
    if r["trips_added"] is not None:
        parts.append(t("切出新行程 {n} 条").format(n=r["trips_added"]))
    if r["recut"]:
        parts.append(
            t("{d} 台终端的轨迹有变，重新切分，替换旧行程 {n} 条").format(
                d=r["recut"], n=r["trips_removed"] or 0
            )
        )
    if r["raised"] is not None:
        parts.append(t("新增预警 {n} 条").format(n=r["raised"]))
    if r["resolved"] is not None:
        parts.append(t("消除预警 {n} 条（已补报或恢复正常）").format(n=r["resolved"]))
    return ("; " if t.en else "；").join(parts)


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(request: Request, session: SessionDep) -> HTMLResponse:
    """消息: one's notifications, unread first marked, each linking to where it is about."""
    principal = principal_of(request)
    assert principal is not None  # the permission table asks for a signed-in user
    return _inbox(request, session, principal.user_id, FormState())


def _inbox(
    request: Request, session: Session, user_id: int, form: FormState, status: int = 200
) -> HTMLResponse:
    rows = notify.inbox(session, user_id, limit=200)
    items = [{"row": r, "words": notify.words(r.kind, r.params)} for r in rows]
    channels = [{"id": c.id, "url": notify.shown_url(c.url), "digest_only": c.digest_only,
                 "quiet": f"{c.quiet_from}–{c.quiet_to}" if c.quiet_from else ""}
                for c in notify.channels_of(session, user_id)]  # fmt: skip
    q = request.query_params
    ctx = {
        "items": items,
        "marked": q.get("marked", ""),
        "channels": channels,
        "form": form,
        "done": q.get("done", ""),
    }
    return render(request, session, "inbox.html", ctx, section="inbox", status=status)


@router.post("/inbox/channels", response_class=HTMLResponse)
def inbox_add_channel(
    request: Request,
    session: SessionDep,
    url: Annotated[str, Form(max_length=500)] = "",
    digest_only: Annotated[str, Form()] = "",
    quiet_from: Annotated[str, Form(max_length=5)] = "",
    quiet_to: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Add one of one's own channels (e-mail or a robot); a bad URL comes back beside its field."""
    from accounts.access import actor as actor_of
    from core.errors import ValidationFailed

    principal = principal_of(request)
    assert principal is not None
    form = FormState(values={"url": url, "quiet_from": quiet_from, "quiet_to": quiet_to})
    user = notify.by_id(session, principal.user_id)
    try:
        notify.add_channel(session, user[0], url, actor=actor_of(request), quiet=(quiet_from, quiet_to),
                           digest_only=bool(digest_only))  # fmt: skip
    except ValidationFailed as exc:
        form.errors["url"] = exc.message
        return _inbox(request, session, principal.user_id, form, status=422)
    return RedirectResponse("/inbox?done=channel", status_code=303)


@router.post("/inbox/channels/{channel_id}/delete", response_class=HTMLResponse)
def inbox_remove_channel(request: Request, session: SessionDep, channel_id: int) -> Response:
    from accounts.access import actor as actor_of

    principal = principal_of(request)
    assert principal is not None
    notify.remove_channel(session, principal.user_id, channel_id, actor=actor_of(request))
    return RedirectResponse("/inbox?done=removed", status_code=303)


@router.post("/inbox/read", response_class=HTMLResponse)
def inbox_read(
    request: Request,
    session: SessionDep,
    id: Annotated[int | None, Form()] = None,
    next: Annotated[str, Form()] = "",
) -> Response:
    """Mark one notification read (and go where it points), or all of them."""
    principal = principal_of(request)
    assert principal is not None
    marked = notify.mark_read(session, principal.user_id, None if id is None else [id])
    if id is not None:
        return RedirectResponse(local_path(next, "/inbox"), status_code=303)
    return RedirectResponse(f"/inbox?marked={marked}", status_code=303)


@router.get("/runs", response_class=HTMLResponse)
def runs_page(request: Request, session: SessionDep) -> HTMLResponse:
    t = i18n(request)
    rows = [r | {"summary": run_summary(t, r)} for r in _run_rows(session)]
    deliveries = delivery_status(session)  # what the notifications' channels did: a failure is seen here
    return render(request, session, "runs.html", {"rows": rows, "deliveries": deliveries}, section="runs")


@router.get("/runs.xlsx")
def runs_xlsx(request: Request, session: SessionDep) -> Response:
    t = i18n(request)
    columns = [
        Col(t("编号"), "int"), Col(t("任务")), Col(t("状态")), Col(t("开始时间"), "datetime"),
        Col(t("耗时（秒）"), "km"), Col(t("处理日期起"), "date"), Col(t("处理日期止"), "date"),
        Col(t("切出新行程"), "int", total=True), Col(t("重新切分的终端"), "int", total=True),
        Col(t("新增预警"), "int", total=True), Col(t("消除预警"), "int", total=True), Col(t("说明")),
    ]  # fmt: skip
    rows = [
        dict(zip([c.header for c in columns], [
            r["run"].id, r["run"].job, t.run_status(r["run"].status), r["run"].started_at, r["took"],
            r["run"].day_from, r["run"].day_to, r["trips_added"], r["recut"], r["raised"], r["resolved"],
            r["run"].error or run_summary(t, r),
        ], strict=True))
        for r in _run_rows(session)
    ]  # fmt: skip
    return xlsx_response(t, columns, rows, title=t("运行记录"), filename=f"{t('运行记录')}-{today()}.xlsx")


router.include_router(order_pages.router)
router.include_router(fleet_pages.router)
router.include_router(cost_pages.router)
router.include_router(lease_pages.router)
router.include_router(property_pages.router)
router.include_router(import_pages.router)
router.include_router(maps.router)
