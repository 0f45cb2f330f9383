"""The accounts API under /api/v1: bearer tokens for a password, one's own account and tokens, users
(admin) and the audit log reader. The web sign-in (/login, /logout) is gongwu/web/login.py.

- `POST /auth/token` takes a username and password (form, as OAuth2's password flow and /docs' Authorize
  button send them, or JSON) and answers a bearer token valid GONGWU_SESSION_HOURS; long-lived tokens are
  created explicitly (`POST /me/tokens`, `gongwu user token create`). Failures are throttled (429).
Every permission is declared in accounts/permissions.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from accounts import notify
from accounts import queries as accounts_queries
from accounts import service as auth_service
from accounts.access import PrincipalDep, actor, csrf_token
from accounts.models import ApiToken, Role, User
from accounts.schemas import (
    AuditFilters,
    AuditPublic,
    MeOut,
    NotificationOut,
    PasswordChange,
    PasswordSet,
    ReadIn,
    TokenCreate,
    TokenCreated,
    TokenOut,
    TokenPublic,
    TokenRequest,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from core import audit, tabular
from core.api import ListOut, PageDep, SessionDep, listing
from core.errors import GongwuError, NotAuthenticated, TooManyAttempts, ValidationFailed
from core.i18n import tr
from core.models import Unit
from core.settings import get_settings
from core.timeutil import to_china, utcnow

router = APIRouter()


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def _error(exc: GongwuError) -> JSONResponse:
    # Returned, not raised: the failed-attempt counters and audit rows must be committed.
    return JSONResponse(status_code=exc.status_code, content={"detail": exc.message}, headers=exc.headers)


# --- tokens by password -------------------------------------------------------------------------------


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
        raise ValidationFailed(
            tr("需要用户名和密码 (表单或 JSON)", "send username and password (form or JSON)")
        ) from exc


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
        return _error(ValidationFailed(tr("当前密码不正确", "the current password is wrong")))
    except TooManyAttempts as exc:
        return _error(exc)
    auth_service.set_password(
        session,
        principal.username,
        body.new_password,
        actor=principal.username,
        keep_token_id=principal.token_id,
    )
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
    """A new API token for oneself (default lifetime GONGWU_TOKEN_DAYS, at most GONGWU_TOKEN_MAX_DAYS): the
    token is in this answer only. Changing the password revokes it."""
    user = session.get(User, principal.user_id)
    assert user is not None
    row, clear = auth_service.create_token(
        session, user, actor=principal.username, name=body.name, days=body.days, capped=True
    )
    return _created(row, clear)


@router.delete("/me/tokens/{token_id}", status_code=204, tags=["auth"])
def revoke_my_token(session: SessionDep, principal: PrincipalDep, token_id: int) -> Response:
    auth_service.revoke_token(session, token_id, actor=principal.username, user_id=principal.user_id)
    return Response(status_code=204)


# --- users (admin) ------------------------------------------------------------------------------------


@router.get("/users", response_model=ListOut[UserPublic], tags=["users"])
def list_users(
    session: SessionDep,
    page: PageDep,
    role: Role | None = None,
    active: bool | None = None,
    q: Annotated[str | None, Query(max_length=64, description="username contains")] = None,
) -> ListOut[UserPublic]:
    return listing(UserPublic, session, accounts_queries.users_query(role=role, active=active, q=q), page)


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
    """Change role, unit (the unit roles only), display name or `is_active` (disabling revokes every
    token)."""
    kwargs: dict[str, Any] = body.model_dump(exclude_unset=True)
    if kwargs.get("is_active") is False and username == actor(request):
        raise ValidationFailed(tr("不能停用自己", "you cannot disable yourself"))
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
    return accounts_queries.audit_query(f)


@router.get("/audit", response_model=ListOut[AuditPublic], tags=["audit"])
def list_audit(session: SessionDep, page: PageDep, filters: AuditFiltersDep) -> ListOut[AuditPublic]:
    """The append-only audit log, newest first."""
    return listing(AuditPublic, session, _stmt(filters), page)


EXPORT_MAX_ROWS = 200_000
EXPORT_COLUMNS = ("id", "at", "actor", "action", "entity", "entity_id", "before", "after", "detail")


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
    table = [[getattr(r, c) for c in EXPORT_COLUMNS] for r in rows]
    audit.record(
        session, actor=actor(request), action="audit.export", entity="core_audit_log",
        detail=f"{len(rows)} rows as {format}; filters {filters.model_dump_json(exclude_none=True)}",
    )  # fmt: skip
    stamp = to_china(utcnow()).strftime("%Y%m%d-%H%M%S")
    if format == "xlsx":
        media, body = (
            tabular.XLSX_MEDIA,
            tabular.xlsx_bytes(EXPORT_COLUMNS, table, title="audit", banner=False),
        )
    else:
        media, body = "text/csv; charset=utf-8", tabular.csv_bytes(EXPORT_COLUMNS, table)
    headers = {"Content-Disposition": f'attachment; filename="audit-{stamp}.{format}"'}
    return Response(content=body, media_type=media, headers=headers)


@router.get("/me/notifications", tags=["auth"])
def my_notifications(
    session: SessionDep,
    principal: PrincipalDep,
    unread: Annotated[bool, Query(description="only those not read yet")] = False,
) -> dict[str, Any]:
    """One's notifications (the inbox), newest first, worded in the configured language."""
    rows = notify.inbox(session, principal.user_id, unread_only=unread)
    data = []
    for r in rows:
        title, body = notify.words(r.kind, r.params)
        data.append(NotificationOut(id=r.id or 0, kind=r.kind, title=title, body=body, url=r.url,
                                    created_at=r.created_at, read_at=r.read_at))  # fmt: skip
    return {"unread": notify.unread_count(session, principal.user_id), "data": data}


@router.post("/me/notifications/read", tags=["auth"])
def read_my_notifications(session: SessionDep, principal: PrincipalDep, body: ReadIn) -> dict[str, int]:
    """Mark one's own notifications read (others' ids are ignored); all unread ones without `ids`."""
    return {"marked": notify.mark_read(session, principal.user_id, body.ids)}
