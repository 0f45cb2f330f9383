"""运行费用 and 车辆处置 (issue 25): what each unit and car cost in a year against another year, with charts
and the Excel file; the cars in disposal, stage by stage, with the days each took."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from accounts.access import ScopeDep
from core.api import SessionDep
from core.errors import ValidationFailed
from core.tabular import Col
from fleet import queries
from gongwu.web import charts
from gongwu.web.common import PageRoute, columns, i18n, listing, render, today, xlsx_response
from gongwu.web.i18n import I18n

router = APIRouter(include_in_schema=False, route_class=PageRoute)

CATEGORY_LABELS = {
    "fuel": "燃油", "maintenance": "维修保养", "insurance": "保险", "tolls": "通行费", "meals": "伙食补助",
    "other": "其他",
}  # fmt: skip
COST_SORT = columns(
    "plate", "unit", "total_fen", "km", "per_km_fen", "trips", *(f"{c}_fen" for c in CATEGORY_LABELS)
)


def _year(t: I18n, raw: str | None, default: int | None) -> int | None:
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 2000 <= int(raw) <= 2100:
        raise ValidationFailed(t("年份应为四位数字") + f": {raw}")
    return int(raw)


def _report(request: Request, session: Any, scope: Any) -> tuple[dict[str, Any], int, int | None]:
    """The year asked for (last year by default: a whole one) against the year before it, or the `compare`
    given (empty: no comparison)."""
    t = i18n(request)
    params = request.query_params
    year = _year(t, params.get("year"), today().year - 1)
    assert year is not None
    compare = (
        _year(t, params.get("compare"), year - 1) if "compare" not in params or params["compare"] else None
    )
    return queries.costs_report(session, year, scope, compare), year, compare


@router.get("/reports/costs", response_class=HTMLResponse)
def costs_page(request: Request, session: SessionDep, scope: ScopeDep) -> HTMLResponse:
    """运行费用: the county's (or the unit's) line against the compared year, the categories and the
    units as bars, each unit's and each car's costs."""
    t = i18n(request)
    report, year, compare = _report(request, session, scope)
    county = report["county"]
    by_category = charts.column_chart(
        [(t(CATEGORY_LABELS[c]), county[f"{c}_fen"] / 100) for c in CATEGORY_LABELS],
        title=t("各类费用（元）") + f" {year}",
    )
    by_unit = charts.column_chart(
        [(u["unit"][:4], u["total_fen"] / 100) for u in report["units"]],
        title=t("各单位运行费用（元）") + f" {year}", colour=charts.BAR_ALT,
    )  # fmt: skip
    years_chart = None
    if compare is not None:
        then = report["compare"]["county"]
        years_chart = charts.column_chart(
            [(str(compare), then["total_fen"] / 100), (str(year), county["total_fen"] / 100)],
            title=t("运行费用（元）") + f" {compare} / {year}",
        )  # fmt: skip
    cars = listing(
        request,
        report["vehicles"],
        COST_SORT,
        "total_fen",
        desc=True,
        search=lambda r: r["plate"] + r["unit"],
    )
    change = {u["unit"]: u for u in report["change"]["units"]} if compare is not None else {}
    return render(
        request, session, "costs.html",
        {
            "report": report, "year": year, "compare": compare, "county": county, "cars": cars,
            "change": change, "categories": CATEGORY_LABELS, "by_category": by_category, "by_unit": by_unit,
            "years_chart": years_chart, "restricted": scope.restricted,
        },
        section="costs",
    )  # fmt: skip


@router.get("/reports/costs.xlsx")
def costs_xlsx(request: Request, session: SessionDep, scope: ScopeDep) -> Response:
    """Each unit's costs, then each car's, one sheet: the categories, total, km, per car, per km."""
    t = i18n(request)
    report, year, compare = _report(request, session, scope)
    cols = [Col(t("单位")), Col(t("车牌号")), Col(t("车辆数"), "int")]
    # no totals row: the county's row is there, and the cars' rows list the same money again
    cols += [Col(t(label) + t("（元）"), "yuan") for label in CATEGORY_LABELS.values()]
    cols += [
        Col(t("合计（元）"), "yuan"), Col(t("里程（公里）"), "km"), Col(t("行程数"), "int"),
        Col(t("单车费用（元）"), "yuan"), Col(t("每公里费用（元）"), "yuan"),
    ]  # fmt: skip
    headers = [c.header for c in cols]

    def row(r: dict[str, Any], unit: str, plate: str) -> dict[str, Any]:
        money = [Decimal(r[f"{c}_fen"]) / 100 for c in CATEGORY_LABELS]
        per = [None if r[k] is None else Decimal(r[k]) / 100 for k in ("per_car_fen", "per_km_fen")]
        values = [unit, plate, r["cars"], *money, Decimal(r["total_fen"]) / 100, r["km"], r["trips"], *per]
        return dict(zip(headers, values, strict=True))

    rows = [row(u, u["unit"], "") for u in report["units"]]
    if not scope.restricted:  # a unit's staff have their unit's row: no county row of the same figures
        rows.append(row(report["county"], t("全县"), ""))
    rows += [row(v, v["unit"], v["plate"]) for v in report["vehicles"]]
    notes = [
        t("费用按发生日所属单位计：调剂车辆调剂日前的费用仍计原单位。"),
        t("全县行之后是同一些费用按车辆列出。"),
    ]
    if compare is not None:
        c = report["change"]["county"]
        notes.append(
            t("{old} 年 {n_old} 辆 ¥{a} → {new} 年 {n_new} 辆 ¥{b}").format(
                old=compare, n_old=c["cars_from"], a=t.fen(c["total_fen_from"]), new=year, n_new=c["cars_to"],
                b=t.fen(c["total_fen_to"]),
            )
        )  # fmt: skip
    return xlsx_response(
        t, cols, rows, title=t("运行费用") + f" {year}", period=str(year), notes=notes,
        filename=f"{t('运行费用')}-{year}.xlsx",
    )  # fmt: skip


DISPOSAL_SORT = columns("plate", "unit", "stage", "days_total")


@router.get("/reports/disposals", response_class=HTMLResponse)
def disposals_page(request: Request, session: SessionDep, scope: ScopeDep) -> HTMLResponse:
    """车辆处置: each car proposed, pending, approved or disposed, the day and paper of each stage and the
    days it took — the longest first."""
    rows = queries.disposals(session, scope, today())
    found = listing(
        request, rows, DISPOSAL_SORT, "days_total", desc=True, search=lambda r: r["plate"] + r["unit"]
    )
    return render(request, session, "disposals.html", {"found": found}, section="disposals")


@router.get("/reports/disposals.xlsx")
def disposals_xlsx(request: Request, session: SessionDep, scope: ScopeDep) -> Response:
    t = i18n(request)
    rows = queries.disposals(session, scope, today())
    cols = [
        Col(t("车牌号")), Col(t("单位")), Col(t("阶段")), Col(t("闲置自"), "date"),
        Col(t("提议处置日期"), "date"), Col(t("闲置待处置天数"), "int"),
        Col(t("申请日期"), "date"), Col(t("申请文号")), Col(t("待批复天数"), "int"),
        Col(t("批复日期"), "date"), Col(t("批复文号")), Col(t("批复后天数"), "int"),
        Col(t("处置日期"), "date"), Col(t("处置方式")), Col(t("处置收入（元）"), "yuan", total=True),
        Col(t("接收单位")), Col(t("共计天数"), "int"),
    ]  # fmt: skip
    keys = [
        "plate", "unit", "stage_label", "idle_since", "idle_proposed_on", "days_idle_proposed",
        "disposal_pending_on",
        "application_no", "days_disposal_pending", "disposal_approved_on", "approval_no",
        "days_disposal_approved", "disposed_on", "method", "income_yuan", "to_unit", "days_total",
    ]  # fmt: skip
    out = [
        {
            c.header: (Decimal(r[k]) if k == "income_yuan" and r[k] else r[k])
            for c, k in zip(cols, keys, strict=True)
        }
        for r in rows
    ]
    return xlsx_response(t, cols, out, title=t("车辆处置"), filename=f"{t('车辆处置')}-{today()}.xlsx")
