"""Sign-in, own account, users and the audit log: the API under /api/v1 and the /login, /logout pages.

- `POST /auth/token` takes a username and password (form, as OAuth2's password flow and /docs' Authorize
  button send them, or JSON) and answers a bearer token valid GONGWU_SESSION_HOURS; long-lived tokens are
  created explicitly (`POST /me/tokens`, `gongwu user token create`). Failures are throttled (429).
- `/login` sets the session cookie (httponly, SameSite=Lax, Secure over https) after a CSRF-checked form;
  `/logout` ends the sign-in server-side.
Every permission is declared in gongwu/permissions.py.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.routing import NoMatchFound

from core import audit
from core import auth as auth_service
from core.access import SESSION_COOKIE, PrincipalDep, actor, app_secret, csrf_token
from core.api import ListOut, PageDep, SessionDep, paginate
from core.errors import GongwuError, NotAuthenticated, TooManyAttempts, ValidationFailed
from core.models import ROLES, ApiToken, AuditLog, Unit, User
from core.settings import get_settings
from core.timeutil import as_utc, to_china, utcnow

router = APIRouter()
web_router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

LOGIN_CSRF_COOKIE = "gongwu_login_csrf"
Role = Literal["admin", "vehicle_manager", "property_clerk", "unit_viewer", "auditor"]
assert set(Role.__args__) == set(ROLES)  # type: ignore[attr-defined]


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def _secure(request: Request) -> bool:
    configured = get_settings().cookie_secure
    return request.url.scheme == "https" if configured is None else configured


def _error(exc: GongwuError) -> JSONResponse:
    # Returned, not raised: the failed-attempt counters and audit rows must be committed.
    return JSONResponse(status_code=exc.status_code, content={"detail": exc.message}, headers=exc.headers)


# --- tokens by password -------------------------------------------------------------------------------


class TokenRequest(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    name: str = Field(default="", max_length=100, description="a label for the token")


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    token_id: int
    expires_at: datetime | None


_TOKEN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "username": {"type": "string", "maxLength": 64},
                        "password": {"type": "string", "maxLength": 1024},
                        "grant_type": {"type": "string", "enum": ["password"]},
                    },
                    "required": ["username", "password"],
                }
            },
            "application/json": {"schema": TokenRequest.model_json_schema()},
        },
    }
}


async def _token_request(request: Request) -> TokenRequest:
    ctype = request.headers.get("content-type", "")
    try:
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            data: Any = {k: v for k, v in form.items() if isinstance(v, str)}
        else:
            data = await request.json()
        return TokenRequest.model_validate(data)
    except (ValidationError, ValueError) as exc:
        raise ValidationFailed("需要用户名和密码 send username and password (form or JSON)") from exc


def _issue(session: Session, body: TokenRequest, client: str) -> TokenOut:
    user = auth_service.authenticate_password(session, body.username, body.password, client=client)
    settings = get_settings()
    token, clear = auth_service.create_token(
        session, user, actor=user.username, name=body.name or "login", hours=settings.session_hours
    )
    auth_service.record_login(session, user, token, how="token", client=client)
    assert token.id is not None
    return TokenOut(access_token=clear, token_id=token.id, expires_at=token.expires_at)


@router.post(
    "/auth/token",
    response_model=TokenOut,
    tags=["auth"],
    openapi_extra=_TOKEN_BODY,
    responses={401: {"description": "wrong username or password"}, 429: {"description": "throttled"}},
)
async def issue_token(request: Request, session: SessionDep) -> Any:
    """A bearer token for a username and password, valid GONGWU_SESSION_HOURS (default 12)."""
    body = await _token_request(request)
    try:
        return await run_in_threadpool(_issue, session, body, _client(request))
    except (NotAuthenticated, TooManyAttempts) as exc:
        return _error(exc)


# --- own account --------------------------------------------------------------------------------------


class MeOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    unit_id: int | None
    unit: str | None
    permissions: list[str]
    csrf_token: str | None = Field(
        default=None, description="signed in by the session cookie: send it as X-CSRF-Token on changes"
    )


class TokenPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreate(BaseModel):
    name: str = Field(default="", max_length=100)
    days: int | None = Field(default=None, ge=0, le=3650, description="lifetime; 0: no expiry")


class TokenCreated(TokenPublic):
    token: str = Field(description="the token itself: shown this once, never stored")


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


@router.get("/me", response_model=MeOut, tags=["auth"])
def me(request: Request, session: SessionDep, principal: PrincipalDep) -> MeOut:
    user = session.get(User, principal.user_id)
    assert user is not None
    unit = session.get(Unit, user.unit_id) if user.unit_id is not None else None
    return MeOut(
        id=principal.user_id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        unit_id=user.unit_id,
        unit=unit.name if unit else None,
        permissions=request.app.state.permissions.of_role(user.role),
        csrf_token=csrf_token(request, session, principal) or None,
    )


@router.post("/me/password", status_code=204, tags=["auth"], responses={429: {"description": "throttled"}})
def change_own_password(
    request: Request, session: SessionDep, principal: PrincipalDep, body: PasswordChange
) -> Response:
    """Change one's own password (the current one is required, and a wrong one counts as a failed sign-in,
    so a stolen token cannot guess it); ends one's web sign-ins."""
    auth_service.check_password(body.new_password, principal.username)
    try:
        auth_service.authenticate_password(
            session, principal.username, body.current_password, client=_client(request)
        )
    except NotAuthenticated:
        return _error(ValidationFailed("当前密码不正确 the current password is wrong"))
    except TooManyAttempts as exc:
        return _error(exc)
    auth_service.set_password(session, principal.username, body.new_password, actor=principal.username)
    return Response(status_code=204)


