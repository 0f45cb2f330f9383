"""THE permission table: every route of the app with the permission it needs, and each role's permissions.

A route missing here is refused with 403 ("no permission declared"), and tests/auth/test_permissions.py
fails until it is declared. Permission names:

- `public` (no sign-in), `authenticated` (any signed-in user: own profile, tokens, password);
- `<domain>:read` reads that are unit-scoped in their queries (a unit_viewer has them; see `core.access`),
  `<domain>:county` county-wide reads (reports, unscoped lists; a unit_viewer has none of them);
- `fleet:write`, `fleet:review` (flag reviews), `property:write`;
- `orders:request` (unit staff and approvers for their unit, the center), `orders:approve` (a unit's
  approver at level 1, the center at level 2: the handler checks which), `orders:dispatch` (the center
  sends a car and driver out), `orders:return` (the driver the order went to — the handler checks — or
  the center records the return), `flags:reply` (a unit answers its own flags: an explanation, a late
  order);
- imports need the permission of their kind's domain (`IMPORTS`): vehicles, drivers, orders, positions
  and expenses `fleet:write`, the property kinds `property:write`, units `admin`. A unit-scoped role never
  imports;
- `units:read`, `feeds:read`, `runs:read`, `audit:read`, `admin` (users and their tokens).

A read endpoint moves from `…:county` to `…:read` only once its queries apply `ScopeDep`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from accounts.access import AUTHENTICATED, BY_KIND, PUBLIC, PermissionTable

API = "/api/v1"

# (method, path template) → permission. Keep grouped by domain and in route order.
ROUTES: dict[tuple[str, str], str] = {
    # --- ops and docs (docs are Starlette routes: only `public` can be enforced on them)
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    # --- sign-in, own account (gongwu/routes_auth.py)
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,  # CSRF-checked in the handler; without a session it only redirects
    ("POST", f"{API}/auth/token"): PUBLIC,
    ("GET", f"{API}/me"): AUTHENTICATED,
    ("POST", f"{API}/me/password"): AUTHENTICATED,
    ("GET", f"{API}/me/tokens"): AUTHENTICATED,
    ("POST", f"{API}/me/tokens"): AUTHENTICATED,
    ("DELETE", f"{API}/me/tokens/{{token_id}}"): AUTHENTICATED,
    ("GET", f"{API}/me/notifications"): AUTHENTICATED,
    ("POST", f"{API}/me/notifications/read"): AUTHENTICATED,
    # --- users (admin)
    ("GET", f"{API}/users"): "admin",
    ("POST", f"{API}/users"): "admin",
    ("GET", f"{API}/users/{{username}}"): "admin",
    ("PATCH", f"{API}/users/{{username}}"): "admin",
    ("PUT", f"{API}/users/{{username}}/password"): "admin",
    ("POST", f"{API}/users/{{username}}/unlock"): "admin",
    ("GET", f"{API}/users/{{username}}/tokens"): "admin",
    ("DELETE", f"{API}/users/{{username}}/tokens/{{token_id}}"): "admin",
    # --- audit log
    ("GET", f"{API}/audit"): "audit:read",
    ("GET", f"{API}/audit/export"): "audit:read",
    # --- fleet (fleet/routes.py): the :read ones are unit-scoped in their queries; reports are county-wide
    ("GET", f"{API}/units"): "units:read",
    ("GET", f"{API}/vehicles"): "fleet:read",
    ("GET", f"{API}/vehicles/available"): "fleet:read",
    ("GET", f"{API}/vehicles/{{vehicle_id}}"): "fleet:read",
    ("GET", f"{API}/drivers"): "fleet:read",
    ("POST", f"{API}/drivers"): "fleet:write",
    ("GET", f"{API}/orders"): "fleet:read",
    ("GET", f"{API}/orders/{{order_id}}"): "fleet:read",
    ("GET", f"{API}/trips"): "fleet:read",
    ("GET", f"{API}/trips/{{trip_id}}"): "fleet:read",
    ("GET", f"{API}/stops"): "fleet:read",
    ("GET", f"{API}/flags"): "fleet:read",
    ("GET", f"{API}/flags/{{flag_id}}"): "fleet:read",
    ("POST", f"{API}/flags/review"): "fleet:review",
    ("POST", f"{API}/flags/{{flag_id}}/review"): "fleet:review",
    ("POST", f"{API}/orders"): "orders:request",
    ("POST", f"{API}/orders/{{order_id}}/approve"): "orders:approve",
    ("POST", f"{API}/orders/{{order_id}}/reject"): "orders:approve",
    ("POST", f"{API}/orders/{{order_id}}/dispatch"): "orders:dispatch",
    ("POST", f"{API}/orders/{{order_id}}/return"): "orders:return",
    ("POST", f"{API}/flags/{{flag_id}}/replies"): "flags:reply",
    ("GET", f"{API}/orders/{{order_id}}/history"): "fleet:read",
    ("PATCH", f"{API}/orders/{{order_id}}"): "fleet:write",
    ("POST", f"{API}/orders/{{order_id}}/cancel"): "fleet:write",
    ("GET", f"{API}/orders/{{order_id}}/expense"): "fleet:read",
    ("PUT", f"{API}/orders/{{order_id}}/expense"): "fleet:write",
    ("POST", f"{API}/vehicles/{{vehicle_id}}/propose-disposal"): "fleet:write",
    ("POST", f"{API}/vehicles/{{vehicle_id}}/disposal"): "fleet:write",
    ("GET", f"{API}/vehicles/{{vehicle_id}}/records"): "fleet:read",  # unit-scoped
    ("POST", f"{API}/flags/{{flag_id}}/reassign"): "fleet:review",
    ("GET", f"{API}/rules"): "fleet:county",
    ("PUT", f"{API}/rules"): "admin",
    ("GET", f"{API}/calendar"): "fleet:county",
    ("POST", f"{API}/calendar"): "admin",
    ("GET", f"{API}/tracker-checks"): "fleet:county",
    ("POST", f"{API}/tracker-checks"): "fleet:write",
    ("GET", f"{API}/tracker-assignments"): "fleet:county",
    ("POST", f"{API}/tracker-assignments"): "fleet:write",
    ("GET", f"{API}/reports/trackers"): "fleet:county",
    ("GET", f"{API}/reports/units"): "fleet:county",
    ("GET", f"{API}/reports/bulletin"): "fleet:county",
    ("GET", f"{API}/reports/expenses"): "fleet:county",
    ("GET", f"{API}/reports/trends"): "fleet:read",  # unit-scoped: a unit's staff see their unit
    ("GET", f"{API}/reports/costs"): "fleet:read",  # unit-scoped
    ("GET", f"{API}/reports/disposals"): "fleet:read",  # unit-scoped
    # --- imports (scheduler/routes.py): each kind as its domain's writes (IMPORTS below)
    ("POST", f"{API}/imports/{{kind}}"): BY_KIND,
    ("GET", f"{API}/imports/{{kind}}/template"): BY_KIND,
    # one's own import jobs (an admin's: everyone's), checked in the handler; no one else learns they exist
    ("GET", f"{API}/imports"): AUTHENTICATED,
    ("GET", f"{API}/imports/{{job_id}}"): AUTHENTICATED,
    # --- feeds (ingest/routes.py)
    ("GET", f"{API}/feeds/status"): "feeds:read",
    ("GET", f"{API}/positions"): "fleet:read",
    # --- property (property/routes.py; the :read ones are unit-scoped)
    ("GET", f"{API}/office-properties"): "property:read",
    ("GET", f"{API}/office-properties/{{code}}"): "property:read",
    ("PUT", f"{API}/office-properties/{{code}}/checklist/{{step}}"): "property:write",
    ("GET", f"{API}/certificate-targets"): "property:county",
    ("PUT", f"{API}/certificate-targets"): "property:write",
    ("DELETE", f"{API}/certificate-targets/{{step}}"): "property:write",
    ("GET", f"{API}/operating-properties"): "property:read",
    ("GET", f"{API}/operating-properties/{{code}}"): "property:read",
    ("GET", f"{API}/auction-batches"): "property:county",
    ("GET", f"{API}/auction-batches/{{name}}"): "property:county",
    ("PUT", f"{API}/auction-batches/{{name}}"): "property:write",
    ("GET", f"{API}/leases"): "property:read",
    ("POST", f"{API}/leases"): "property:write",
    ("POST", f"{API}/leases/{{lease_id}}/terminate"): "property:write",
    ("POST", f"{API}/leases/{{lease_id}}/renew"): "property:write",
    ("GET", f"{API}/leases/{{lease_id}}/payments"): "property:read",
    ("POST", f"{API}/leases/{{lease_id}}/payments"): "property:write",
    ("GET", f"{API}/reports/arrears"): "property:county",
    ("GET", f"{API}/property-alerts"): "property:county",
    ("GET", f"{API}/reports/certificates"): "property:county",
    ("GET", f"{API}/reports/auctions"): "property:county",
    ("GET", f"{API}/reports/operating"): "property:county",
    ("GET", f"{API}/reports/leases"): "property:county",
    ("GET", f"{API}/reports/rent-roll"): "property:county",
    # --- scheduler (scheduler/routes.py): run history is county-wide
    ("GET", f"{API}/runs"): "runs:read",
}
# The web pages (gongwu/web). Reads marked `:read` are unit-scoped in their handlers, `:county` ones are
# county-wide; POSTs are CSRF-checked by `accounts.access.authorize` when they come with the session cookie.
# Static files (/static, /docs-assets) are Starlette mounts: public, like the login page's stylesheet.
PAGES: dict[tuple[str, str], str] = {
    ("GET", "/"): AUTHENTICATED,  # the home page: what each role needs first
    # --- fleet
    ("GET", "/flags"): "fleet:read",
    ("POST", "/flags/review"): "fleet:review",  # bulk review
    ("GET", "/flags.xlsx"): "fleet:read",
    ("GET", "/flags/{flag_id}"): "fleet:read",
    ("POST", "/flags/{flag_id}/review"): "fleet:review",
    ("POST", "/flags/{flag_id}/reassign"): "fleet:review",
    ("GET", "/vehicles"): "fleet:read",
    ("GET", "/vehicles.xlsx"): "fleet:read",
    ("GET", "/vehicles/{vehicle_id}"): "fleet:read",
    ("POST", "/vehicles/{vehicle_id}/disposal"): "fleet:write",
    ("GET", "/trips"): "fleet:read",
    ("GET", "/trips.xlsx"): "fleet:read",
    ("GET", "/trips/{trip_id}"): "fleet:read",
    # --- orders (gongwu/web/order_pages.py): the handlers check the unit, the level, the driver
    ("GET", "/orders/new"): "orders:request",
    ("POST", "/orders/new"): "orders:request",
    ("GET", "/orders/mine"): "orders:request",
    ("GET", "/orders/approvals"): "orders:approve",
    ("POST", "/orders/{order_id}/approve"): "orders:approve",
    ("POST", "/orders/{order_id}/reject"): "orders:approve",
    ("GET", "/orders/dispatch"): "orders:dispatch",
    ("POST", "/orders/{order_id}/dispatch"): "orders:dispatch",
    ("GET", "/orders/tasks"): "orders:return",
    ("POST", "/orders/{order_id}/return"): "orders:return",
    # its unit's to whoever reads fleet data there, a driver's once dispatched to them: the handler checks
    ("GET", "/orders/{order_id}"): AUTHENTICATED,
    ("POST", "/flags/{flag_id}/replies"): "flags:reply",
    ("GET", "/reports/units"): "fleet:read",  # a unit viewer sees its own unit's row
    ("GET", "/reports/units.xlsx"): "fleet:read",
    ("GET", "/reports/trends"): "fleet:read",  # unit-scoped in the query
    ("GET", "/reports/trends.xlsx"): "fleet:read",
    ("GET", "/reports/costs"): "fleet:read",  # unit-scoped in the query
    ("GET", "/reports/costs.xlsx"): "fleet:read",
    ("GET", "/reports/disposals"): "fleet:read",  # unit-scoped in the query
    ("GET", "/reports/disposals.xlsx"): "fleet:read",
    ("GET", "/reports/utilisation.xlsx"): "fleet:read",
    ("GET", "/reports/bulletin"): "fleet:county",
    ("GET", "/reports/bulletin.xlsx"): "fleet:county",
    ("GET", "/reports/trackers"): "fleet:county",
    ("GET", "/rules"): "fleet:county",
    ("GET", "/reports/trackers.xlsx"): "fleet:county",
    # --- property
    ("GET", "/properties/certificates"): "property:read",
    ("GET", "/properties/certificates.xlsx"): "property:read",
    ("GET", "/properties/office/{code}"): "property:read",
    ("GET", "/properties/operating"): "property:read",
    ("GET", "/properties/operating.xlsx"): "property:read",
    ("GET", "/properties/leases"): "property:read",
    ("GET", "/properties/leases.xlsx"): "property:read",
    ("GET", "/properties/leases/new"): "property:write",
    ("POST", "/properties/leases/new"): "property:write",
    ("GET", "/properties/leases/{lease_id}"): "property:read",
    ("POST", "/properties/leases/{lease_id}/payments"): "property:write",
    ("POST", "/properties/leases/{lease_id}/renew"): "property:write",
    ("POST", "/properties/leases/{lease_id}/terminate"): "property:write",
    ("POST", "/properties/office/{code}/steps/{step}"): "property:write",
    ("POST", "/properties/office/{code}/targets/{step}"): "property:write",
    ("GET", "/properties/auctions"): "property:county",
    ("GET", "/properties/auctions.xlsx"): "property:county",
    # --- scheduler
    ("GET", "/runs"): "runs:read",
    ("GET", "/runs.xlsx"): "runs:read",
    ("GET", "/tiles/{z}/{x}/{y}"): AUTHENTICATED,  # the MBTiles basemap under every map
    # --- imports: the form offers, and its POST accepts, only the kinds the role may import (IMPORTS); a
    # job's pages are its own user's (an admin's: everyone's), checked in the handlers
    ("GET", "/inbox"): AUTHENTICATED,  # one's own notifications
    ("POST", "/inbox/read"): AUTHENTICATED,
    ("POST", "/inbox/channels"): AUTHENTICATED,  # one's own channels only (the handler's principal)
    ("POST", "/inbox/channels/{channel_id}/delete"): AUTHENTICATED,
    ("GET", "/imports"): AUTHENTICATED,
    ("POST", "/imports"): AUTHENTICATED,
    ("GET", "/imports/{job_id}"): AUTHENTICATED,
    ("GET", "/imports/{job_id}/status"): AUTHENTICATED,
}
ROUTES.update(PAGES)

# Permissions come in families; a role is a union of them.
COMMON = frozenset({"units:read", "runs:read"})
FLEET_READS = frozenset({"fleet:read", "fleet:county", "feeds:read"})
FLEET = FLEET_READS | {"fleet:write", "fleet:review"}
PROPERTY_READS = frozenset({"property:read", "property:county"})
PROPERTY = PROPERTY_READS | {"property:write"}
# Orders made in gongwu: requested by unit staff (and the center), approved by the unit's approver and, at
# the second level, by the center; the handlers check which level and unit each decision is for.
ORDERS = frozenset({"orders:request", "orders:approve", "orders:dispatch", "orders:return"})
REPLY = frozenset({"flags:reply"})
PERMISSIONS = COMMON | FLEET | PROPERTY | ORDERS | REPLY | {"audit:read", "admin"}
UNIT_READS = frozenset({"units:read", "fleet:read", "property:read"})

# Import kind → the permission it needs: whoever may change those tables (tests/auth checks every kind).
IMPORTS: dict[str, str] = {
    "units": "admin",
    "vehicles": "fleet:write",
    "drivers": "fleet:write",
    "orders": "fleet:write",
    "positions": "fleet:write",
    "expenses": "fleet:write",
    "tracker-checks": "fleet:write",
    "tracker-assignments": "fleet:write",
    "places": "fleet:write",
    "fuel": "fleet:write",
    "maintenance": "fleet:write",
    "insurance": "fleet:write",
    "inspections": "fleet:write",
    "costs": "fleet:write",
    "properties": "property:write",
    "operating-properties": "property:write",
    "auctions": "property:write",
    "leases": "property:write",
}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": PERMISSIONS,
    "vehicle_manager": COMMON | FLEET | ORDERS,
    "property_clerk": COMMON | PROPERTY,
    "unit_viewer": UNIT_READS,
    "unit_staff": UNIT_READS | REPLY | {"orders:request"},
    "unit_approver": UNIT_READS | REPLY | {"orders:request", "orders:approve"},
    # a driver sees the orders dispatched to them (checked in the handlers) and records their return
    "driver": frozenset({"orders:return"}),
    # read-only everything, like the discipline inspectors (纪检监察) who query these platforms
    "auditor": COMMON | FLEET_READS | PROPERTY_READS | {"audit:read"},
}

TABLE = PermissionTable(routes=ROUTES, roles=ROLE_PERMISSIONS, permissions=PERMISSIONS, imports=IMPORTS)

_ERROR = {
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
        }
    }
}


def install(app: FastAPI, table: PermissionTable = TABLE) -> None:
    """Put the table on the app and document it in the OpenAPI schema: the bearer scheme (and the OAuth2
    password flow of /docs' Authorize button), each operation's permission, and its 401/403 answers; and
    the 422 answers as they are (FastAPI's field errors or a domain rule's message)."""
    app.state.permissions = table

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"},
            "password": {
                "type": "oauth2",
                "flows": {"password": {"tokenUrl": f"{API}/auth/token", "scopes": {}}},
            },
        }
        # A 422 is FastAPI's list of field errors or a domain rule's one-line message (ValidationFailed).
        validation = schema["components"].get("schemas", {}).get("HTTPValidationError")
        if validation:
            listed = validation["properties"]["detail"]
            validation["properties"]["detail"] = {"anyOf": [listed, {"type": "string"}], "title": "Detail"}
        for path, item in schema.get("paths", {}).items():
            for method, op in item.items():
                permission = table.permission(method, path)
                if permission == PUBLIC:
                    op["security"] = []
                    continue
                op["security"] = [{"bearer": []}, {"password": []}]
                op.setdefault("responses", {}).setdefault("401", {"description": "not signed in", **_ERROR})
                op["responses"].setdefault("403", {"description": "forbidden", **_ERROR})
                note = f"Permission: `{permission or 'UNDECLARED — refused'}`."
                if permission == BY_KIND:
                    kinds = ", ".join(f"{k} `{p}`" for k, p in table.imports.items())
                    note = f"Permission: the kind's — {kinds}."
                op["description"] = f"{op.get('description', '')}\n\n{note}".strip()
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
