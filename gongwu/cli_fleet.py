"""`gongwu reconcile`, `gongwu flags`, `gongwu review-flags` and the fleet reports `gongwu report units |
bulletin | expenses`. The JSON is the issue's shape; table, CSV and XLSX list the rows behind it."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from core.errors import GongwuError, UsageError
from core.i18n import tr
from core.timeutil import china_day, utcnow
from gongwu import cli_report
from gongwu.cli_base import app
from gongwu.cli_report import FormatOpt, OutOpt, report_app
from gongwu.output import Format, dumps, emit

DAY = ["%Y-%m-%d"]


def _yesterday() -> date:
    return china_day(utcnow()) - timedelta(days=1)


@app.command("reconcile")
def reconcile_cmd(
    date_: Annotated[
        date | None, typer.Option("--date", formats=DAY, help="reconcile this China day")
    ] = None,
    since: Annotated[date | None, typer.Option(formats=DAY, help="first day to reconcile")] = None,
    until: Annotated[date | None, typer.Option(formats=DAY, help="last day (default: yesterday)")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """Cut any pending position ranges, then match trips with approved orders and raise or resolve flags
    for each day (idle vehicles and silent trackers are judged as of the last day). Default: yesterday.
    Running the same days again changes nothing."""
    from gongwu import cli_db
    from scheduler import pipeline

    if date_ and (since or until):
        raise UsageError(
            tr("--date 不能与 --since/--until 同用", "--date cannot be combined with --since/--until")
        )
    if date_:
        since = until = date_
    until = until or _yesterday()
    since = since or until
    if since > until:
        raise UsageError(
            tr(f"--since {since} 晚于 --until {until}", f"--since {since} is after --until {until}")
        )
    outcome = pipeline.run_reconcile(cli_db.database(), since, until)
    if outcome.status != "succeeded":
        raise GongwuError(outcome.error)
    # The run's counts without their step's prefix: reconcile.raised → raised, cut.trips_added → trips_added.
    counts = {k.split(".", 1)[1]: v for k, v in outcome.counts.items()}
    data = {"since": f"{since}", "until": f"{until}", "run_id": outcome.run_id, "counts": counts}
    if fmt is Format.json:
        typer.echo(dumps(data))
        return
    typer.echo(tr(f"对账 {since}..{until}", f"reconciled {since}..{until}"))
    for key in ("trips", "covered", "raised", "resolved", "reopened"):
        typer.echo(f"  {key}: {counts.get(key, 0)}")
    for key, value in sorted(counts.items()):
        if value and key.endswith(("_raised", "_resolved")):
            typer.echo(f"  {key}: {value}")


FLAG_COLUMNS = ["id", "kind", "plate", "unit", "start_at", "end_at", "trip_km", "order_no", "status"]
FLAG_KEYS = ["id", "kind", "vehicle", "plate", "unit", "start_at", "end_at", "trip_km", "order_no", "status"]


@app.command("flags")
def flags_cmd(
    kind: Annotated[
        str | None,
        typer.Option(help="unreported_trip | order_without_track | idle_vehicle | silent_tracker"),
    ] = None,
    unit: Annotated[str | None, typer.Option(help="unit name or id")] = None,
    status: Annotated[
        str | None,
        typer.Option(help="open | resolved (not reviewed), violation | explained | false_alarm, unreviewed"),
    ] = None,
    date_from: Annotated[date | None, typer.Option("--from", formats=DAY, help="first China day")] = None,
    date_to: Annotated[date | None, typer.Option("--to", formats=DAY, help="last China day")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="at most this many (newest first)")] = None,
    fmt: FormatOpt = Format.table,
    out: OutOpt = None,
) -> None:
    """The flag queue (预警), newest first. `status` is the review if reviewed, else open/resolved."""
    from fleet import queries

    f = queries.FlagFilter(kind=kind, unit=unit, status=status, date_from=date_from, date_to=date_to)
    with cli_report.open_session() as session:
        rows, total = queries.flag_rows(session, f, limit=limit)
    flags = [{k: r[k] for k in FLAG_KEYS} | {"detail": r["detail"]} for r in rows]
    fmt = cli_report.output_format(fmt, out)
    columns = FLAG_COLUMNS if fmt is Format.table else [*FLAG_KEYS, "detail"]
    # dumps (not the API encoder): times read in China time, +08:00.
    emit(
        {"flags": flags, "total": total},
        flags,
        fmt,
        title=tr(f"预警 ({total})", f"flags ({total})"),
        columns=columns,
        out=out,
    )
    if out is not None:
        typer.echo(tr(f"已写入 {out}", f"wrote {out}"), err=True)


@app.command("stops")
def stops_cmd(
    plate: Annotated[str, typer.Argument(help="the car's plate, e.g. 晋M·A1234")],
    date_: Annotated[
        date | None, typer.Option("--date", formats=DAY, help="the China day (default: yesterday)")
    ] = None,
    fmt: FormatOpt = Format.table,
    out: OutOpt = None,
) -> None:
    """A car's stops of a day, each named by its place (地名库): 东坡村, or 东坡村 东北 1.2 km."""
    from sqlmodel import col, select

    from core.errors import NotFound
    from core.timeutil import day_bounds, fmt_china
    from fleet.models import Stop, Vehicle
    from fleet.places import describe

    day = date_ or _yesterday()
    start, end = day_bounds(day)
    with cli_report.open_session() as session:
        car = session.exec(select(Vehicle).where(Vehicle.plate == plate.strip())).first()
        if car is None:
            raise NotFound(tr(f"车辆 {plate} 不存在", f"vehicle {plate} not found"))
        found = session.exec(
            select(Stop)
            .where(Stop.vehicle_id == car.id, col(Stop.start_at) < end, col(Stop.end_at) >= start)
            .order_by(col(Stop.start_at))
        ).all()
    rows = [
        {
            "start": fmt_china(s.start_at), "end": fmt_china(s.end_at), "minutes": s.duration_s // 60,
            "place": describe(s.place_name, s.place_m, s.place_bearing, s.place_inside),
            "place_kind": s.place_kind or "", "lat": round(s.lat, 6), "lon": round(s.lon, 6),
        }
        for s in found
    ]  # fmt: skip
    data = {"plate": car.plate, "date": day.isoformat(), "stops": rows}
    emit(
        data, rows, cli_report.output_format(fmt, out),
        title=tr(f"{car.plate} {day} 的停留 ({len(rows)})", f"stops of {car.plate} on {day} ({len(rows)})"),
        columns=["start", "end", "minutes", "place", "place_kind", "lat", "lon"], out=out,
    )  # fmt: skip