@router.get("/me/tokens", response_model=list[TokenPublic], tags=["auth"])
def my_tokens(
    session: SessionDep,
    principal: PrincipalDep,
    all_: Annotated[bool, Query(alias="all", description="also revoked and expired ones")] = False,
) -> list[TokenPublic]:
    rows = auth_service.list_tokens(session, principal.user_id, include_dead=all_)
    return [TokenPublic.model_validate(r) for r in rows]


def _created(row: ApiToken, clear: str) -> TokenCreated:
    return TokenCreated.model_validate({**TokenPublic.model_validate(row).model_dump(), "token": clear})


@router.post("/me/tokens", response_model=TokenCreated, status_code=201, tags=["auth"])
def create_my_token(session: SessionDep, principal: PrincipalDep, body: TokenCreate) -> TokenCreated:
    """A new API token for oneself (default lifetime GONGWU_TOKEN_DAYS): the token is in this answer only."""
    user = session.get(User, principal.user_id)
    assert user is not None
    row, clear = auth_service.create_token(
        session, user, actor=principal.username, name=body.name, days=body.days
    )
    return _created(row, clear)


@router.delete("/me/tokens/{token_id}", status_code=204, tags=["auth"])
def revoke_my_token(session: SessionDep, principal: PrincipalDep, token_id: int) -> Response:
    auth_service.revoke_token(session, token_id, actor=principal.username, user_id=principal.user_id)
    return Response(status_code=204)


# --- users (admin) ------------------------------------------------------------------------------------


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: str
    unit_id: int | None
    is_active: bool
    failed_logins: int
    locked_until: datetime | None
    last_login_at: datetime | None
    created_at: datetime


