"""The property clerk's leases in the browser: a new lease, one lease with its rent (the instalments due,
the payments, the arrears), recording a payment, renewing and terminating. Every form goes through the same
service as the API (validation, audit with the real actor) and comes back with what was typed and the
problem beside its field."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from accounts.access import ScopeDep, UnitScope, actor
from core.api import SessionDep
from core.errors import GongwuError, NotFound
from core.i18n import tr
from core.timeutil import china_day
from gongwu.web.common import FormState, PageRoute, i18n, read_day, read_fen, render, today
from property import queries as property_queries
from property import rules
from property import service as property_service
from property.models import Lease, OfficeProperty, OperatingProperty, RentPayment

router = APIRouter(include_in_schema=False, route_class=PageRoute)


def _lease_in_scope(session: Session, scope: UnitScope, lease_id: int) -> tuple[Lease, OperatingProperty]:
    lease = session.get(Lease, lease_id)
    prop = session.get(OperatingProperty, lease.property_id) if lease else None
    if lease is None or prop is None or not scope.allows(prop.owner_unit_id):
        raise NotFound(tr("租赁不存在", "lease not found"))
    return lease, prop


# --- a new lease -------------------------------------------------------------------------------------


def _vacant_codes(session: Session, scope: UnitScope) -> list[OperatingProperty]:
    day = today()
    leased = property_queries.active_lease_property_ids(session, day)
    props = session.exec(scope.apply(select(OperatingProperty), OperatingProperty.owner_unit_id)).all()
    return sorted((p for p in props if p.id not in leased), key=lambda p: p.code)


def _render_new(request: Request, session: Session, scope: UnitScope, form: FormState) -> HTMLResponse:
    ctx = {"form": form, "props": _vacant_codes(session, scope), "instalments": rules.INSTALMENTS}
    return render(
        request, session, "lease_new.html", ctx, section="leases", status=422 if form.errors else 200
    )


@router.get("/properties/leases/new", response_class=HTMLResponse)
def lease_new_page(request: Request, session: SessionDep, scope: ScopeDep, code: str = "") -> HTMLResponse:
    return _render_new(request, session, scope, FormState(values={"code": code, "instalments": "1"}))


@router.post("/properties/leases/new", response_class=HTMLResponse)
def lease_new_submit(
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    code: Annotated[str, Form(max_length=64)] = "",
    tenant: Annotated[str, Form(max_length=200)] = "",
    annual_rent: Annotated[str, Form(max_length=32)] = "",
    deposit: Annotated[str, Form(max_length=32)] = "",
    start_on: Annotated[str, Form(max_length=10)] = "",
    end_on: Annotated[str, Form(max_length=10)] = "",
    instalments: Annotated[str, Form(max_length=2)] = "1",
) -> Response:
    t = i18n(request)
    form = FormState(
        values={
            "code": code, "tenant": tenant, "annual_rent": annual_rent, "deposit": deposit,
            "start_on": start_on, "end_on": end_on, "instalments": instalments,
        }
    )  # fmt: skip
    if not code.strip():
        form.errors["code"] = t("请选择门面房")
    elif session.exec(select(OfficeProperty.id).where(OfficeProperty.code == code.strip())).first():
        form.errors["code"] = t("办公用房不得出租")
    if not tenant.strip():
        form.errors["tenant"] = t("请填写承租人")
    rent = read_fen(form, "annual_rent", t)
    dep = read_fen(form, "deposit", t, required=False)
    start, end = read_day(form, "start_on", t), read_day(form, "end_on", t)
    if start and end and end <= start:
        form.errors["end_on"] = t("租期止须晚于租期起")
    per_year = int(instalments) if instalments.isdigit() else 0
    if per_year not in rules.INSTALMENTS:
        form.errors["instalments"] = t("请选择缴租方式")
    if form.errors:
        return _render_new(request, session, scope, form)
    assert rent is not None and start is not None and end is not None
    try:
        with session.begin_nested():
            lease = property_service.create_lease(
                session, code=code.strip(), tenant=tenant, annual_rent_fen=rent, start_on=start, end_on=end,
                deposit_fen=dep or 0, instalments=per_year, actor=actor(request),
            )  # fmt: skip
    except GongwuError as exc:
        form.message = exc.message
        return _render_new(request, session, scope, form)
    return RedirectResponse(f"/properties/leases/{lease.id}?done=created", status_code=303)


# --- one lease ---------------------------------------------------------------------------------------


def _render_lease(
    request: Request,
    session: Session,
    scope: UnitScope,
    lease_id: int,
    forms: dict[str, FormState] | None = None,
) -> HTMLResponse:
    lease, prop = _lease_in_scope(session, scope, lease_id)
    day = today()
    end = lease.end_on if lease.terminated_on is None else min(lease.end_on, lease.terminated_on)
    schedule = rules.rent_schedule(lease.annual_rent_fen, lease.start_on, end, lease.instalments)
    payments = list(
        session.exec(
            select(RentPayment).where(RentPayment.lease_id == lease_id).order_by(col(RentPayment.paid_on))
        ).all()
    )
    found = property_queries.rent_rows(session, day, lease_ids=[lease_id])  # none before its start
    status = found[0] if found else None
    tracked = lease.rent_from or china_day(lease.created_at)
    left = sum(p.amount_fen for p in payments)
    lines = []
    for d in schedule:  # payments cover the instalments oldest first, as the arrears are counted
        counted = d.due_on >= tracked
        covered = min(left, d.amount_fen) if counted else d.amount_fen
        if counted:
            left -= covered
        state = "paid" if covered >= d.amount_fen else ("overdue" if d.due_on <= day else "upcoming")
        lines.append(
            {
                "due": d,
                "counted": counted,
                "owed_yuan": rules.fen_to_yuan(d.amount_fen - covered),
                "state": state,
            }
        )
    forms = forms or {}
    ctx = {
        "lease": lease, "prop": prop, "lines": lines, "payments": payments, "status": status,
        "tracked_from": tracked, "day": day, "one_day": timedelta(days=1),
        "pay": forms.get("pay") or FormState(values={"paid_on": day.isoformat()}),
        "renew": forms.get("renew") or FormState(),
        "end": forms.get("end") or FormState(values={"on": day.isoformat()}),
        "done": request.query_params.get("done", ""),
    }  # fmt: skip
    bad = any(f.errors or f.message for f in forms.values())
    return render(request, session, "lease.html", ctx, section="leases", status=422 if bad else 200)


@router.get("/properties/leases/{lease_id}", response_class=HTMLResponse)
def lease_page(request: Request, session: SessionDep, scope: ScopeDep, lease_id: int) -> HTMLResponse:
    return _render_lease(request, session, scope, lease_id)


def _done(lease_id: int, what: str) -> RedirectResponse:
    return RedirectResponse(f"/properties/leases/{lease_id}?done={what}", status_code=303)


@router.post("/properties/leases/{lease_id}/payments", response_class=HTMLResponse)
def lease_payment(
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    lease_id: int,
    paid_on: Annotated[str, Form(max_length=10)] = "",
    amount: Annotated[str, Form(max_length=32)] = "",
    receipt_no: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """收租: one payment with its date, amount and receipt number."""
    t = i18n(request)
    _lease_in_scope(session, scope, lease_id)
    form = FormState(values={"paid_on": paid_on, "amount": amount, "receipt_no": receipt_no, "note": note})
    day, fen = read_day(form, "paid_on", t), read_fen(form, "amount", t)
    if day and day > today():
        form.errors["paid_on"] = t("收款日期不能晚于今天")
    if fen is not None and fen <= 0:
        form.errors["amount"] = t("收款金额须大于 0")
    if not form.errors:
        assert day is not None and fen is not None
        try:
            with session.begin_nested():
                property_service.record_payment(
                    session, lease_id, paid_on=day, amount_fen=fen, receipt_no=receipt_no, note=note,
                    actor=actor(request),
                )  # fmt: skip
            return _done(lease_id, "paid")
        except GongwuError as exc:
            form.errors["receipt_no" if "收据" in exc.message or "receipt" in exc.message else "amount"] = (
                exc.message
            )
    return _render_lease(request, session, scope, lease_id, {"pay": form})


@router.post("/properties/leases/{lease_id}/renew", response_class=HTMLResponse)
def lease_renew(
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    lease_id: int,
    end_on: Annotated[str, Form(max_length=10)] = "",
    annual_rent: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """续租: a new lease of the same tenant from the day after this one ends."""
    t = i18n(request)
    _lease_in_scope(session, scope, lease_id)
    form = FormState(values={"end_on": end_on, "annual_rent": annual_rent})
    end, rent = read_day(form, "end_on", t), read_fen(form, "annual_rent", t, required=False)
    if not form.errors:
        assert end is not None
        try:
            with session.begin_nested():
                new = property_service.renew_lease(
                    session, lease_id, end_on=end, annual_rent_fen=rent, actor=actor(request)
                )
            return RedirectResponse(f"/properties/leases/{new.id}?done=renewed", status_code=303)
        except GongwuError as exc:
            form.errors["end_on"] = exc.message
    return _render_lease(request, session, scope, lease_id, {"renew": form})


@router.post("/properties/leases/{lease_id}/terminate", response_class=HTMLResponse)
def lease_terminate(
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    lease_id: int,
    on: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """终止: the lease's last day."""
    t = i18n(request)
    _lease_in_scope(session, scope, lease_id)
    form = FormState(values={"on": on})
    day = read_day(form, "on", t)
    if not form.errors:
        assert day is not None
        try:
            with session.begin_nested():
                property_service.terminate_lease(session, lease_id, on=day, actor=actor(request))
            return _done(lease_id, "terminated")
        except GongwuError as exc:
            form.errors["on"] = exc.message
    return _render_lease(request, session, scope, lease_id, {"end": form})