@app.command("review-flags")
def review_flags_cmd(
    flag_ids: Annotated[list[int], typer.Argument(help="flag ids")],
    status: Annotated[str, typer.Option(help="violation | explained | false_alarm, or open to reset")],
    comment: Annotated[str, typer.Option(help="the manager's comment")] = "",
    by: Annotated[str, typer.Option("--by", help="reviewer, for the audit log")] = "cli",
) -> None:
    """Review flags (all or nothing); every change goes to the audit log."""
    from fleet import flags

    with cli_report.open_session() as session:
        done = flags.review_flags(session, flag_ids, status, comment, by)
        typer.echo(", ".join(f"#{f.id} {f.kind}: {f.review_status or f.state}" for f in done))


def _month(value: str) -> str:
    from fleet.queries import parse_month

    return f"{parse_month(value):%Y-%m}"


MonthOpt = Annotated[str, typer.Option("--month", help="YYYY-MM", callback=_month)]


def _rate(row: dict[str, Any]) -> dict[str, Any]:
    rate = row["reporting_rate"]
    return {**row, "reporting_rate": "" if rate is None else f"{rate:.2%}"}


UNIT_COLUMNS = [
    "unit",
    "vehicles",
    "trips",
    "km",
    "covered_trips",
    "late_reported_trips",
    "unreported_trips",
    "reporting_rate",
    "idle_vehicles",
    "silent_trackers",
    "untracked_vehicles",
    "expenses_yuan",
]
# the compliance rules per unit (CSV and XLSX; the terminal table stays narrow)
COMPLIANCE_COLUMNS = [
    *(f"{tag}_{what}" for tag in ("rest_day", "off_hours", "out_of_area", "overspeed")
      for what in ("trips", "unreported")),
    "nights_away",
]  # fmt: skip


def _unit_columns(fmt: Format, out: Path | None) -> list[str]:
    table = cli_report.output_format(fmt, out) is Format.table
    return UNIT_COLUMNS if table else UNIT_COLUMNS[:-1] + COMPLIANCE_COLUMNS + UNIT_COLUMNS[-1:]


