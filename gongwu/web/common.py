"""What every page shares: the templates, the page context (who, CSRF token, labels, navigation), the
route class that shows domain errors as a page, pagination and the Excel download."""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import date
from numbers import Number
from operator import itemgetter
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlmodel import Session

from accounts import notify
from accounts.access import SESSION_COOKIE, PermissionTable
from accounts.service import Principal, principal_for_token
from core import normalize as n
from core import tabular
from core.errors import GongwuError, NotAuthenticated, PermissionDenied
from core.settings import get_settings
from core.timeutil import china_day, utcnow
from fleet.places import describe
from gongwu.web.i18n import AWAITING, CAR_REASON, CENTER_REASON, DECISION, I18n, flag_summary
from gongwu.web.login import page_context

HERE = Path(__file__).parent
TEMPLATE_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
PAGE_SIZE = 50

templates = Jinja2Templates(directory=str(TEMPLATE_DIR))
templates.env.globals["flag_summary"] = flag_summary
templates.env.globals["stop_name"] = lambda stop: describe(
    stop.place_name, stop.place_m, stop.place_bearing, stop.place_inside
)
templates.env.globals |= {
    "awaiting_labels": AWAITING,
    "center_labels": CENTER_REASON,
    "decision_labels": DECISION,
    "car_reason_labels": CAR_REASON,
}
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str
    permission: str
    section: str  # which pages light it up


NAV = (
    NavItem("/", "首页", "authenticated", "home"),
    NavItem("/orders/new", "我要用车", "orders:request", "order_new"),
    NavItem("/orders/mine", "我的申请", "orders:request", "orders_mine"),
    NavItem("/orders/approvals", "待我审批", "orders:approve", "orders_approvals"),
    NavItem("/orders/dispatch", "派车", "orders:dispatch", "orders_dispatch"),
    NavItem("/orders/tasks", "我的任务", "orders:return", "orders_tasks"),
    NavItem("/flags", "预警队列", "fleet:read", "flags"),
    NavItem("/vehicles", "车辆", "fleet:read", "vehicles"),
    NavItem("/trips", "行程", "fleet:read", "trips"),
    NavItem("/reports/units", "单位报表", "fleet:read", "units"),
    NavItem("/reports/trends", "趋势", "fleet:read", "trends"),
    NavItem("/reports/costs", "运行费用", "fleet:read", "costs"),
    NavItem("/reports/disposals", "车辆处置", "fleet:read", "disposals"),
    NavItem("/reports/bulletin", "通报", "fleet:county", "bulletin"),
    NavItem("/properties/certificates", "产权证办理", "property:read", "certificates"),
    NavItem("/properties/operating", "经营性用房", "property:read", "operating"),
    NavItem("/properties/leases", "租赁", "property:read", "leases"),
    NavItem("/properties/auctions", "拍卖", "property:county", "auctions"),
    NavItem("/reports/trackers", "终端检修", "fleet:county", "trackers"),
    NavItem("/rules", "合规规则", "fleet:county", "rules"),
    NavItem("/imports", "导入数据", "import", "imports"),
    NavItem("/runs", "运行记录", "runs:read", "runs"),
)


@dataclass
class FormState:
    """What a form was filled with and what is wrong with which field: kept on an error."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    message: str = ""


def read_day(form: FormState, name: str, t: I18n, *, required: bool = True) -> date | None:
    """A date field (YYYY-MM-DD) of a form; what is wrong goes into `form.errors` beside its field."""
    raw = form.values.get(name, "").strip()
    if not raw:
        if required:
            form.errors[name] = t("请填写日期")
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        form.errors[name] = t("日期格式应为 YYYY-MM-DD")
        return None


def read_fen(form: FormState, name: str, t: I18n, *, required: bool = True) -> int | None:
    """An amount in yuan (12000, 3,500.50) of a form as integer fen, or its error beside the field."""
    raw = form.values.get(name, "").strip()
    if not raw:
        if required:
            form.errors[name] = t("请填写金额")
        return None
    try:
        return n.money_fen(raw)
    except n.FieldError:
        form.errors[name] = t("金额应为元，最多两位小数，如 12000 或 3500.50")
        return None


def principal_of(request: Request) -> Principal | None:
    p = getattr(request.state, "principal", None)
    return p if isinstance(p, Principal) else None


def language(request: Request) -> str:
    settings = getattr(request.app.state, "settings", None) or get_settings()
    return str(getattr(settings, "language", "zh") or "zh")


def i18n(request: Request) -> I18n:
    return I18n(language(request))


def can(request: Request, permission: str) -> bool:
    principal = principal_of(request)
    table = getattr(request.app.state, "permissions", None)
    if principal is None or not isinstance(table, PermissionTable):
        return False
    if permission == "import":  # the import page's link: whoever may import some kind
        return any(table.allows(principal.role, p) for p in set(table.imports.values()))
    return table.allows(principal.role, permission)


def today() -> date:
    return china_day(utcnow())


def _context(request: Request, section: str) -> dict[str, Any]:
    t = i18n(request)
    return {
        "t": t,
        "lang": "en" if t.en else "zh-CN",
        "section": section,
        "nav": [item for item in NAV if can(request, item.permission)],
        "can": lambda permission: can(request, permission),
        "principal": principal_of(request),
        "csrf_token": "",
    }


def render(
    request: Request,
    session: Session,
    name: str,
    context: dict[str, Any],
    *,
    section: str = "",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A page (or, for htmx, a fragment) with the shared context: labels `t`, `can(permission)`, the
    navigation, the principal and the CSRF token its forms carry."""
    ctx = _context(request, section) | page_context(request, session) | context
    principal = principal_of(request)
    ctx["unread"] = notify.unread_count(session, principal.user_id) if principal is not None else 0
    response = templates.TemplateResponse(request, name, ctx, status_code=status, headers=headers)
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def wants_page(request: Request) -> bool:
    """A person's browser asking for a page: not the API, not a static file, not an htmx fragment."""
    path = request.url.path
    return not path.startswith(("/api/", "/static/", "/docs", "/openapi")) and not is_htmx(request)


