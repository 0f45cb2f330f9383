"""`gongwu archive positions --before YYYY-MM [--to DIR]`: each whole month of positions older than that to
a Parquet file and out of the database (issue 26); `gongwu import positions FILE.parquet` brings one back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.i18n import tr
from gongwu.cli_base import app
from gongwu.output import Format, dumps

archive_app = typer.Typer(
    help="Archive old positions to Parquet files (one a month) and out of the database."
)
app.add_typer(archive_app, name="archive")


@archive_app.command("positions")
def positions_cmd(
    before: Annotated[str, typer.Option("--before", help="YYYY-MM: every whole month before it is archived")],
    to: Annotated[Path, typer.Option("--to", help="the folder of the files and their manifest")] = Path(
        "archive/positions"
    ),
    by: Annotated[str, typer.Option("--by", help="who archives, for the audit log")] = "cli",
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """Write each whole China month of positions before --before to DIR/positions-YYYY-MM.parquet (its
    SHA-256 in DIR/manifest.json), check the file, then remove the month from the database (on PostgreSQL
    its partition is detached and dropped). Trips, stops and flags stay. Running it again does nothing
    more; `gongwu import positions FILE.parquet` brings a month back."""
    from core.timeutil import china_day, utcnow
    from fleet import archive
    from gongwu import cli_db

    month = archive.parse_month(before)
    archive.check_before(month, china_day(utcnow()))
    archive.check_folder(to)
    with cli_db.session() as session:
        months = archive.months_to_archive(session.connection(), month)
    done = []
    for each in months:  # a transaction a month: the table is locked for one month at a time
        with cli_db.session() as session:
            done.append(archive.archive_month(session, each, to, by))
    data = [a.__dict__ for a in done]
    if fmt is Format.json:
        typer.echo(dumps({"before": archive.label(month), "archived": data}))
        return
    if not done:
        typer.echo(
            tr(
                f"{archive.label(month)} 之前没有可归档的定位",
                f"no positions to archive before {archive.label(month)}",
            )
        )
    for a in done:
        typer.echo(
            tr(f"{a.month}: {a.rows:,} 条定位 → {a.file}", f"{a.month}: {a.rows:,} positions → {a.file}")
        )
