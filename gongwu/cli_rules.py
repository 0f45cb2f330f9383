"""`gongwu rules show|set` (the compliance rules' numbers), `gongwu calendar add|show` (the center's own rest
and working days over the State Council's calendar) and `gongwu import service-area FILE.geojson`."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from core.i18n import tr
from gongwu.cli_base import app
from gongwu.output import Format, emit

rules_app = typer.Typer(help="The compliance rules: night window, overspeed, out of area, nights away.")
app.add_typer(rules_app, name="rules")
calendar_app = typer.Typer(
    help=tr(
        "休息日: 国务院节假日安排 (含调休) 和本中心自定的休息日。",
        "Rest days: the State Council's calendar (make-up working days included) and the center's own.",
    )
)
app.add_typer(calendar_app, name="calendar")

DAY = ["%Y-%m-%d"]


@rules_app.command("show")
def rules_show(
    fmt: Annotated[Format, typer.Option("--format", help="table, json, csv or xlsx")] = Format.table,
) -> None:
    """Every rule with its value, its default and what it means."""
    from fleet import tags
    from gongwu import cli_db

    with cli_db.session() as session:
        rows = tags.rules_table(session)
    emit({"rules": rows}, rows, fmt, title=tr("合规规则", "compliance rules"))


@rules_app.command("set")
def rules_set(
    key: Annotated[str, typer.Argument(help="a rule, as `gongwu rules show` lists them")],
    value: Annotated[str, typer.Argument(help="its new value (20:00 for a time, a number otherwise)")],
) -> None:
    """Set a rule (audit-logged); the next nightly run, or `gongwu reconcile --since D`, re-evaluates the
    trips with it."""
    from fleet import tags
    from gongwu import cli_db
    from gongwu.cli_users import cli_actor

    with cli_db.session() as session:
        before, after = tags.set_rule(session, key, value, actor=cli_actor())
    typer.echo(f"{key}: {before} → {after}")


@calendar_app.command("add")
def calendar_add(
    day: Annotated[date, typer.Argument(formats=DAY, help="the date, YYYY-MM-DD")],
    rest: Annotated[bool | None, typer.Option("--rest/--work", help="a rest day, or a working day")] = None,
    note: Annotated[str, typer.Option(help="why (for the audit log and the calendar)")] = "",
) -> None:
    """Record a local rest day (--rest) or working day (--work) over the State Council's calendar."""
    from core.errors import UsageError
    from fleet import tags
    from gongwu import cli_db
    from gongwu.cli_users import cli_actor

    if rest is None:
        raise UsageError(tr("请指定 --rest 或 --work", "say --rest or --work"))
    with cli_db.session() as session:
        tags.set_day(session, day, rest, note, actor=cli_actor())
    typer.echo(
        tr(
            f"{day} 设为{'休息日' if rest else '工作日'}",
            f"{day} is now a {'rest' if rest else 'working'} day",
        )
    )


@calendar_app.command("show")
def calendar_show(
    year: Annotated[int, typer.Option(help="the year (default: this one)")] = 0,
    fmt: Annotated[Format, typer.Option("--format", help="table, json, csv or xlsx")] = Format.table,
) -> None:
    """The year's rest days that are not weekends and its weekends that are working days (调休上班)."""
    from core.timeutil import china_day, utcnow
    from fleet import compliance, tags
    from gongwu import cli_db

    year = year or china_day(utcnow()).year
    with cli_db.session() as session:
        rows = tags.calendar(session, year)
    data = {"year": year, "known": year in compliance.calendar_years(), "days": rows}
    title = tr(f"{year} 年节假日与调休", f"{year}: holidays and make-up working days")
    if not data["known"]:
        title += tr("（国务院安排未知：仅周末）", " (State Council calendar unknown: weekends only)")
    emit(data, rows, fmt, title=title)


def import_service_area(file: Path, coord_system: str, fmt: Format) -> None:
    """`gongwu import service-area FILE.geojson`: the county's boundary, replacing the one before."""
    from fleet import tags
    from gongwu import cli_db
    from gongwu.cli_users import cli_actor
    from gongwu.output import dumps

    text = file.read_text(encoding="utf-8-sig")
    with cli_db.session() as session:
        result = tags.import_service_area(
            session, text, name=file.stem, coord_system=coord_system, actor=cli_actor()
        )
    if fmt is Format.json:
        typer.echo(dumps(result))
    else:
        name, km2 = result["name"], result["km2"]
        typer.echo(
            tr(
                f"服务区域 {name}：{km2} 平方公里，已启用出县规则",
                f"service area {name}: {km2} km², out-of-area on",
            )
        )