def error_page(request: Request, status: int, message: str = "") -> HTMLResponse:
    """403 and 404 for a page route, as a page with the header, the sign-out and a way back (the JSON
    answer stays for /api/). Who is signed in is read again here: a refused request never got that far."""
    t = i18n(request)
    with request.app.state.open_session() as session:
        principal = principal_of(request)
        cookie = request.cookies.get(SESSION_COOKIE)
        if principal is None and cookie:
            principal = principal_for_token(session, cookie, kind="session")
            request.state.principal = principal
        if status == 403 and request.method != "GET":
            message = t("操作未执行：页面已过期或无权操作，请刷新页面后重试。")
        elif status == 403:
            role = t.role(principal.role) if principal else ""
            message = (
                t("您的角色（{role}）无权查看此页面。").format(role=role) if role else t("无权查看此页面。")
            )
        elif status == 404 and not message:
            message = t("页面不存在，或者您无权查看。请检查地址。")
        back = request.headers.get("referer", "")
        back_path = urlsplit(back).path if back and urlsplit(back).netloc == request.url.netloc else ""
        ctx = _context(request, "") | page_context(request, session) | {
            "message": message, "status": status, "back": local_path(back_path, ""),
        }  # fmt: skip
        response = templates.TemplateResponse(request, "error.html", ctx, status_code=status)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def error_response(request: Request, exc: GongwuError) -> HTMLResponse:
    """A domain error (not found, invalid, conflict) as a page, or for htmx as a message swapped into
    the page's message area."""
    if is_htmx(request):
        ctx = _context(request, "") | {"message": exc.message, "status": exc.status_code}
        headers = {"HX-Retarget": "#messages", "HX-Reswap": "innerHTML"}
        return templates.TemplateResponse(request, "_message.html", ctx | {"kind": "error"}, headers=headers)
    return error_page(request, exc.status_code, exc.message)


class PageRoute(APIRoute):
    """Pages answer a domain error with an HTML page; sign-in and permission refusals stay as
    `accounts.access.authorize` answers them (401/403 JSON, a page GET redirected to /login)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except (NotAuthenticated, PermissionDenied):
                raise
            except GongwuError as exc:
                return error_response(request, exc)

        return page_handler


# --- pagination, links, downloads -----------------------------------------------------------------------


@dataclass(frozen=True)
class Pager:
    page: int
    pages: int
    total: int
    prev_url: str | None
    next_url: str | None
    numbers: tuple[tuple[int | None, str], ...] = ()  # page links, None for a gap (…)
    keep: tuple[tuple[str, str], ...] = ()  # the other query parameters, for the jump form

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE


def page_numbers(page: int, pages: int, around: int = 2) -> list[int | None]:
    """1 … p-2 p-1 p p+1 p+2 … N: the first, the last and those around this one, gaps as None."""
    shown = sorted({1, pages, *range(max(1, page - around), min(pages, page + around) + 1)})
    out: list[int | None] = []
    for number in shown:
        if out and number - (out[-1] or 0) > 1:
            out.append(None)
        out.append(number)
    return out


def pager(request: Request, page: int, total: int) -> Pager:
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(page, 1), pages)

    def url(p: int) -> str:
        return with_query(request, page=p)

    return Pager(
        page=page,
        pages=pages,
        total=total,
        prev_url=url(page - 1) if page > 1 else None,
        next_url=url(page + 1) if page < pages else None,
        numbers=tuple((k, url(k) if k else "") for k in page_numbers(page, pages)),
        keep=tuple((k, v) for k, v in request.query_params.multi_items() if k != "page"),
    )


@dataclass(frozen=True)
class Order:
    """A list's sort order from `?sort=KEY&dir=asc|desc`, one of the list's columns; clicking a header
    sorts by it, clicking it again turns the order round. Any other key falls back to the default; a
    default of "" is the list's own order (no column)."""

    key: str
    desc: bool
    urls: dict[str, str]

    def aria(self, key: str) -> str:
        if key != self.key:
            return "none"
        return "descending" if self.desc else "ascending"


