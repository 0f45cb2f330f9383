"""Printing data the way a user asked for it: a rich table, JSON, or a CSV or Excel file (written by
core/tabular.py, formula-safe)."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from core import tabular
from core.errors import UsageError
from core.importing import plain


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


def _shown(value: Any) -> str:
    """A value in a terminal table: as a cell, without the spreadsheet's formula guard."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return str(tabular.cell(value))


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
        _write(tabular.csv_text(columns, ([row.get(c) for c in columns] for row in rows)), out)
    elif fmt is Format.xlsx:
        if out is None:
            raise UsageError("--format xlsx needs --out FILE.xlsx")
        # the columns are the JSON keys scripts read: no title row above them
        tabular.write_xlsx(
            out, columns, [[row.get(c) for c in columns] for row in rows], title=title, banner=False
        )
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title or None)
        for c in columns:
            table.add_column(c)
        for row in rows:
            table.add_row(*[_shown(row.get(c)) for c in columns])
        Console(file=sys.stdout if out is None else io.StringIO()).print(table)


def _write(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
