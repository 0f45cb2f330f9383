"""`gongwu import KIND FILE` and `gongwu template KIND`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from core.errors import UsageError
from gongwu.cli_base import app
from gongwu.output import Format, dumps

LISTED = 50  # bad rows listed on a terminal before "... and N more"


@app.command("import")
def import_(
    kind: Annotated[
        str,
        typer.Argument(
            help="units, vehicles, drivers, orders, positions, expenses, tracker-checks, "
            "tracker-assignments, properties, operating-properties (shopfronts), auctions, leases; "
            "service-area (a GeoJSON polygon)"
        ),
    ],
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV (UTF-8/GBK, comma or tab) or XLSX", exists=True, dir_okay=False, readable=True
        ),
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check everything, commit nothing")] = False,
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="commit the good rows, write the bad ones to the reject file")
    ] = False,
    reject_file: Annotated[
        Path | None, typer.Option(help="where --skip-bad writes bad rows (default FILE.rejects.csv)")
    ] = None,
    sheet: Annotated[
        str | None, typer.Option(help="XLSX sheet name or 1-based number (default: first)")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
    coord_system: Annotated[
        str,
        typer.Option(
            "--coord-system",
            help="positions: the file's datum, wgs84 | gcj02 (AMap, Tencent) | bd09 (Baidu); stored WGS-84",
        ),
    ] = "wgs84",
) -> None:
    """Import a register or a positions export. All-or-nothing unless --skip-bad; re-importing the same
    file changes nothing. Exit code 1 when a bad row stopped it (nothing changed), 3 when --skip-bad
    committed the good rows and rejected some."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from core.db import unit_of_work
    from gongwu import cli_db
    from gongwu.cli_users import cli_actor
    from ingest.kinds import kind_name
    from scheduler.imports import import_file

    if kind.strip().casefold().replace("_", "-") == "service-area":  # GeoJSON, not a table
        from gongwu.cli_rules import import_service_area

        import_service_area(file, coord_system, fmt)
        return
    try:
        kind = kind_name(kind)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None
    engine = cli_db.database()
    show = fmt is Format.table and sys.stderr.isatty()
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TimeRemainingColumn(),
        disable=not show,
        transient=True,
    ) as bar:
        task = bar.add_task(f"导入 {file.name}", total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        with unit_of_work(engine) as session:
            report = import_file(
                session,
                kind,
                file,
                dry_run=dry_run,
                skip_bad=skip_bad,
                reject_file=reject_file,
                sheet=sheet,  # a name or its 1-based number, as the reader takes it
                coord_system=coord_system,
                progress=progress,
                actor=cli_actor(),
            )
    if fmt is Format.json:
        typer.echo(dumps(report.to_json()))
    else:
        _print_summary(report, dry_run)
    if report.errors:  # README's exit codes: 3 when --skip-bad committed the good rows, else 1
        raise typer.Exit(3 if report.committed and not dry_run else 1)


def _print_summary(report: object, dry_run: bool) -> None:
    from core.i18n import tr
    from ingest.importer import ImportReport

    assert isinstance(report, ImportReport)
    if report.ignored_columns:
        shown = ", ".join(report.ignored_columns)
        typer.echo(
            tr(f"{report.file}：忽略了不认识的列 {shown}", f"{report.file}: ignored unknown columns {shown}"),
            err=True,
        )
    for e in report.errors[:LISTED]:
        typer.echo(f"{report.file}: {e}", err=True)
    if report.plate_mismatches:
        for w in report.warnings[:LISTED]:
            typer.echo(f"{report.file}: {w}", err=True)
        n = report.plate_mismatches
        typer.echo(
            tr(f"注意：{n} 行的车牌与终端登记不符，已按终端计入", f"warning: {n} rows name another plate than"
               " their tracker's: kept as the tracker's"),
            err=True,
        )  # fmt: skip
    if len(report.errors) > LISTED:
        more = len(report.errors) - LISTED
        typer.echo(tr(f"... 另有 {more} 行有错", f"... and {more} more bad rows"), err=True)
    verdict = (
        tr("试运行，未提交", "dry run, nothing committed")
        if dry_run
        else tr("已提交", "committed")
        if report.committed
        else tr(
            "未提交任何数据：请修正以上各行，或使用 --skip-bad",
            "NOTHING committed: fix the rows above, or use --skip-bad",
        )
    )
    dropped = ", ".join(f"{k} {v}" for k, v in sorted(report.dropped.items())) or "0"
    r = report
    typer.echo(
        tr(
            f"{r.kind}: 读取 {r.read}, 新增 {r.inserted}, 更新 {r.updated}, 未变 {r.unchanged}, "
            f"拒绝 {r.rejected}, 舍弃 {dropped} — {verdict}",
            f"{r.kind}: read {r.read}, inserted {r.inserted}, updated {r.updated}, "
            f"unchanged {r.unchanged}, rejected {r.rejected}, dropped {dropped} — {verdict}",
        )
    )
    for change in report.changes[:20]:
        typer.echo(tr(f"  已更改: {change}", f"  changed: {change}"))
    if report.reject_file:
        typer.echo(tr(f"有错的行已写入 {report.reject_file}", f"bad rows written to {report.reject_file}"))


@app.command()
def template(
    kind: Annotated[str, typer.Argument(help="import kind, e.g. vehicles")],
    out: Annotated[Path | None, typer.Option(help="file to write (default: KIND模板.xlsx)")] = None,
) -> None:
    """Write the XLSX import template of a kind: Chinese headers, an example row, a sheet of notes."""
    from ingest.kinds import get_kind
    from ingest.templates import template_xlsx

    try:
        t = get_kind(kind)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None
    path = out or Path(f"{t.title}模板.xlsx")
    path.write_bytes(template_xlsx(t.kind))
    typer.echo(f"template for {t.kind} written to {path}")
