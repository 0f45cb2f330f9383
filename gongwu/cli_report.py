"""`gongwu report KIND`: one sub-command per report. Each domain adds its own kinds to `report_app`
(property: certificates, auctions, operating, leases, rent-roll; fleet: units, expenses) from its own
command module, which gongwu/cli.py imports."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlmodel import Session

from core.errors import UsageError
from core.i18n import tr
from gongwu.cli_base import app
from gongwu.output import Format, emit

report_app = typer.Typer(
    help="Reports as a table, JSON, CSV or an Excel file: gongwu report KIND [--format F] [--out FILE].",
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")

FormatOpt = Annotated[
    Format, typer.Option("--format", help="table, json, csv or xlsx (default: table, or from --out's suffix)")
]
OutOpt = Annotated[Path | None, typer.Option("--out", help="write to this file instead of the screen")]


def open_session() -> AbstractContextManager[Session]:
    """One transaction for one command on the ready database (tests swap this for their own session)."""
    from gongwu import cli_db

    return cli_db.session()


def output_format(fmt: Format, out: Path | None) -> Format:
    """`--out report.xlsx` alone means xlsx; a table cannot be written to a file."""
    if out is None or fmt is not Format.table:
        return fmt
    suffix = out.suffix.lower().lstrip(".")
    if suffix in ("json", "csv", "xlsx"):
        return Format(suffix)
    raise UsageError(
        tr(
            f"--out {out}: 请用 --format json/csv/xlsx 或 .json/.csv/.xlsx 文件名",
            f"--out {out}: choose a format with --format json/csv/xlsx or a .json/.csv/.xlsx file name",
        )
    )


def show(
    data: Any,
    rows: Sequence[dict[str, Any]],
    fmt: Format,
    out: Path | None,
    *,
    title: str,
    columns: Sequence[str] | None = None,
) -> None:
    """Print a report. JSON is the API's JSON: exact yuan amounts (Decimal) become numbers, dates ISO."""
    from fastapi.encoders import jsonable_encoder

    fmt = output_format(fmt, out)
    emit(
        jsonable_encoder(data) if fmt is Format.json else data,
        rows,
        fmt,
        title=title,
        columns=columns,
        out=out,
    )
    if out is not None:
        typer.echo(tr(f"已写入 {out}", f"wrote {out}"), err=True)
