"""THE registry of import kinds: each declared once in its domain's `imports.py` (core/importing.py) and
listed here explicitly, in the order a county imports them. Adding a kind is one spec and one line."""

from __future__ import annotations

from collections.abc import Sequence

from accounts import imports as accounts_imports
from core.i18n import tr
from core.importing import ImportSpec
from fleet import imports as fleet_imports
from property import imports as property_imports

SPECS: dict[str, ImportSpec] = {
    spec.kind: spec
    for spec in (
        accounts_imports.UNITS,
        fleet_imports.VEHICLES,
        fleet_imports.DRIVERS,
        fleet_imports.ORDERS,
        fleet_imports.POSITIONS,
        fleet_imports.EXPENSES,
        fleet_imports.TRACKER_CHECKS,
        fleet_imports.TRACKER_ASSIGNMENTS,
        fleet_imports.PLACES,
        fleet_imports.FUEL,
        fleet_imports.MAINTENANCE,
        fleet_imports.INSURANCE,
        fleet_imports.INSPECTIONS,
        fleet_imports.COSTS,
        property_imports.OFFICE,
        property_imports.OPERATING,
        property_imports.AUCTIONS,
        property_imports.LEASES,
    )
}
KINDS: tuple[str, ...] = tuple(SPECS)
_ALIASES = {"shopfronts": "operating-properties", "shopfront": "operating-properties"}


def kind_name(kind: str) -> str:
    """A kind as typed (`operating_properties`, `Shopfronts`) → its name, or KeyError."""
    k = kind.strip().casefold().replace("_", "-")
    k = _ALIASES.get(k, k)
    if k not in SPECS:
        raise KeyError(
            tr(
                f"未知的导入类型 {kind!r} (可选 {', '.join(KINDS)})",
                f"unknown import kind {kind!r} (one of {', '.join(KINDS)})",
            )
        )
    return k


def get_kind(kind: str) -> ImportSpec:
    """The spec of a kind; `operating_properties` and `shopfronts` name the same one."""
    return SPECS[kind_name(kind)]


def better_kind(headers: Sequence[object], kind: str) -> tuple[ImportSpec, set[str]] | None:
    """Another kind these headers fit better than `kind`'s: all its required columns present and more
    of its columns given. A vehicles import of an orders file (which has 车牌号 and 单位 too) is refused
    with the kind it is, instead of creating vehicles from two of its columns."""
    mine = len(SPECS[kind].fields_in(headers))
    best: tuple[ImportSpec, set[str]] | None = None
    for other in SPECS.values():
        if other.kind == kind:
            continue
        given = other.fields_in(headers)
        if not all(c.name in given for c in other.required) or len(given) <= mine:
            continue
        if best is None or len(given) > len(best[1]):
            best = (other, given)
    return best
