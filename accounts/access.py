"""Authentication, authorisation and unit scoping for the web app.

- `PermissionTable`: every route's permission, `(METHOD, path template) → permission`, and each role's
  permissions. The composition root declares the one table (gongwu/permissions.py) and puts it on
  `app.state.permissions`; a route missing from it is refused (403), so nothing is open by omission.
- `authorize`: the app-wide dependency. It authenticates (bearer token for the API; the session cookie for
  the pages and the pages' own API calls), checks CSRF on unsafe cookie requests, and looks the matched route
  up in the table: no credential → 401 (`WWW-Authenticate: Bearer`; a page GET is redirected to /login),
  a role without the permission → 403.
- `ScopeDep`: the unit the current principal is confined to (a unit role's unit) as a `UnitScope`, whose
  helpers filter a query on a model's unit column and load one object or raise 404, so another unit's
  object is indistinguishable from a missing one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from sqlalchemy import ColumnElement, true
from sqlmodel import Session, SQLModel, col, select

from accounts.models import UNIT_ROLES
from accounts.rules import csrf_for, csrf_ok
from accounts.service import Principal, principal_for_token, server_secret
from core.api import SessionDep
from core.errors import NotAuthenticated, NotFound, PermissionDenied
from core.i18n import tr

PUBLIC = "public"  # no credential needed
AUTHENTICATED = "authenticated"  # any signed-in user (their own profile, tokens, password)
BY_KIND = "by-kind"  # the permission of the import kind named in the path (PermissionTable.imports)
SESSION_COOKIE = "gongwu_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DENIED = ("权限不足", "forbidden")  # every authorisation refusal starts with this, in its language
UNDECLARED = ("未声明权限", "no permission declared")


def denied(zh: str, en: str) -> str:
    """An authorisation refusal: `权限不足: {zh}`, or `forbidden: {en}` with GONGWU_LANGUAGE=en."""
    return tr(f"{DENIED[0]}: {zh}", f"{DENIED[1]}: {en}")


T = TypeVar("T", bound=SQLModel)


@dataclass(frozen=True)
class PermissionTable:
    routes: Mapping[tuple[str, str], str]
    roles: Mapping[str, frozenset[str]]
    permissions: frozenset[str] = field(default_factory=frozenset)  # every permission name
    imports: Mapping[str, str] = field(default_factory=dict)  # import kind → the permission it needs
    # A kind as a user may type it → its registered name (KeyError when unknown); set by the composition
    # root from the import registry, which this layer cannot import.
    kind_of: Callable[[str], str] | None = None

    def permission(self, method: str, path: str) -> str | None:
        return self.routes.get((method.upper(), path))

    def import_permission(self, kind: str, role: str) -> str:
        """What importing `kind` needs. An unknown kind needs any import permission, so that whoever may
        import something hears "unknown kind" (422) instead of a 403."""
        try:
            name = self.kind_of(kind) if self.kind_of else kind
            return self.imports[name]
        except KeyError:
            held = sorted(set(self.imports.values()) & self.roles.get(role, frozenset()))
            return held[0] if held else "admin"

    def allows(self, role: str, permission: str) -> bool:
        if permission in (PUBLIC, AUTHENTICATED):
            return True
        return permission in self.roles.get(role, frozenset())

    def of_role(self, role: str) -> list[str]:
        return sorted(self.roles.get(role, frozenset()))


def route_template(request: Request) -> str | None:
    """The matched route's full path template, e.g. /api/v1/vehicles/{vehicle_id}. FastAPI ≥ 0.16x keeps
    included routers nested: `scope["route"]` is then the router's own route (path without the prefix)
    and the full template is on the effective route context; older versions copy routes with full paths.
    Anything unexpected yields a template the table does not know: refused, never guessed."""
    route = request.scope.get("route")
    if route is None:
        return None
    context = request.scope.get("fastapi", {}).get("effective_route_context")
    if context is not None and getattr(context, "original_route", None) is route:
        full = getattr(context, "path_format", None)
        if isinstance(full, str):
            return full
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) else None


def _route_key(request: Request) -> tuple[str, str]:
    return request.method.upper(), route_template(request) or f"?{request.url.path}"


def _table(request: Request) -> PermissionTable:
    table = getattr(request.app.state, "permissions", None)
    if not isinstance(table, PermissionTable):
        raise PermissionDenied(denied("应用没有权限表", "the app has no permission table"))
    return table


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def get_principal(request: Request, session: SessionDep) -> Principal | None:
    """Who sent the request (cached per request). A bearer header is authoritative: a bad one is a 401,
    never a fallback to the cookie. Public routes skip the lookup."""
    method, path = _route_key(request)
    if _table(request).permission(method, path) == PUBLIC:
        return None
    token = _bearer(request)
    if token is not None:
        principal = principal_for_token(session, token, kind="api")
        if principal is None:
            raise NotAuthenticated(tr("令牌无效、已过期或已撤销", "invalid, expired or revoked token"))
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    return principal_for_token(session, cookie, kind="session") if cookie else None


PrincipalOrNone = Annotated[Principal | None, Depends(get_principal)]


def _is_page(request: Request) -> bool:
    return not request.url.path.startswith("/api/")


async def _presented_csrf(request: Request) -> str | None:
    token = request.headers.get(CSRF_HEADER)
    if token:
        return token
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def csrf_token(request: Request, session: Session, principal: Principal | None) -> str:
    """The CSRF token a page puts in its forms (`csrf_token` field) or a script sends (X-CSRF-Token),
    bound to the signed-in session."""
    if principal is None or not principal.session_hash:
        return ""
    return csrf_for(app_secret(request, session), principal.session_hash)


def app_secret(request: Request, session: Session) -> str:
    """The server secret, read once per process (the database keeps it when GONGWU_SECRET_KEY is empty)."""
    cached = getattr(request.app.state, "secret_key", None)
    if cached:
        return str(cached)
    secret, settled = server_secret(session)
    if settled:  # a key created by this request is cached only once committed (by a later request)
        request.app.state.secret_key = secret
    return secret


async def authorize(request: Request, session: SessionDep, principal: PrincipalOrNone) -> None:
    """The app-wide guard (see the module docstring)."""
    method, path = _route_key(request)
    table = _table(request)
    permission = table.permission(method, path)
    if permission is None:
        raise PermissionDenied(
            denied(
                f"{method} {path} {UNDECLARED[0]} — 请在 gongwu/permissions.py ROUTES 中声明",
                f"{UNDECLARED[1]} for {method} {path} — declare it in gongwu/permissions.py ROUTES",
            )
        )
    if permission == PUBLIC:
        return
    if principal is None:
        if _is_page(request) and method == "GET":
            target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
            raise HTTPException(status_code=303, headers={"Location": f"/login?next={target}"})
        raise NotAuthenticated(
            tr(
                "需要登录: 请发送 Authorization: Bearer <令牌>",
                "authentication required: send Authorization: Bearer <token>",
            )
        )
    if principal.via == "cookie" and method not in SAFE_METHODS:
        presented = await _presented_csrf(request)
        if not csrf_ok(app_secret(request, session), principal.session_hash, presented):
            raise PermissionDenied(denied("CSRF 令牌缺失或无效", "CSRF token missing or invalid"))
    if permission == BY_KIND:
        permission = table.import_permission(str(request.path_params.get("kind", "")), principal.role)
    if not table.allows(principal.role, permission):
        raise PermissionDenied(
            denied(
                f"角色 {principal.role} 没有 {permission} 权限",
                f"role {principal.role} lacks permission {permission}",
            )
        )
    request.state.principal = principal
    request.state.user = principal  # `.username`, as the domains' `_actor` helpers read it


def require_principal(principal: PrincipalOrNone) -> Principal:
    if principal is None:
        raise NotAuthenticated(tr("需要登录", "authentication required"))
    return principal


PrincipalDep = Annotated[Principal, Depends(require_principal)]


def actor(request: Request) -> str:
    """The username a change is attributed to in the audit log."""
    principal = getattr(request.state, "principal", None)
    return principal.username if isinstance(principal, Principal) else "anonymous"


# --- unit scoping -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitScope:
    """The unit a principal is confined to (`unit_id`), or none (`unit_id` None: every unit).

    `via=(Parent.id, Parent.unit_column)` scopes a child through its parent, e.g. a trip through its
    vehicle: `scope.cond(Trip.vehicle_id, via=(Vehicle.id, Vehicle.unit_id))`."""

    unit_id: int | None = None

    @property
    def restricted(self) -> bool:
        return self.unit_id is not None

    def cond(self, column: Any, *, via: tuple[Any, Any] | None = None) -> ColumnElement[bool]:
        if self.unit_id is None:
            return true()
        if via is None:
            return col(column) == self.unit_id
        parent_id, parent_unit = via
        return col(column).in_(select(parent_id).where(col(parent_unit) == self.unit_id))

    def apply(self, stmt: Any, column: Any, *, via: tuple[Any, Any] | None = None) -> Any:
        """`stmt` restricted to the scope's unit (unchanged when unrestricted)."""
        return stmt if self.unit_id is None else stmt.where(self.cond(column, via=via))

    def allows(self, unit_id: int | None) -> bool:
        return self.unit_id is None or unit_id == self.unit_id

    def ensure(self, unit_id: int | None, missing: str) -> None:
        """Raise NotFound(`missing`) when an object of `unit_id` lies outside the scope."""
        if not self.allows(unit_id):
            raise NotFound(missing)

    def get(
        self,
        session: Session,
        model: type[T],
        ident: Any,
        column: Any,
        *,
        missing: str,
        via: tuple[Any, Any] | None = None,
        key: Any = None,
    ) -> T:
        """One object by its id (or `key == ident`) inside the scope, else NotFound(`missing`)."""
        key_col = key if key is not None else model.id  # type: ignore[attr-defined]
        row = session.exec(select(model).where(col(key_col) == ident, self.cond(column, via=via))).first()
        if row is None:
            raise NotFound(missing)
        return row


NO_UNIT = -1  # a unit-bound user without a unit (should not exist) sees nothing rather than everything


def get_scope(principal: PrincipalDep) -> UnitScope:
    if principal.role in UNIT_ROLES:
        return UnitScope(principal.unit_id if principal.unit_id is not None else NO_UNIT)
    return UnitScope(None)


ScopeDep = Annotated[UnitScope, Depends(get_scope)]
