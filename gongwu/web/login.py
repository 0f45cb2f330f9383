"""The web sign-in: /login sets the session cookie (httponly, SameSite=Lax, Secure over https) after a
CSRF-checked form, /logout ends the sign-in server-side; and the context every page template gets. The
use-cases are accounts.service's."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.routing import NoMatchFound

from accounts import rules as account_rules
from accounts import service as auth_service
from accounts.access import SESSION_COOKIE, app_secret, csrf_token
from core.api import SessionDep
from core.errors import NotAuthenticated, TooManyAttempts
from core.i18n import tr
from core.settings import get_settings

web_router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

LOGIN_CSRF_COOKIE = "gongwu_login_csrf"


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def _secure(request: Request) -> bool:
    configured = get_settings().cookie_secure
    return request.url.scheme == "https" if configured is None else configured


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
    token = account_rules.csrf_for(app_secret(request, session), f"login:{nonce}")
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
    if not account_rules.csrf_ok(app_secret(request, session), f"login:{nonce}", field.get("csrf_token")):
        return _login_page(
            request, session, next_=next_, username=username, status=403,
            error=tr("表单已过期，请重新登录", "The form expired: please sign in again"),
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
        if not account_rules.csrf_ok(
            app_secret(request, session),
            principal.session_hash,
            presented if isinstance(presented, str) else None,
        ):
            detail = tr(
                "权限不足：页面已过期，请刷新后重试",
                "forbidden: the page has expired, reload it and try again",
            )
            return JSONResponse(status_code=403, content={"detail": detail})
        auth_service.logout(session, principal)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def page_context(request: Request, session: Session) -> dict[str, Any]:
    """What every page template gets: the signed-in principal and the CSRF token its forms carry."""
    principal = getattr(request.state, "principal", None)
    return {"principal": principal, "csrf_token": csrf_token(request, session, principal)}
