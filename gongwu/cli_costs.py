"""`gongwu report costs` (what each car, unit and the county cost in a year, against another year),
`gongwu report disposals` (the cars in disposal, stage by stage) and `gongwu dispose` (one step of a car's
disposal) — issue 25."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer

from core.errors import UsageError
from core.i18n import tr
from gongwu import cli_report
from gongwu.cli_base import app
from gongwu.cli_report import FormatOpt, OutOpt, report_app
from gongwu.output import Format, dumps

COST_COLUMNS = [
    "unit", "cars", "fuel_fen", "maintenance_fen", "insurance_fen", "tolls_fen", "meals_fen", "other_fen",
    "total_fen", "km", "trips", "per_car_fen", "per_km_fen", "per_trip_fen",
]  # fmt: skip
DISPOSAL_COLUMNS = [
    "plate", "unit", "stage_label", "idle_since", "idle_proposed_on", "days_idle_proposed",
    "disposal_pending_on", "application_no", "days_disposal_pending", "disposal_approved_on", "approval_no",
    "days_disposal_approved", "disposed_on", "method", "income_yuan", "to_unit", "days_total",
]  # fmt: skip


SCREEN_COLUMNS = [
    "unit", "cars", "fuel", "maintenance", "insurance", "tolls", "meals", "other", "total", "per_car",
    "per_km",
]  # fmt: skip


def _on_screen(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row.get(k) for k in ("plate", "unit", "cars")}
    for key in ("fuel", "maintenance", "insurance", "tolls", "meals", "other", "total", "per_car"):
        out[key] = f"{row[key + '_fen'] / 100:,.0f}" if row.get(key + "_fen") is not None else ""
    out["per_km"] = f"{row['per_km_fen'] / 100:.2f}" if row.get("per_km_fen") is not None else ""
    return out


DISPOSAL_SCREEN = [
    "plate", "unit", "stage_label", "idle_since", "days_idle_proposed", "days_disposal_pending",
    "days_disposal_approved", "method", "days_total",
]  # fmt: skip


def _wan(fen: int) -> str:
    """¥ in 万 when large (the audit's '¥34万'), else in yuan."""
    return f"¥{fen / 1_000_000:.1f}万" if fen >= 1_000_000 else f"¥{fen / 100:,.2f}"


def change_line(data: dict[str, Any]) -> str:
    """The audit's line: 2022 年 31 辆 ¥34.0万 → 2023 年 32 辆 ¥49.1万 (+44.4%)."""
    c, old, new = data["change"]["county"], data["compare"]["year"], data["year"]
    pct = c["total_pct"]
    grew = "" if pct is None else f" ({pct:+.1f}%)"
    return tr(
        f"{old} 年 {c['cars_from']} 辆 {_wan(c['total_fen_from'])} → {new} 年 {c['cars_to']} 辆 "
        f"{_wan(c['total_fen_to'])}{grew}",
        f"{old}: {c['cars_from']} cars {_wan(c['total_fen_from'])} → {new}: {c['cars_to']} cars "
        f"{_wan(c['total_fen_to'])}{grew}",
    )


@report_app.command("costs")
def costs_report(
    year: Annotated[int, typer.Option("--year", min=2000, max=2100, help="YYYY")],
    compare: Annotated[
        int | None, typer.Option("--compare", min=2000, max=2100, help="the year to compare with")
    ] = None,
    vehicles: Annotated[bool, typer.Option("--vehicles", help="rows per car instead of per unit")] = False,
    fmt: FormatOpt = Format.table,
    out: OutOpt = None,
) -> None:
    """运行费用: per car, unit and county for a year — fuel, maintenance, insurance, tolls, meals, other (in
    fen), cost per car, per km and per trip; with --compare, the other year and the change. JSON: keys
    vehicles, units, county (and compare, change)."""
    from accounts.access import UnitScope
    from fleet import queries

    with cli_report.open_session() as session:
        data = queries.costs_report(session, year, UnitScope(), compare)
    table = cli_report.output_format(fmt, out) is Format.table
    if vehicles:
        rows = data["vehicles"]
        columns = ["plate", *COST_COLUMNS]
    else:
        rows = [*data["units"], {"unit": tr("全县", "county"), **data["county"]}]
        columns = COST_COLUMNS
    if compare is not None and table:
        typer.echo(change_line(data))
        typer.echo("")
    if table:  # whole yuan on the screen, fewer columns; the files and JSON keep every fen
        rows = [_on_screen(r) for r in rows]
        columns = (["plate"] if vehicles else []) + SCREEN_COLUMNS
    title = tr(f"运行费用 {year}", f"running costs {year}")
    cli_report.show(data, rows, fmt, out, title=title, columns=columns)


@report_app.command("disposals")
def disposals_report(fmt: FormatOpt = Format.table, out: OutOpt = None) -> None:
    """车辆处置: the cars judged idle (长期不出行) and those proposed, pending, approved or disposed, with the
    day and paper of each stage and the days spent in each (the current one up to today)."""
    from accounts.access import UnitScope
    from core.timeutil import china_day, utcnow
    from fleet import queries

    with cli_report.open_session() as session:
        rows = queries.disposals(session, UnitScope(), china_day(utcnow()))
    title = tr(f"车辆处置 ({len(rows)})", f"vehicle disposals ({len(rows)})")
    table = cli_report.output_format(fmt, out) is Format.table
    columns = DISPOSAL_SCREEN if table else DISPOSAL_COLUMNS
    cli_report.show({"vehicles": rows}, rows, fmt, out, title=title, columns=columns)


STAGES = "idle_proposed, disposal_pending, disposal_approved, disposed, in_service"


@app.command("dispose")
def dispose_cmd(
    plate: Annotated[str, typer.Argument(help="the car's plate, e.g. 晋M·A1234")],
    stage: Annotated[str, typer.Option("--stage", help=STAGES)],
    on: Annotated[
        date | None, typer.Option("--date", formats=["%Y-%m-%d"], help="the step's day (default: today)")
    ] = None,
    document_no: Annotated[str, typer.Option("--doc-no", help="申请文号 or 批复文号")] = "",
    method: Annotated[
        str | None, typer.Option("--method", help="disposed: 拍卖 auction, 报废 scrap, 调剂 transfer, 公物仓")
    ] = None,
    income: Annotated[str | None, typer.Option("--income", help="disposed: the income in yuan")] = None,
    to_unit: Annotated[str | None, typer.Option("--to-unit", help="transfer: the receiving unit")] = None,
    comment: Annotated[str, typer.Option(help="a note for the audit log")] = "",
    by: Annotated[str, typer.Option("--by", help="who records it, for the audit log")] = "cli",
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """One step of a car's disposal: idle_proposed → disposal_pending (--doc-no: the application to the
    finance bureau) → disposal_approved (--doc-no: 批复文号) → disposed (--method, --income, --to-unit for a
    transfer, which moves the car to that unit from --date); in_service withdraws the proposal."""
    from sqlmodel import select

    from core.errors import NotFound
    from fleet import service
    from fleet.models import Vehicle
    from gongwu import cli_db

    fen = None
    if income is not None:
        try:
            fen = int((Decimal(income.replace(",", "").strip()) * 100).to_integral_value())
        except InvalidOperation:
            raise UsageError(
                tr(f"--income {income}: 不是金额", f"--income {income}: not an amount")
            ) from None
    with cli_db.session() as session:
        car = session.exec(select(Vehicle).where(Vehicle.plate == plate.strip())).first()
        if car is None or car.id is None:
            raise NotFound(tr(f"车辆 {plate} 不存在", f"vehicle {plate} not found"))
        car = service.advance_disposal(
            session, car.id, by, stage=stage, on=on, document_no=document_no, method=method, income_fen=fen,
            to_unit=to_unit, comment=comment,
        )  # fmt: skip
        data = {"plate": car.plate, "status": car.status, "unit_id": car.unit_id, "stage": stage}
    if fmt is Format.json:
        typer.echo(dumps(data))
        return
    from core.labels import label_of
    from fleet.models import VehicleStatus

    typer.echo(
        tr(f"{car.plate}：{label_of(VehicleStatus, stage)}", f"{car.plate}: {label_of(VehicleStatus, stage)}")
    )