class UserCreate(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    role: Role
    unit_id: int | None = None
    display_name: str = Field(default="", max_length=100)


class UserUpdate(BaseModel):
    role: Role | None = None
    unit_id: int | None = None
    display_name: str | None = Field(default=None, max_length=100)
    is_active: bool | None = None


class PasswordSet(BaseModel):
    password: str = Field(max_length=1024)


@router.get("/users", response_model=ListOut[UserPublic], tags=["users"])
def list_users(
    session: SessionDep,
    page: PageDep,
    role: Role | None = None,
    active: bool | None = None,
    q: Annotated[str | None, Query(max_length=64, description="username contains")] = None,
) -> ListOut[UserPublic]:
    stmt = select(User).order_by(col(User.username))
    if role:
        stmt = stmt.where(User.role == role)
    if active is not None:
        stmt = stmt.where(User.is_active == active)
    if q:
        stmt = stmt.where(col(User.username).contains(q))
    rows, count = paginate(session, stmt, page)
    return ListOut(data=[UserPublic.model_validate(r) for r in rows], count=count)


@router.post("/users", response_model=UserPublic, status_code=201, tags=["users"])
def create_user(request: Request, session: SessionDep, body: UserCreate) -> UserPublic:
    user = auth_service.create_user(
        session, username=body.username, password=body.password, role=body.role, unit_id=body.unit_id,
        display_name=body.display_name, actor=actor(request),
    )  # fmt: skip
    return UserPublic.model_validate(user)


@router.get("/users/{username}", response_model=UserPublic, tags=["users"])
def get_user(session: SessionDep, username: str) -> UserPublic:
    return UserPublic.model_validate(auth_service.get_user(session, username))


@router.patch("/users/{username}", response_model=UserPublic, tags=["users"])
def update_user(request: Request, session: SessionDep, username: str, body: UserUpdate) -> UserPublic:
    """Change role, unit (unit_viewer only), display name or `is_active` (disabling revokes every token)."""
    kwargs: dict[str, Any] = body.model_dump(exclude_unset=True)
    if kwargs.get("is_active") is False and username == actor(request):
        raise ValidationFailed("不能停用自己 you cannot disable yourself")
    user = auth_service.update_user(session, username, actor=actor(request), **kwargs)
    return UserPublic.model_validate(user)


@router.put("/users/{username}/password", status_code=204, tags=["users"])
def set_user_password(request: Request, session: SessionDep, username: str, body: PasswordSet) -> Response:
    auth_service.set_password(session, username, body.password, actor=actor(request))
    return Response(status_code=204)


@router.post("/users/{username}/unlock", response_model=UserPublic, tags=["users"])
def unlock_user(request: Request, session: SessionDep, username: str) -> UserPublic:
    return UserPublic.model_validate(auth_service.unlock_user(session, username, actor=actor(request)))


@router.get("/users/{username}/tokens", response_model=list[TokenPublic], tags=["users"])
def user_tokens(
    session: SessionDep,
    username: str,
    all_: Annotated[bool, Query(alias="all", description="also revoked and expired ones")] = False,
) -> list[TokenPublic]:
    user = auth_service.get_user(session, username)
    assert user.id is not None
    return [
        TokenPublic.model_validate(r) for r in auth_service.list_tokens(session, user.id, include_dead=all_)
    ]


@router.delete("/users/{username}/tokens/{token_id}", status_code=204, tags=["users"])
def revoke_user_token(request: Request, session: SessionDep, username: str, token_id: int) -> Response:
    user = auth_service.get_user(session, username)
    auth_service.revoke_token(session, token_id, actor=actor(request), user_id=user.id)
    return Response(status_code=204)


# --- audit log ----------------------------------------------------------------------------------------


class AuditPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: str


def _audit_query(
    actor_: str | None,
    action: str | None,
    entity: str | None,
    entity_id: str | None,
    since: datetime | None,
    until: datetime | None,
    q: str | None,
) -> Any:
    stmt = select(AuditLog).order_by(col(AuditLog.id).desc())
    if actor_:
        stmt = stmt.where(AuditLog.actor == actor_)
    if action:
        # "login." (a trailing dot) selects a family: login.failed, login.succeeded, ...
        action_col = col(AuditLog.action)
        stmt = stmt.where(action_col.startswith(action) if action.endswith(".") else action_col == action)
    if entity:
        stmt = stmt.where(AuditLog.entity == entity)
    if entity_id:
        stmt = stmt.where(AuditLog.entity_id == entity_id)
    if since:
        stmt = stmt.where(col(AuditLog.at) >= as_utc(since))
    if until:
        stmt = stmt.where(col(AuditLog.at) < as_utc(until))
    if q:
        stmt = stmt.where(col(AuditLog.detail).contains(q))
    return stmt


class AuditFilters(BaseModel):
    actor: str | None = None
    action: str | None = None
    entity: str | None = None
    entity_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None


def audit_filters(
    actor: Annotated[str | None, Query(max_length=64, description="who")] = None,
    action: Annotated[
        str | None, Query(max_length=64, description="e.g. user.create; a trailing dot selects a family")
    ] = None,
    entity: Annotated[str | None, Query(max_length=64, description="table, e.g. core_user")] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[datetime | None, Query(description="from (ISO-8601; no zone: China time)")] = None,
    until: Annotated[datetime | None, Query(description="before (ISO-8601; no zone: China time)")] = None,
    q: Annotated[str | None, Query(max_length=200, description="detail contains")] = None,
) -> AuditFilters:
    return AuditFilters(
        actor=actor, action=action, entity=entity, entity_id=entity_id, since=since, until=until, q=q
    )


AuditFiltersDep = Annotated[AuditFilters, Depends(audit_filters)]


def _stmt(f: AuditFilters) -> Any:
    return _audit_query(f.actor, f.action, f.entity, f.entity_id, f.since, f.until, f.q)


@router.get("/audit", response_model=ListOut[AuditPublic], tags=["audit"])
def list_audit(session: SessionDep, page: PageDep, filters: AuditFiltersDep) -> ListOut[AuditPublic]:
    """The append-only audit log, newest first."""
    rows, count = paginate(session, _stmt(filters), page)
    return ListOut(data=[AuditPublic.model_validate(r) for r in rows], count=count)


EXPORT_MAX_ROWS = 200_000
EXPORT_COLUMNS = ("id", "at", "actor", "action", "entity", "entity_id", "before", "after", "detail")


def _export_cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_china(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # a spreadsheet must not run a formula someone typed into a name
    return value


@router.get(
    "/audit/export",
    tags=["audit"],
    response_class=Response,
    responses={
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}
                },
            }
        }
    },
)
def export_audit(
    request: Request,
    session: SessionDep,
    filters: AuditFiltersDep,
    format: Annotated[Literal["csv", "xlsx"], Query(description="csv (UTF-8 with BOM) or xlsx")] = "csv",
) -> Response:
    """The filtered audit log as a file (times in China time). The export itself is audit-logged."""
    rows = list(session.exec(_stmt(filters).limit(EXPORT_MAX_ROWS)).all())
    table = [[_export_cell(getattr(r, c)) for c in EXPORT_COLUMNS] for r in rows]
    audit.record(
        session, actor=actor(request), action="audit.export", entity="core_audit_log",
        detail=f"{len(rows)} rows as {format}; filters {filters.model_dump_json(exclude_none=True)}",
    )  # fmt: skip
    stamp = to_china(utcnow()).strftime("%Y%m%d-%H%M%S")
    if format == "xlsx":
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet("audit")
        ws.append(list(EXPORT_COLUMNS))
        for line in table:
            ws.append(line)
        buf = io.BytesIO()
        wb.save(buf)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        body = buf.getvalue()
    else:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(EXPORT_COLUMNS)
        writer.writerows(table)
        media, body = "text/csv; charset=utf-8", ("\ufeff" + text.getvalue()).encode()
    headers = {"Content-Disposition": f'attachment; filename="audit-{stamp}.{format}"'}
    return Response(content=body, media_type=media, headers=headers)


