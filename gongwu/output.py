"""Printing data the way a user asked for it: a rich table, JSON, CSV or an Excel file."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from core.errors import UsageError
from core.importing import plain
from core.timeutil import to_china


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    xlsx = "xlsx"


def _jsonable(value: Any) -> Any:
    """Times in China time, dates ISO, exact decimals as strings (as the audit log keeps them)."""
    if isinstance(value, datetime | date | Decimal):
        return plain(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=_jsonable)


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_china(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=_jsonable)
    return value


def emit(
    data: Any,
    rows: Sequence[dict[str, Any]],
    fmt: Format,
    *,
    title: str = "",
    columns: Sequence[str] | None = None,
    out: Path | None = None,
) -> None:
    """`data` is the JSON document; `rows` the flat records for table/csv/xlsx."""
    columns = list(columns or (rows[0].keys() if rows else []))
    if fmt is Format.json:
        _write(dumps(data) + "\n", out)
    elif fmt is Format.csv:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
        _write(buf.getvalue(), out)
    elif fmt is Format.xlsx:
        if out is None:
            raise UsageError("--format xlsx needs --out FILE.xlsx")
        write_xlsx(out, columns, rows, title=title)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title or None)
        for c in columns:
            table.add_column(c)
        for row in rows:
            table.add_row(*["" if row.get(c) is None else str(_cell(row.get(c))) for c in columns])
        Console(file=sys.stdout if out is None else io.StringIO()).print(table)


_SHEET_FORBIDDEN = str.maketrans({c: " " for c in "[]:*?/\\"})


def sheet_title(title: str) -> str:
    """A title Excel accepts as a sheet name: none of []:*?/\\, not blank, not quoted at either end,
    at most 31 characters. (The whole title goes into the sheet's first row where the writer has one.)"""
    name = " ".join((title or "").translate(_SHEET_FORBIDDEN).split()).strip("'")
    return (name or "gongwu")[:31].strip() or "gongwu"


def write_xlsx(
    path: Path, columns: Sequence[str], rows: Sequence[dict[str, Any]], *, title: str = ""
) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet_title(title)
    ws.append(list(columns))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append([_cell(row.get(c)) for c in columns])
    for i, c in enumerate(columns, start=1):
        width = max([len(str(c))] + [len(str(_cell(r.get(c)) or "")) for r in rows[:200]]) + 2
        ws.column_dimensions[get_column_letter(i)].width = min(width * 1.3, 60)
    wb.save(path)


def _write(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
