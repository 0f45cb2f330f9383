"""The property clerk's pages: the title-certificate board and one office property, operating property
(vacant, overdue takeovers), leases (expiring soon, rent roll) and the lease auctions.

Reads go through property.service (`office_views`, `operating_query`, `lease_query`, `rent_roll`,
`auctions_report`); a unit viewer sees its own unit's properties, as the API scopes them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session, select

from accounts.access import ScopeDep, UnitScope, actor
from core.api import SessionDep
from core.errors import GongwuError, NotFound
from core.i18n import tr
from core.models import Unit
from core.settings import get_settings
from core.tabular import Col
from gongwu.web import charts, maps
from gongwu.web.common import (
    FormState,
    Listing,
    PageRoute,
    columns,
    i18n,
    listing,
    read_day,
    render,
    today,
    xlsx_response,
)
from gongwu.web.fleet_pages import opt_int, units_in_scope
from gongwu.web.i18n import I18n
from property import queries as property_queries
from property import rules
from property import service as property_service
from property.models import OPERATING_STATUSES, Lease, OfficeProperty, OperatingProperty

router = APIRouter(include_in_schema=False, route_class=PageRoute)

EXPIRING_DAYS = 90  # the leases page's "expiring soon"; within 30 days is marked urgent


def _unit_names(session: Session) -> dict[int, str]:
    return {u.id: u.name for u in session.exec(select(Unit)).all() if u.id is not None}


# --- the certificate board ------------------------------------------------------------------------------


def _board(
    session: Session,
    scope: UnitScope,
    day: date,
    *,
    unit: int | None,
    stage: str | None,
    blocker: str | None,
    overdue: bool | None,
    q: str | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """All office properties in scope, and those the filter keeps."""
    unit_id = scope.unit_id if scope.restricted else unit
    everything = property_queries.office_views(session, day, unit_id=unit_id)
    shown = property_queries.office_views(
        session, day, unit_id=unit_id, stage=stage, blocker=blocker, overdue=overdue, q=q
    )
    return everything, shown


def stage_chart(t: I18n, views: list[dict[str, Any]]) -> Any:
    counts = dict.fromkeys(rules.STAGES, 0)
    for v in views:
        counts[v["stage"]] += 1
    return charts.hbar_chart(
        [(t.stage(s), counts[s]) for s in rules.STAGES], title=t("产权证办理进度"), fmt=lambda v: f"{v:g}"
    )


STAGE_COLOURS = dict(
    zip(rules.STAGES, ("#b3261e", "#c2410c", "#8a5a00", "#245c9e", "#6d28d9", "#1b6e3a"), strict=True)
)
STATUS_COLOURS = {
    "leased": "#1b6e3a",
    "self_used": "#245c9e",
    "idle": "#b3261e",
    "offered": "#8a5a00",
    "not_taken_over": "#6b7280",
}


def office_map(request: Request, session: Session, t: I18n, views: list[dict[str, Any]]) -> dict[str, Any]:
    """The office properties with a location, coloured by how far their certificate has got."""
    points = [
        {"lat": v["lat"], "lon": v["lon"], "group": v["stage"],
         "title": f"{v['code']} {v['name']} · {t.stage(v['stage'])}",
         "href": f"/properties/office/{quote(v['code'])}"}
        for v in views
        if v.get("lat") is not None and v.get("lon") is not None
    ]  # fmt: skip
    groups = [{"key": k, "label": t.stage(k), "colour": c} for k, c in STAGE_COLOURS.items()]
    return maps.map_data(session, request, t, points=points, groups=groups)


def operating_map(request: Request, session: Session, t: I18n, items: list[dict[str, Any]]) -> dict[str, Any]:
    """The shopfronts with a location, coloured by their status today (leased, idle…)."""
    points = [
        {"lat": i["p"].lat, "lon": i["p"].lon, "group": i["status"],
         "title": f"{i['p'].code} {i['p'].address} · {t.op_status(i['status'])}", "href": ""}
        for i in items
        if i["p"].lat is not None and i["p"].lon is not None
    ]  # fmt: skip
    groups = [{"key": k, "label": t.op_status(k), "colour": c} for k, c in STATUS_COLOURS.items()]
    return maps.map_data(session, request, t, points=points, groups=groups)


def _checklist(view: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(step, view.get(field) is not None) for step, field in rules.STEP_FIELDS.items()]


@router.get("/properties/certificates", response_class=HTMLResponse)
def certificates_page(
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    unit: str | None = None,
    stage: str | None = None,
    blocker: str | None = None,
    overdue: str | None = None,
    q: str | None = None,
) -> HTMLResponse:
    t = i18n(request)
    day = today()
    everything, shown = _board(
        session, scope, day, unit=opt_int(unit, "unit"), stage=stage or None, blocker=blocker or None,
        overdue=True if overdue else None, q=(q or "").strip() or None,
    )  # fmt: skip
    groups = [(s, [v for v in shown if v["stage"] == s]) for s in rules.STAGES]
    return render(
        request,
        session,
        "certificates.html",
        {
            "groups": [(s, vs) for s, vs in groups if vs],
            "total": len(everything),
            "shown": len(shown),
            "certified": sum(1 for v in everything if v["stage"] == "certified"),
            "blocked": sum(1 for v in everything if v["blockers"]),
            "overdue_count": sum(1 for v in everything if v["overdue"]),
            "chart": stage_chart(t, everything),
            "map_data": office_map(request, session, t, shown),
            "checklist": _checklist,
            "stages": rules.STAGES,
            "blockers": rules.BLOCKERS,
            "steps": rules.STEPS,
            "units": units_in_scope(session, scope),
            "restricted": scope.restricted,
            "chosen": {
                "unit": unit or "",
                "stage": stage or "",
                "blocker": blocker or "",
                "overdue": bool(overdue),
                "q": q or "",
            },
            "query": request.url.query,
        },
        section="certificates",
    )


@router.get("/properties/certificates.xlsx")
def certificates_xlsx(
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    unit: str | None = None,
    stage: str | None = None,
    blocker: str | None = None,
    overdue: str | None = None,
    q: str | None = None,
) -> Response:
    t = i18n(request)
    _, shown = _board(
        session, scope, today(), unit=opt_int(unit, "unit"), stage=stage or None, blocker=blocker or None,
        overdue=True if overdue else None, q=(q or "").strip() or None,
    )  # fmt: skip
    columns = [t("编号"), t("名称"), t("使用单位"), t("地址"), t("阶段"), t("卡点"), t("逾期事项")]
    columns += [t.step(s) for s in rules.STEPS]
    sep = "; " if t.en else "；"
    rows = []
    for v in shown:
        row: dict[str, Any] = {
            columns[0]: v["code"],
            columns[1]: v["name"],
            columns[2]: v["unit"],
            columns[3]: v["address"],
            columns[4]: t.stage(v["stage"]),
            columns[5]: sep.join(t.blocker(b) for b in v["blockers"]),
            columns[6]: sep.join(
                f"{t.step(o['step'])} {t('目标')} {o['due_on']} {t('逾期')} {o['days_overdue']} {t('天')}"
                for o in v["overdue"]
            ),
        }
        for step, field in rules.STEP_FIELDS.items():
            row[t.step(step)] = v.get(field)
        rows.append(row)
    return xlsx_response(
        t,
        columns,
        rows,
        title=t("产权证办理"),
        period=t.date(today()),
        filename=f"{t('产权证办理')}-{today()}.xlsx",
    )


def _office_in_scope(session: Session, scope: UnitScope, code: str) -> None:
    missing = tr(f"办公用房 {code} 不存在", f"office property {code} not found")
    if scope.restricted:
        scope.get(
            session, OfficeProperty, code, OfficeProperty.unit_id, key=OfficeProperty.code, missing=missing
        )


def _render_office(
    request: Request, session: Session, scope: UnitScope, code: str, forms: dict[str, FormState] | None = None
) -> HTMLResponse:
    _office_in_scope(session, scope, code)
    view = property_queries.office_property_view(session, code, today())
    due = {o["step"]: o for o in view["overdue"]}
    targets: dict[str, date] = {}  # the programme's target, overridden by the property's own
    own: dict[str, date] = {}
    for row in sorted(property_queries.list_targets(session), key=lambda r: r["code"] is not None):
        if row["code"] in (None, code):
            targets[row["step"]] = row["due_on"]
        if row["code"] == code:
            own[row["step"]] = row["due_on"]
    forms = forms or {}
    steps = [
        {
            "step": step,
            "done_on": view.get(field),
            "doc": view.get(rules.STEP_DOC_FIELDS[step]) or "",
            "target": targets.get(step),
            "own_target": own.get(step),
            "overdue": due.get(step),
            "form": forms.get(f"step:{step}") or FormState(values={
                "done_on": (view.get(field) or today()).isoformat(),
                "doc": view.get(rules.STEP_DOC_FIELDS[step]) or "",
            }),
            "target_form": forms.get(f"target:{step}") or FormState(values={
                "due_on": own[step].isoformat() if step in own else "",
            }),
        }
        for step, field in rules.STEP_FIELDS.items()
    ]  # fmt: skip
    bad = any(f.errors for f in forms.values())
    ctx = {"p": view, "steps": steps, "done": request.query_params.get("done", "")}
    return render(request, session, "office.html", ctx, section="certificates", status=422 if bad else 200)


@router.get("/properties/office/{code}", response_class=HTMLResponse)
def office_page(request: Request, session: SessionDep, scope: ScopeDep, code: str) -> HTMLResponse:
    return _render_office(request, session, scope, code)


def _step(step: str) -> str:
    if step not in rules.STEPS:
        raise NotFound(tr(f"未知的办理事项 {step}", f"unknown step {step}"))
    return step


@router.post("/properties/office/{code}/steps/{step}", response_class=HTMLResponse)
def office_step(
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    code: str,
    step: str,
    done_on: Annotated[str, Form(max_length=10)] = "",
    doc: Annotated[str, Form(max_length=200)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
    clear: Annotated[str, Form(max_length=1)] = "",
) -> Response:
    """Record a checklist step (its date and 文号, the certificate's number for the last step) or clear
    it; refused, with the reason beside the date, when the certificate would lack its prerequisites."""
    t = i18n(request)
    _step(step)
    _office_in_scope(session, scope, code)
    form = FormState(values={"done_on": done_on, "doc": doc, "note": note})
    day = None if clear else read_day(form, "done_on", t)
    if day and day > today():
        form.errors["done_on"] = t("完成日期不能晚于今天")
    if not form.errors:
        try:
            with session.begin_nested():
                property_service.record_certificate_step(
                    session, code, step, on=day, doc=doc, actor=actor(request), note=note
                )
            return RedirectResponse(f"/properties/office/{quote(code)}?done=step", status_code=303)
        except GongwuError as exc:
            form.errors["done_on"] = exc.message
    return _render_office(request, session, scope, code, {f"step:{step}": form})


@router.post("/properties/office/{code}/targets/{step}", response_class=HTMLResponse)
def office_target(
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    code: str,
    step: str,
    due_on: Annotated[str, Form(max_length=10)] = "",
    clear: Annotated[str, Form(max_length=1)] = "",
) -> Response:
    """Set this property's own target date for a step, or clear it (the programme's target applies)."""
    t = i18n(request)
    _step(step)
    _office_in_scope(session, scope, code)
    form = FormState(values={"due_on": due_on})
    day = None if clear else read_day(form, "due_on", t)
    if not form.errors:
        try:
            with session.begin_nested():
                if day is None:
                    property_service.remove_target(session, step=step, code=code, actor=actor(request))
                else:
                    property_service.set_target(
                        session, step=step, due_on=day, code=code, actor=actor(request)
                    )
            return RedirectResponse(f"/properties/office/{quote(code)}?done=target", status_code=303)
        except GongwuError as exc:
            form.errors["due_on"] = exc.message
    return _render_office(request, session, scope, code, {f"target:{step}": form})


# --- operating property and leases ---------------------------------------------------------------------


def _operating_items(session: Session, props: list[OperatingProperty], day: date) -> list[dict[str, Any]]:
    leased = property_queries.active_lease_property_ids(session, day)
    units = _unit_names(session)
    return [
        {
            "p": p,
            "owner": units.get(p.owner_unit_id) if p.owner_unit_id is not None else None,
            "status": rules.status_on(p.status, p.id in leased),
            "vacant": rules.is_vacant(p.status, p.id in leased),
            "overdue": rules.takeover_overdue(p.status, p.takeover_due_on, day),
        }
        for p in props
    ]


def _operating_shown(
    session: Session, scope: UnitScope, day: date, status: str | None, show: str | None, q: str | None
) -> list[OperatingProperty]:
    filtered = property_queries.operating_query(
        day,
        status=status or None,
        vacant=True if show == "vacant" else None,
        takeover_overdue=True if show == "overdue" else None,
        q=(q or "").strip() or None,
    )
    return list(session.exec(scope.apply(filtered, OperatingProperty.owner_unit_id)).all())


Row = dict[str, Any]
OPERATING_SORT: dict[str, Callable[[Row], Any]] = {
    "code": lambda i: i["p"].code,
    "address": lambda i: i["p"].address,
    "owner": lambda i: i["owner"],
    "area": lambda i: i["p"].area_m2,
    "status": lambda i: i["status"],
    "vacant": lambda i: i["vacant"],
    "due": lambda i: i["p"].takeover_due_on,
}


def _operating_list(request: Request, session: Session, scope: UnitScope, day: date) -> Listing:
    """全部经营性用房 as the page and its export show it: filtered (现状, 空置/逾期, 编号·坐落) and sorted."""
    params = request.query_params
    shown = _operating_shown(session, scope, day, params.get("status"), params.get("show"), params.get("q"))
    return listing(request, _operating_items(session, shown, day), OPERATING_SORT, "code")


@router.get("/properties/operating.xlsx")
def operating_xlsx(request: Request, session: SessionDep, scope: ScopeDep) -> Response:
    t = i18n(request)
    day = today()
    columns = [
        Col(t("编号")), Col(t("坐落")), Col(t("权属单位")), Col(t("面积（㎡）"), "area", total=True),
        Col(t("现状")), Col(t("空置")), Col(t("应接管日期"), "date"),
    ]  # fmt: skip
    rows = [
        dict(zip([c.header for c in columns], [
            i["p"].code, i["p"].address, i["owner"] or "", float(i["p"].area_m2 or 0) or None,
            t.op_status(i["status"]), t("是") if i["vacant"] else "", i["p"].takeover_due_on,
        ], strict=True))
        for i in _operating_list(request, session, scope, day).all_rows
    ]  # fmt: skip
    return xlsx_response(
        t, columns, rows, title=t("经营性用房"), period=t.date(day), filename=f"{t('经营性用房')}-{day}.xlsx"
    )


@router.get("/properties/operating", response_class=HTMLResponse)
def operating_page(
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    status: str | None = None,
    show: str | None = None,
    q: str | None = None,
) -> HTMLResponse:
    t = i18n(request)
    day = today()
    everything = list(
        session.exec(
            scope.apply(property_queries.operating_query(day), OperatingProperty.owner_unit_id)
        ).all()
    )
    items = _operating_items(session, everything, day)
    found = _operating_list(request, session, scope, day)
    by_status = dict.fromkeys(OPERATING_STATUSES, 0)
    for i in items:
        by_status[i["status"]] = by_status.get(i["status"], 0) + 1
    chart = charts.hbar_chart(
        [(t.op_status(s), n) for s, n in by_status.items()], title=t("按现状"), fmt=lambda v: f"{v:g}"
    )
    return render(
        request,
        session,
        "operating.html",
        {
            "list": found,
            "map_data": operating_map(request, session, t, found.all_rows),
            "area_total": sum((i["p"].area_m2 or 0 for i in found.all_rows), Decimal(0)),
            "total": len(everything),
            "overdue": [i for i in items if i["overdue"]],
            "vacant": [i for i in items if i["vacant"]],
            "by_status": by_status,
            "chart": chart,
            "statuses": OPERATING_STATUSES,
            "chosen": {"status": status or "", "show": show or "", "q": q or ""},
            "day": day,
        },
        section="operating",
    )


def _lease_rows(session: Session, scope: UnitScope, day: date) -> list[dict[str, Any]]:
    """The leases running today or starting later, with their property and owner."""
    stmt = scope.apply(
        property_queries.lease_query(day),
        Lease.property_id,
        via=(OperatingProperty.id, OperatingProperty.owner_unit_id),
    )
    props = {p.id: p for p in session.exec(select(OperatingProperty)).all()}
    units = _unit_names(session)
    rows = []
    for lease in session.exec(stmt).all():
        active = rules.lease_active(lease.start_on, lease.end_on, lease.terminated_on, day)
        upcoming = lease.start_on > day and lease.terminated_on is None
        if not (active or upcoming):
            continue
        prop = props[lease.property_id]
        rows.append(
            {
                "lease": lease,
                "code": prop.code,
                "address": prop.address,
                "owner": units.get(prop.owner_unit_id) if prop.owner_unit_id is not None else None,
                "days_left": (lease.end_on - day).days,
                "state": "active" if active else "upcoming",
                "reminder": rules.lease_reminder(lease.end_on, day, lease.terminated_on),
            }
        )
    return rows


LEASE_SORT: dict[str, Callable[[Row], Any]] = {
    "code": lambda r: r["code"],
    "address": lambda r: r["address"],
    "owner": lambda r: r["owner"],
    "tenant": lambda r: r["lease"].tenant,
    "rent": lambda r: r["lease"].annual_rent_fen,
    "deposit": lambda r: r["lease"].deposit_fen,
    "start": lambda r: r["lease"].start_on,
    "end": lambda r: r["lease"].end_on,
    "state": lambda r: r["state"],
    "source": lambda r: r["lease"].lot_id is not None,
}


def _lease_search(r: Row) -> str:
    return " ".join(x for x in (r["code"], r["address"], r["owner"] or "", r["lease"].tenant) if x)


def _lease_list(request: Request, rows: list[Row]) -> Listing:
    return listing(request, rows, LEASE_SORT, "code", search=_lease_search)


@router.get("/properties/leases.xlsx")
def leases_xlsx(request: Request, session: SessionDep, scope: ScopeDep) -> Response:
    t = i18n(request)
    day = today()
    columns = [
        Col(t("编号")), Col(t("坐落")), Col(t("权属单位")), Col(t("承租人")),
        Col(t("年租金（元）"), "yuan", total=True), Col(t("押金（元）"), "yuan", total=True),
        Col(t("租期起"), "date"), Col(t("租期止"), "date"), Col(t("剩余天数"), "int"), Col(t("状态")),
        Col(t("来源")),
    ]  # fmt: skip
    rows = [
        dict(zip([c.header for c in columns], [
            r["code"], r["address"], r["owner"] or "", r["lease"].tenant, r["lease"].annual_rent_fen / 100,
            (r["lease"].deposit_fen or 0) / 100, r["lease"].start_on, r["lease"].end_on, r["days_left"],
            t.lease_state(r["state"]), t("拍卖成交") if r["lease"].lot_id else t("合同"),
        ], strict=True))
        for r in _lease_list(request, _lease_rows(session, scope, day)).all_rows
    ]  # fmt: skip
    return xlsx_response(
        t, columns, rows, title=t("租赁"), period=t.date(day), filename=f"{t('租赁')}-{day}.xlsx"
    )


@router.get("/properties/leases", response_class=HTMLResponse)
def leases_page(
    request: Request, session: SessionDep, scope: ScopeDep, year: str | None = None
) -> HTMLResponse:
    day = today()
    rows = _lease_rows(session, scope, day)
    units = _unit_names(session)
    expiring = [r for r in rows if r["state"] == "active" and r["days_left"] <= EXPIRING_DAYS]
    roll_year = opt_int(year, "year") or day.year
    roll = property_queries.rent_roll(session, roll_year)
    arrears = property_queries.arrears(session, day)
    if scope.restricted:
        mine = units.get(scope.unit_id or 0)
        roll = {**roll, "units": [u for u in roll["units"] if u["owner_unit"] == mine]}
        roll["rent_yuan"] = sum((u["rent_yuan"] for u in roll["units"]), rules.fen_to_yuan(0))
        roll["received_yuan"] = sum((u["received_yuan"] for u in roll["units"]), rules.fen_to_yuan(0))
        arrears["leases"] = [r for r in arrears["leases"] if r["owner"] == mine]
        arrears["arrears_yuan"] = sum((r["arrears_yuan"] for r in arrears["leases"]), rules.fen_to_yuan(0))
    return render(
        request,
        session,
        "leases.html",
        {
            "rows": rows,
            "list": _lease_list(request, rows),
            "expiring": expiring,
            "annual_total": rules.fen_to_yuan(sum(r["lease"].annual_rent_fen for r in rows)),
            "roll": roll,
            "year": roll_year,
            "expiring_days": EXPIRING_DAYS,
            "day": day,
            "arrears": arrears,
            "overdue_days": get_settings().rent_overdue_days,
        },
        section="leases",
    )


# --- auctions -------------------------------------------------------------------------------------------


@router.get("/properties/auctions.xlsx")
def auctions_xlsx(request: Request, session: SessionDep, batch: str | None = None) -> Response:
    """Every lot of every batch (or of one), by its last round."""
    t = i18n(request)
    columns = [
        Col(t("批次")), Col(t("拍卖日期"), "date"), Col(t("标的")), Col(t("坐落")), Col(t("轮次"), "int"),
        Col(t("结果")), Col(t("起拍价（元/年）"), "yuan"), Col(t("成交价（元/年）"), "yuan", total=True),
        Col(t("承租人")), Col(t("租期起"), "date"), Col(t("租期止"), "date"),
    ]  # fmt: skip
    rows = [
        dict(zip([c.header for c in columns], [
            b["batch"], b["date"], lot["lot"], lot["address"], lot["rounds"], t.result(lot["result"]),
            _num(lot["reserve_yuan"]), _num(lot["price_yuan"]), lot["tenant"] or "", lot["lease_start"],
            lot["lease_end"],
        ], strict=True))
        for b in property_queries.auctions_report(session, batch=batch or None)["batches"]
        for lot in b["lots_detail"]
    ]  # fmt: skip
    return xlsx_response(
        t, columns, rows, title=t("拍卖"), period=batch or "", filename=f"{t('拍卖')}-{today()}.xlsx"
    )


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


BATCH_SORT = columns("batch", "date", "lots", "sold", "unsold", "withdrawn", rent="annual_rent_yuan")


def _lot_search(lot: Row) -> str:
    return " ".join(str(x) for x in (lot["lot"], lot["address"], lot["tenant"] or "") if x)


@router.get("/properties/auctions", response_class=HTMLResponse)
def auctions_page(request: Request, session: SessionDep, batch: str | None = None) -> HTMLResponse:
    """The batches (sortable) and each batch's lots; a search keeps the lots whose 标的, 坐落 or 承租人
    match and the batches that hold one (or whose name matches)."""
    report = property_queries.auctions_report(session, batch=batch or None)
    if batch and not report["batches"]:
        raise NotFound(tr(f"拍卖批次 {batch} 不存在", f"auction batch {batch} not found"))
    batches = report["batches"]
    q = (request.query_params.get("q") or "").strip()[:60].casefold()
    if q:
        batches = [
            {**b, "lots_detail": b["lots_detail"] if q in b["batch"].casefold() else hits}
            for b in batches
            if (hits := [lot for lot in b["lots_detail"] if q in _lot_search(lot).casefold()])
            or q in b["batch"].casefold()
        ]
    found = listing(request, batches, BATCH_SORT, "date", desc=True)
    return render(request, session, "auctions.html", {"list": found}, section="auctions")
