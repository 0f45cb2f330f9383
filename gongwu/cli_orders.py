"""`gongwu orders list | approve | reject | dispatch | return`: the order life from the command line, as
the API has it. A decision is a user's (`--by`): their role and unit are checked as on the pages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

import typer
from sqlmodel import Session, col, select

from core.errors import UsageError
from core.i18n import tr
from core.timeutil import fmt_china
from gongwu.cli_base import app
from gongwu.output import Format, emit

orders_app = typer.Typer(
    help="Orders: list them by what they wait for, decide, dispatch, return.", no_args_is_help=True
)
app.add_typer(orders_app, name="orders")

AWAITING = ("unit", "center", "dispatch")


@contextmanager
def _session() -> Iterator[Session]:
    from core.db import unit_of_work
    from gongwu import cli_db

    with unit_of_work(cli_db.database()) as session:
        yield session


def _row(session: Session, order: Any, approvals: list[Any] | None = None) -> dict[str, Any]:
    from core.models import Unit
    from fleet import rules, service
    from fleet.models import Vehicle

    level = service.pending_level(session, order, approvals)
    waits = rules.awaiting(order.status, level, order.late_for_flag_id is not None)
    vehicle = session.get(Vehicle, order.vehicle_id) if order.vehicle_id is not None else None
    unit = session.get(Unit, order.unit_id)
    return {
        "id": order.id,
        "order_no": order.order_no,
        "unit": unit.name if unit else "",
        "plate": vehicle.plate if vehicle else "",
        "planned_start": fmt_china(order.planned_start_at),
        "planned_end": fmt_china(order.planned_end_at),
        "status": order.status,
        "awaiting": waits or "",
        "requested_by": order.requested_by,
        "driver": order.driver,
    }


@orders_app.command("list")
def list_cmd(
    status: Annotated[
        str | None, typer.Option(help="submitted, approved, dispatched, returned, rejected, cancelled")
    ] = None,
    unit: Annotated[str | None, typer.Option(help="the unit (name or id)")] = None,
    awaiting: Annotated[
        str | None, typer.Option(help="unit | center | dispatch: whom the order waits for")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table | json | csv | xlsx")] = Format.table,
) -> None:
    """Orders, newest first (at most 500), with whom each waits for."""
    from accounts.service import resolve_unit
    from fleet import service
    from fleet.models import ORDER_STATUSES, TripOrder

    if status and status not in ORDER_STATUSES:
        raise UsageError(
            tr(
                f"--status {status}：可选 {', '.join(ORDER_STATUSES)}",
                f"--status {status}: one of {', '.join(ORDER_STATUSES)}",
            )
        )
    if awaiting and awaiting not in AWAITING:
        raise UsageError(
            tr(
                f"--awaiting {awaiting}：可选 {', '.join(AWAITING)}",
                f"--awaiting {awaiting}: one of {', '.join(AWAITING)}",
            )
        )
    with _session() as session:
        stmt = select(TripOrder).order_by(col(TripOrder.planned_start_at).desc()).limit(500)
        if status:
            stmt = stmt.where(TripOrder.status == status)
        if awaiting:
            stmt = stmt.where(TripOrder.status == ("approved" if awaiting == "dispatch" else "submitted"))
            if awaiting == "dispatch":
                stmt = stmt.where(col(TripOrder.late_for_flag_id).is_(None))
        if unit:
            stmt = stmt.where(TripOrder.unit_id == resolve_unit(session, unit))
        orders = session.exec(stmt).all()
        decided = service.approvals_by_order(session, [o.id or 0 for o in orders])
        rows = [_row(session, o, decided[o.id or 0]) for o in orders]
    if awaiting:
        rows = [r for r in rows if r["awaiting"] == awaiting]
    emit({"orders": rows, "count": len(rows)}, rows, fmt, title="orders")


def _user(session: Session, username: str) -> Any:
    from accounts.service import get_user

    return get_user(session, username)


def _decide(order_id: int, by: str, decision: str, comment: str) -> None:
    from fleet import service

    with _session() as session:
        user = _user(session, by)
        order = service.decide_order(
            session, order_id, decision, actor=user.username, role=user.role, unit_id=user.unit_id,
            comment=comment,
        )  # fmt: skip
        row = _row(session, order)
    typer.echo(
        tr(f"{row['order_no']}：{row['status']}", f"{row['order_no']}: {row['status']}")
        + (f" → {row['awaiting']}" if row["awaiting"] else "")
    )


By = Annotated[
    str, typer.Option("--by", help="the user whose decision it is (their role and unit are checked)")
]
Comment = Annotated[str, typer.Option(help="the decision's comment")]


@orders_app.command("approve")
def approve_cmd(order_id: int, by: By, comment: Comment = "") -> None:
    """Approve the level an order waits for (1: the unit's approver, 2: the center)."""
    _decide(order_id, by, "approved", comment)


@orders_app.command("reject")
def reject_cmd(order_id: int, by: By, comment: Comment = "") -> None:
    """Reject an order at the level it waits for."""
    _decide(order_id, by, "rejected", comment)


@orders_app.command("dispatch")
def dispatch_cmd(
    order_id: int,
    driver: Annotated[int, typer.Option(help="the driver's id (GET /api/v1/drivers)")],
    vehicle: Annotated[str | None, typer.Option(help="another car than the order names (plate)")] = None,
) -> None:
    """Send an approved order out with its car and driver."""
    from fleet import service
    from fleet.models import Vehicle
    from gongwu.cli_users import cli_actor

    with _session() as session:
        vehicle_id = None
        if vehicle:
            found = session.exec(select(Vehicle).where(Vehicle.plate == vehicle)).first()
            if found is None:
                raise UsageError(tr(f"--vehicle {vehicle}：没有这辆车", f"--vehicle {vehicle}: no such car"))
            vehicle_id = found.id
        order = service.dispatch_order(
            session, order_id, driver_id=driver, vehicle_id=vehicle_id, actor=cli_actor()
        )
        row = _row(session, order)
    typer.echo(f"{row['order_no']}: {row['status']} ({row['plate']}, {row['driver']})")


def _fen(option: str, yuan: str | None) -> int | None:
    from core import normalize as n

    if yuan is None:
        return None
    try:
        return n.money_fen(yuan)
    except n.FieldError as e:
        raise UsageError(f"{option} {yuan}: {e}") from None


@orders_app.command("return")
def return_cmd(
    order_id: int,
    at: Annotated[datetime, typer.Option("--at", help="the actual return, China time (2024-06-04 12:20)")],
    odometer_km: Annotated[int | None, typer.Option(help="km the odometer counted")] = None,
    tolls: Annotated[str | None, typer.Option(help=tr("过路费, 元", "tolls, in yuan"))] = None,
    fuel: Annotated[str | None, typer.Option(help=tr("燃油费, 元", "fuel, in yuan"))] = None,
    meal: Annotated[str | None, typer.Option(help=tr("伙食补助, 元", "meal allowance, in yuan"))] = None,
    other: Annotated[str | None, typer.Option(help=tr("其他, 元", "other costs, in yuan"))] = None,
) -> None:
    """Record a dispatched order's return and its expenses (they fill the order's expense sheet)."""
    from fleet import service
    from gongwu.cli_users import cli_actor

    money = {
        "tolls_fen": _fen("--tolls", tolls), "fuel_fen": _fen("--fuel", fuel),
        "meal_allowance_fen": _fen("--meal", meal), "other_fen": _fen("--other", other),
    }  # fmt: skip
    with _session() as session:
        order = service.return_order(
            session, order_id, returned_at=at, odometer_km=odometer_km, expenses=money, actor=cli_actor()
        )
        row = _row(session, order)
    typer.echo(f"{row['order_no']}: {row['status']}")