@report_app.command("units")
def units_report(month: MonthOpt, fmt: FormatOpt = Format.table, out: OutOpt = None) -> None:
    """单位报备情况: per unit, vehicles, trips, km, covered and unreported trips, reporting rate, idle
    vehicles, silent trackers and expenses of the month."""
    from fleet import queries

    with cli_report.open_session() as session:
        data = queries.unit_report(session, month)
    rows = (
        [_rate(u) for u in data["units"]]
        if cli_report.output_format(fmt, out) is Format.table
        else data["units"]
    )
    title = f"单位报备情况 {data['month']}"
    cli_report.show(data, rows, fmt, out, title=title, columns=_unit_columns(fmt, out))


@report_app.command("bulletin")
def bulletin_report(
    month: MonthOpt,
    threshold: Annotated[
        float | None, typer.Option(min=0, max=1, help="reporting rate under which a unit is listed (0.9)")
    ] = None,
    fmt: FormatOpt = Format.table,
    out: OutOpt = None,
) -> None:
    """通报: the units whose reporting rate is under the threshold, worst first."""
    from fleet import queries

    with cli_report.open_session() as session:
        data = queries.bulletin(session, month, threshold)
    rows = (
        [_rate(u) for u in data["units"]]
        if cli_report.output_format(fmt, out) is Format.table
        else data["units"]
    )
    title = f"通报 {data['month']}: 报备率低于 {data['threshold']:.0%} 的单位 {len(rows)} 个"
    if cli_report.output_format(fmt, out) is Format.table and data["high_risk"]:
        typer.echo(f"高风险未报备行程 (节假日/非工作时间/出县) {data['month']}:")
        for u in data["high_risk"]:
            typer.echo(f"  {u['unit']}: {u['count']}")
            for trip in u["trips"][:5]:
                typer.echo(
                    f"    {trip['plate']} {trip['start_at'][:16]} {trip['km']} km {'/'.join(trip['tags'])}"
                )
        typer.echo("")
    cli_report.show(data, rows, fmt, out, title=title, columns=_unit_columns(fmt, out))


@report_app.command("expenses")
def expenses_report(
    year: Annotated[int, typer.Option("--year", help="YYYY")],
    vehicles: Annotated[
        bool,
        typer.Option("--vehicles", help="rows per vehicle (operating cost, cost per km) instead of orders"),
    ] = False,
    fmt: FormatOpt = Format.table,
    out: OutOpt = None,
) -> None:
    """出行费用单: one row per order (track km, tolls, meal allowance, fuel, other, total); with --vehicles
    单车核算, the operating cost and cost per km of each vehicle. JSON holds both."""
    from fleet import queries

    with cli_report.open_session() as session:
        data = queries.expense_sheet(session, year)
    if vehicles:
        rows, title = data["vehicles"], f"单车核算 {year}"
    else:
        rows, title = data["orders"], f"出行费用单 {year}"
    columns = list(rows[0]) if rows else None
    cli_report.show(data, rows, fmt, out, title=title, columns=columns)


TRACKER_COLUMNS = [
    "plate", "unit", "device_id", "last_fix_at", "last_check_on", "last_check_result", "due_on", "state",
    "silent_since", "replaced_on",
]  # fmt: skip


@report_app.command("trackers")
def trackers_report(fmt: FormatOpt = Format.table, out: OutOpt = None) -> None:
    """终端检修: per tracker, last fix, last check (检修) and its result, when the next is due
    (GONGWU_TRACKER_CHECK_MONTHS after the last, or after the car's acquisition), overdue first, silent
    since, replacements. Checks come from `gongwu import tracker-checks FILE`."""
    from core.timeutil import china_day, fmt_china, utcnow
    from fleet import queries

    with cli_report.open_session() as session:
        rows = queries.tracker_report(session, china_day(utcnow()))
    shown = rows
    if cli_report.output_format(fmt, out) is Format.table:
        shown = [
            {
                **r,
                "last_fix_at": fmt_china(r["last_fix_at"]) if r["last_fix_at"] else "",
                "silent_since": fmt_china(r["silent_since"]) if r["silent_since"] else "",
                "replaced_on": ", ".join(d.isoformat() for d in r["replaced_on"]),
            }
            for r in rows
        ]
    overdue = sum(1 for r in rows if r["state"] == "overdue")
    cli_report.show(
        {"trackers": rows},
        shown,
        fmt,
        out,
        title=f"终端检修 {len(rows)} 台，逾期 {overdue} 台",
        columns=TRACKER_COLUMNS,
    )