# --- the login page -----------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Only a local path: never `//host`, a scheme or a backslash trick (open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _home(request: Request) -> str:
    # The pages' home (gongwu/web) sends each role to what it needs first. Included routers may be kept
    # nested (FastAPI ≥ 0.16x), so the route is looked up by name, not in app.routes.
    try:
        return str(request.app.url_path_for("home"))
    except NoMatchFound:  # an app without the pages
        return "/docs"


def _login_page(
    request: Request, session: Session, *, next_: str, error: str = "", username: str = "", status: int = 200
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(24)
    token = auth_service.csrf_for(app_secret(request, session), f"login:{nonce}")
    response = templates.TemplateResponse(
        request,
        "login.html",
        {"csrf_token": token, "next": next_, "error": error, "username": username},
        status_code=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, nonce, httponly=True, samesite="strict", secure=_secure(request), path="/login",
        max_age=3600,
    )  # fmt: skip
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


@web_router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, session: SessionDep, next: str | None = None) -> HTMLResponse:
    return _login_page(request, session, next_=_safe_next(next))


@web_router.post("/login", response_class=HTMLResponse)
async def login_submit(request: Request, session: SessionDep) -> Response:
    form = await request.form()
    field = {k: v for k, v in form.items() if isinstance(v, str)}
    username, password = field.get("username", "").strip()[:64], field.get("password", "")[:1024]
    next_ = _safe_next(field.get("next"))
    nonce = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not auth_service.csrf_ok(app_secret(request, session), f"login:{nonce}", field.get("csrf_token")):
        return _login_page(
            request, session, next_=next_, username=username, status=403,
            error="表单已过期，请重新登录 the form expired: please sign in again",
        )  # fmt: skip
    client = _client(request)
    try:
        user = await run_in_threadpool(
            auth_service.authenticate_password, session, username, password, client=client
        )
    except (NotAuthenticated, TooManyAttempts) as exc:
        return _login_page(
            request, session, next_=next_, username=username, error=exc.message, status=exc.status_code
        )
    token, clear = auth_service.create_token(session, user, actor=user.username, kind="session")
    auth_service.record_login(session, user, token, how="web", client=client)
    target = next_ if next_ != "/" else _home(request)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE, clear, httponly=True, samesite="lax", secure=_secure(request), path="/",
        max_age=get_settings().session_hours * 3600,
    )  # fmt: skip
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@web_router.post("/logout")
async def logout(request: Request, session: SessionDep) -> Response:
    """End the web sign-in (CSRF-checked: a form field `csrf_token` or the X-CSRF-Token header)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    principal = auth_service.principal_for_token(session, cookie, kind="session") if cookie else None
    if principal is not None:
        form = await request.form()
        presented = request.headers.get("X-CSRF-Token") or form.get("csrf_token")
        if not auth_service.csrf_ok(
            app_secret(request, session),
            principal.session_hash,
            presented if isinstance(presented, str) else None,
        ):
            return JSONResponse(status_code=403, content={"detail": "权限不足 forbidden: CSRF token invalid"})
        auth_service.logout(session, principal)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def page_context(request: Request, session: Session) -> dict[str, Any]:
    """What every page template gets: the signed-in principal and the CSRF token its forms carry."""
    principal = getattr(request.state, "principal", None)
    return {"principal": principal, "csrf_token": csrf_token(request, session, principal)}