def order(request: Request, keys: Sequence[str], default: str, *, desc: bool = False) -> Order:
    asked = request.query_params.get("sort", "")
    key = asked if asked in keys else default
    is_desc = (request.query_params.get("dir") == "desc") if asked in keys else desc
    urls = {
        k: with_query(request, sort=k, dir="asc" if k == key and is_desc else ("desc" if k == key else "asc"),
                      page=None)
        for k in keys
    }  # fmt: skip
    return Order(key=key, desc=is_desc, urls=urls)


def columns(*keys: str, **renamed: str) -> dict[str, Callable[[Any], Any]]:
    """Sort keys of a list of dicts whose columns are its own fields: `columns("plate", due="due_on")`."""
    return {k: itemgetter(field) for k, field in {**{k: k for k in keys}, **renamed}.items()}


def _sort_key(value: Any) -> tuple[int, Any]:
    """Blanks last whichever way round; numbers and dates as themselves, the rest as text."""
    if value is None or value == "":
        return (1, 0)
    if isinstance(value, Number | date):  # Decimal is a Number too: 99 sorts before 159
        return (0, value)
    return (0, str(value).casefold())


@dataclass(frozen=True)
class Listing:
    """One page of a list held in memory: searched, sorted by any column, numbered."""

    rows: list[Any]
    total: int
    pager: Pager
    order: Order
    q: str
    all_rows: list[Any] = field(repr=False, default_factory=list)  # every match, sorted: for totals


def listing(
    request: Request,
    rows: Sequence[Any],
    keys: dict[str, Callable[[Any], Any]],
    default: str,
    *,
    desc: bool = False,
    search: Callable[[Any], str] | None = None,
) -> Listing:
    """Search (`?q=`, any part of `search(row)`, case-insensitive), sort (`?sort=&dir=`) and cut a page
    (`?page=`) of a list small enough to hold: a county's vehicles, leases, lots, properties."""
    q = (request.query_params.get("q") or "").strip()[:60]
    found = list(rows)
    if q and search is not None:
        needle = q.casefold()
        found = [r for r in found if needle in search(r).casefold()]
    o = order(request, list(keys), default, desc=desc)
    if o.key:  # "": the list's own order until a column is chosen
        by = keys[o.key]
        blanks = [r for r in found if _sort_key(by(r))[0]]
        filled = sorted(
            (r for r in found if not _sort_key(by(r))[0]), key=lambda r: _sort_key(by(r)), reverse=o.desc
        )
        found = filled + blanks
    try:
        page = int(request.query_params.get("page") or 1)
    except ValueError:
        page = 1
    pg = pager(request, page, len(found))
    rows_here = found[pg.offset : pg.offset + PAGE_SIZE]
    return Listing(rows=rows_here, total=len(found), pager=pg, order=o, q=q, all_rows=found)


def with_query(request: Request, **changes: Any) -> str:
    """This page's URL with some query parameters changed (None removes one)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    query = urlencode(params)
    return request.url.path + (f"?{query}" if query else "")


def local_path(target: str | None, default: str) -> str:
    """Only a path on this site (never `//host` or a scheme): where a form returns to."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def xlsx_response(
    t: I18n,
    columns: Sequence[tabular.Col | str],
    rows: Sequence[dict[str, Any]],
    *,
    title: str,
    filename: str,
    period: str = "",
    notes: Sequence[str] = (),
    notes_title: str = "",
) -> Response:
    """Rows (dicts keyed by the column headers) as an Excel file a clerk can file (core.tabular: a title
    row with the period and the time of export, the header frozen, formats, totals, formula-safe)."""
    headers = [c.header if isinstance(c, tabular.Col) else c for c in columns]
    body = tabular.xlsx_bytes(
        columns, [[r.get(h) for h in headers] for r in rows], title=title, period=period, notes=notes,
        notes_title=notes_title or t("说明"), total_label=t("合计"),
    )  # fmt: skip
    ascii_name = filename.encode("ascii", "ignore").decode().strip() or "export.xlsx"
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    return Response(
        content=body,
        media_type=tabular.XLSX_MEDIA,
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
    )
