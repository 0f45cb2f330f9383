"""The permission matrix: every route of the app — from the OpenAPI schema and from app.routes — called with
no credential and as every role, against what gongwu/permissions.py declares. A route added without a
declaration fails here (and is refused with 403 at run time)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import Session

from accounts.access import AUTHENTICATED, BY_KIND, DENIED, PUBLIC, UNDECLARED, PermissionTable
from accounts.models import ROLES, UNIT_ROLES
from accounts.permissions import IMPORTS, PERMISSIONS, ROLE_PERMISSIONS, ROUTES, TABLE
from core.models import Unit
from tests.conftest import ClientAs

SKIP_METHODS = {"HEAD", "OPTIONS"}


def app_routes(app: FastAPI) -> dict[tuple[str, str], bool]:
    """(method, full path template) → whether FastAPI enforces dependencies on it (an APIRoute)."""
    try:  # FastAPI ≥ 0.16x keeps included routers nested; this walks them
        from fastapi.routing import iter_route_contexts

        contexts: list[Any] = list(iter_route_contexts(app.routes))
    except ImportError:  # older FastAPI: app.routes is already flat
        contexts = list(app.routes)
    out: dict[tuple[str, str], bool] = {}
    for ctx in contexts:
        original = getattr(ctx, "original_route", ctx)
        path = getattr(ctx, "path_format", None) or getattr(ctx, "path", None)
        for method in (getattr(ctx, "methods", None) or set()) - SKIP_METHODS:
            out[(method, path)] = isinstance(original, APIRoute)
    return out


def openapi_routes(client: TestClient) -> set[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    return {
        (m.upper(), p) for p, item in spec["paths"].items() for m in item if m.upper() not in SKIP_METHODS
    }


def undeclared(app: FastAPI, table: PermissionTable = TABLE) -> list[tuple[str, str]]:
    return sorted(k for k in app_routes(app) if table.permission(*k) is None)


def test_every_route_is_declared_and_every_declaration_is_a_route(app: FastAPI, client: TestClient) -> None:
    routes = app_routes(app)
    api = openapi_routes(client)
    assert api <= set(routes), "the OpenAPI schema and app.routes disagree"
    assert undeclared(app) == [], "declare these routes in gongwu/permissions.py ROUTES"
    assert sorted(set(ROUTES) - set(routes)) == [], "stale declarations: no such route"
    # Starlette routes (docs, schema) bypass dependencies: only `public` can be true of them.
    for key, enforced in routes.items():
        if not enforced:
            assert ROUTES[key] == PUBLIC, f"{key} is not an APIRoute: it cannot be protected"


def test_the_table_names_known_permissions_and_roles() -> None:
    assert set(ROLE_PERMISSIONS) == set(ROLES)
    for perms in ROLE_PERMISSIONS.values():
        assert perms <= PERMISSIONS
    for perm in ROUTES.values():
        assert perm in PERMISSIONS | {PUBLIC, AUTHENTICATED, BY_KIND}, perm
    # every import kind is declared, with a domain's write permission (or admin for units)
    from ingest.kinds import KINDS

    assert set(IMPORTS) == set(KINDS)
    assert set(IMPORTS.values()) <= {"fleet:write", "property:write", "admin"}
    assert ROLE_PERMISSIONS["admin"] == PERMISSIONS
    # the auditor only reads; the unit viewer only has the unit-scoped reads
    assert all(p.endswith((":read", ":county")) for p in ROLE_PERMISSIONS["auditor"])
    assert ROLE_PERMISSIONS["unit_viewer"] <= {"units:read", "fleet:read", "property:read"}


def _url(path: str) -> str:
    # 999999 fits int and str parameters alike and names nothing: a permitted call answers 404/422
    return re.sub(r"\{[^}]+\}", "999999", path)


def _denied(response: Any) -> bool:
    if response.status_code != 403:
        return False
    if response.headers.get("content-type", "").startswith("text/html"):  # a page's refusal is a page
        return 'data-error="403"' in response.text
    try:
        return str(response.json().get("detail", "")).startswith(DENIED[0])
    except ValueError:
        return False


def _call(client: TestClient, method: str, path: str) -> Any:
    return client.request(method, _url(path), follow_redirects=False)


@pytest.fixture
def clients(client_as: ClientAs, session: Session, unit_a: Unit) -> dict[str | None, TestClient]:
    out: dict[str | None, TestClient] = {None: client_as(None)}
    for role in ROLES:
        out[role] = client_as(role, unit_id=unit_a.id if role in UNIT_ROLES else None)
    return out


def test_permission_matrix(app: FastAPI, clients: dict[str | None, TestClient]) -> None:
    """Each route × (no token, each role): 401 / 403 / allowed exactly as the table says; never a 500."""
    failures = []
    for (method, path), enforced in sorted(app_routes(app).items()):
        if not enforced:
            continue
        permission = TABLE.permission(method, path)
        if permission == BY_KIND:
            continue  # every kind × role: test_import_permission_matrix
        for role, c in clients.items():
            r = _call(c, method, path)
            who = role or "anonymous"
            if r.status_code >= 500:
                failures.append(f"{method} {path} as {who}: {r.status_code}")
            elif permission == PUBLIC or (role is not None and TABLE.allows(role, permission or "")):
                if r.status_code == 401 or _denied(r):
                    failures.append(f"{method} {path} as {who}: {r.status_code}, expected allowed")
            elif role is None:
                page = not path.startswith("/api/") and method == "GET"
                if page and not (r.status_code == 303 and r.headers["location"].startswith("/login")):
                    failures.append(f"{method} {path} as {who}: {r.status_code}, expected 303 to /login")
                if not page and (r.status_code != 401 or r.headers.get("www-authenticate") != "Bearer"):
                    failures.append(f"{method} {path} as {who}: {r.status_code}, expected 401 Bearer")
            elif not _denied(r):
                failures.append(f"{method} {path} as {who}: {r.status_code}, expected 403 ({permission})")
    assert failures == []


IMPORT_ROUTES = [(m, p) for (m, p), perm in ROUTES.items() if perm == BY_KIND]


def test_import_permission_matrix(
    app: FastAPI, clients: dict[str | None, TestClient], session: Session
) -> None:
    """Each import route × every kind × (no token, each role): allowed exactly when the role holds the
    kind's permission (a unit viewer never); allowed calls get past authorisation (an empty upload is a
    422, a template a 200)."""
    from ingest.kinds import KINDS

    assert len(IMPORT_ROUTES) == 2
    failures = []
    for method, path in IMPORT_ROUTES:
        for kind in KINDS:
            url = path.replace("{kind}", kind)
            for role, c in clients.items():
                r = c.request(method, url, files={"file": ("x.csv", b"")} if method == "POST" else None)
                who = role or "anonymous"
                allowed = role is not None and IMPORTS[kind] in ROLE_PERMISSIONS[role]
                if role in UNIT_ROLES:
                    assert not allowed
                if r.status_code >= 500 or (role is None and r.status_code != 401):
                    failures.append(f"{method} {url} as {who}: {r.status_code}")
                elif role is not None and allowed == _denied(r):
                    failures.append(f"{method} {url} as {who}: {r.status_code}, expected allowed={allowed}")
                elif allowed and r.status_code not in (200, 202, 422):
                    failures.append(f"{method} {url} as {who}: {r.status_code} {r.text[:80]}")
    assert failures == []
    # an unknown kind: whoever may import something is told so (422), others are refused
    assert clients["vehicle_manager"].get("/api/v1/imports/nope/template").status_code == 422
    assert _denied(clients["unit_viewer"].get("/api/v1/imports/nope/template"))
    # aliases resolve before the check: a shopfronts file is property's
    assert _denied(clients["vehicle_manager"].get("/api/v1/imports/shopfronts/template"))
    assert clients["property_clerk"].get("/api/v1/imports/shopfronts/template").status_code == 200


def test_a_new_route_without_declaration_is_refused_and_reported(app: FastAPI, client: TestClient) -> None:
    @app.get("/api/v1/brand-new")
    def brand_new() -> dict[str, str]:
        return {"hello": "world"}

    assert undeclared(app) == [("GET", "/api/v1/brand-new")]
    r = client.get("/api/v1/brand-new")  # even the admin
    assert r.status_code == 403
    assert UNDECLARED[0] in r.json()["detail"] and "GET /api/v1/brand-new" in r.json()["detail"]


def test_a_page_redirects_to_login_and_keeps_the_target(app: FastAPI, client_as: ClientAs) -> None:
    @app.get("/vehicles-page")
    def page() -> dict[str, str]:
        return {}

    app.state.permissions = PermissionTable(
        routes={**ROUTES, ("GET", "/vehicles-page"): "fleet:county"}, roles=ROLE_PERMISSIONS
    )
    r = client_as(None).get("/vehicles-page?unit=3", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/vehicles-page%3Funit%3D3"


def test_openapi_documents_the_security(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    assert spec["paths"]["/api/v1/auth/token"]["post"]["security"] == []
    vehicles = spec["paths"]["/api/v1/vehicles"]["get"]
    assert {"bearer": []} in vehicles["security"]
    assert {"401", "403"} <= set(vehicles["responses"])
    assert "fleet:" in vehicles["description"]


def test_bad_and_missing_credentials(client_as: ClientAs) -> None:
    anonymous = client_as(None)
    r = anonymous.get("/api/v1/me")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = anonymous.get("/api/v1/me", headers={"Authorization": "Bearer gw_not-a-token"})
    assert r.status_code == 401 and "令牌无效" in r.json()["detail"]
    r = anonymous.get("/api/v1/me", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    assert r.status_code == 401
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/docs").status_code == 200


def test_me_lists_the_role_and_its_permissions(client_as: ClientAs, unit_a: Unit) -> None:
    body = client_as("unit_viewer", unit_id=unit_a.id).get("/api/v1/me").json()
    assert body["role"] == "unit_viewer" and body["unit"] == "城关镇"
    assert body["permissions"] == sorted(ROLE_PERMISSIONS["unit_viewer"])
    assert body["csrf_token"] is None  # bearer tokens need no CSRF token
