"""The contract between the import pipeline (ingest/) and the domains that own the tables.

ingest/ reads a file, normalises each cell and hands the good rows of one KIND to the domain's applier:

    def apply_KIND(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult

An applier checks the rules of its kind (unknown references, conflicting duplicates, certificate without
prerequisites, ...) and upserts by natural key. It reports every broken rule as a `RowIssue` naming the
line and field, and counts inserted / updated / unchanged. It never commits: the pipeline runs it in a
savepoint and keeps or rolls back the whole (all-or-nothing by default; `--skip-bad` drops the bad lines
and applies the rest again).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session


@dataclass(frozen=True)
class Row:
    line: int  # physical line (CSV) or row number (XLSX) in the file
    values: dict[str, Any]  # template field name -> normalised value (None when the cell is empty)


@dataclass(frozen=True)
class RowIssue:
    line: int
    field: str  # template field name; "" when the row as a whole is at fault
    reason: str


@dataclass
class ApplyResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    issues: list[RowIssue] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)  # "晋M·A1234: status 在用 → 闲置", for the summary
    dropped: dict[str, int] = field(default_factory=dict)  # positions: implausible fixes by reason

    def issue(self, row: Row, field_name: str, reason: str) -> None:
        self.issues.append(RowIssue(row.line, field_name, reason))


Applier = Callable[[Session, Sequence[Row], str], ApplyResult]


def diff(obj: Any, values: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Fields whose value would change, as {field: (before, after)}."""
    return {k: (getattr(obj, k), v) for k, v in values.items() if getattr(obj, k) != v}
