"""The web pages (server-rendered, Chinese by default): the home page and run history here, the fleet and
property pages in their own modules, gathered into one router that gongwu/app.py includes.

Sign-in is the session cookie set by /login (gongwu/routes_auth.py); every page is declared with its
permission in `gongwu.web.pages.PAGES` (merged into gongwu/permissions.py), a page GET without sign-in is
redirected to /login, and forms carry the session's CSRF token (checked by `accounts.access.authorize`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func
from sqlmodel import select

from accounts.access import ScopeDep
from core.api import SessionDep
from core.models import Unit
from core.settings import get_settings
from fleet.models import Vehicle
from gongwu.web import charts, fleet_pages, import_pages, order_pages, property_pages
from gongwu.web.common import STATIC_DIR, PageRoute, can, i18n, render, today
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


@router.get("/runs", response_class=HTMLResponse)
def runs_page(request: Request, session: SessionDep) -> HTMLResponse:
    runs = recent_runs(session, 60)
    rows = []
    for run in runs:
        took = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
        counts = run.counts or {}
        rows.append(
            {
                "run": run,
                "took": took,
                "trips_added": counts.get("cut.trips_added"),
                "raised": counts.get("reconcile.raised"),
                "resolved": counts.get("reconcile.resolved"),
            }
        )
    return render(request, session, "runs.html", {"rows": rows}, section="runs")


router.include_router(order_pages.router)
router.include_router(fleet_pages.router)
router.include_router(property_pages.router)
router.include_router(import_pages.router)
