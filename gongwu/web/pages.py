"""The pages and the permission each needs, merged into THE table (gongwu/permissions.py ROUTES).

Reads marked `:read` are unit-scoped in their handlers (a unit viewer sees its own unit only, as the API
does with `ScopeDep`); `:county` ones are county-wide. POSTs are CSRF-checked by `core.access.authorize`
when they come with the session cookie. Static files (/static) are a Starlette mount: no permission applies
to them, they are public like the login page's stylesheet must be.
"""

from __future__ import annotations

from core.access import AUTHENTICATED

PAGES: dict[tuple[str, str], str] = {
    ("GET", "/"): AUTHENTICATED,  # the home page: what each role needs first
    # --- fleet
    ("GET", "/flags"): "fleet:read",
    ("POST", "/flags/review"): "fleet:review",  # bulk review
    ("GET", "/flags/{flag_id}"): "fleet:read",
    ("POST", "/flags/{flag_id}/review"): "fleet:review",
    ("GET", "/vehicles"): "fleet:read",
    ("GET", "/vehicles/{vehicle_id}"): "fleet:read",
    ("POST", "/vehicles/{vehicle_id}/disposal"): "fleet:write",
    ("GET", "/trips/{trip_id}"): "fleet:read",
    ("GET", "/reports/units"): "fleet:read",  # a unit viewer sees its own unit's row
    ("GET", "/reports/units.xlsx"): "fleet:read",
    ("GET", "/reports/bulletin"): "fleet:county",
    ("GET", "/reports/bulletin.xlsx"): "fleet:county",
    # --- property
    ("GET", "/properties/certificates"): "property:read",
    ("GET", "/properties/certificates.xlsx"): "property:read",
    ("GET", "/properties/office/{code}"): "property:read",
    ("GET", "/properties/operating"): "property:read",
    ("GET", "/properties/leases"): "property:read",
    ("GET", "/properties/auctions"): "property:county",
    # --- scheduler
    ("GET", "/runs"): "runs:read",
}
