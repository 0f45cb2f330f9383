"""`gongwu trackers assign` and `gongwu trackers history`: which car held which tracker when (终端安装记录).
A change re-cuts the trips of the span it touches and re-reconciles the days already reconciled, in the
same transaction."""

from __future__ import annotations

from typing import Annotated

import typer

from core.i18n import tr
from core.timeutil import fmt_china
from gongwu.cli_base import app
from gongwu.cli_feeds import _when
from gongwu.output import Format, dumps, emit

trackers_app = typer.Typer(help="Tracker ↔ vehicle history: install, move, remove, look up.")
app.add_typer(trackers_app, name="trackers")

HISTORY_COLUMNS = ["device_id", "plate", "installed_at", "removed_at", "implicit", "current"]


@trackers_app.command("assign")
def assign_cmd(
    device: Annotated[str, typer.Argument(help=tr("终端号", "tracker id"))],
    plate: Annotated[str, typer.Argument(help=tr("装入的车辆 (车牌号)", "the car it went into (its plate)"))],
    from_: Annotated[
        str, typer.Option("--from", help="installed at, China time unless a zone is given (2026-06-01 12:00)")
    ],
    to: Annotated[str | None, typer.Option("--to", help="removed at (default: still installed)")] = None,
    note: Annotated[str, typer.Option(help="a note for the history")] = "",
    by: Annotated[str, typer.Option("--by", help="who records it, for the audit log")] = "cli",
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """Record that DEVICE went into PLATE at --from (and came out at --to). An open assignment of the same
    tracker or the same car is closed at --from (a move); the same installation again corrects its times;
    any other overlap is refused naming both. Trips of the span it touches are re-cut at once."""
    from fleet import trackers
    from gongwu import cli_db
    from scheduler import pipeline

    start = _when(from_, "--from")
    end = _when(to, "--to")
    assert start is not None
    with cli_db.session() as session:
        vehicle = trackers.vehicle_or_404(session, plate)
        row, _spans = trackers.assign(session, device, vehicle, start, end, actor=by, note=note)
        outcome = pipeline.after_tracker_change(session)
        counts = {k.split(".", 1)[1]: v for k, v in outcome.counts.items()}
        data = {
            "assignment_id": row.id,
            "device_id": row.device_id,
            "plate": vehicle.plate,
            "installed_at": row.installed_at.isoformat() if row.installed_at else None,
            "removed_at": row.removed_at.isoformat() if row.removed_at else None,
            "run_id": outcome.run_id,
            "counts": counts,
        }
    if fmt is Format.json:
        typer.echo(dumps(data))
        return
    until = fmt_china(end) if end else tr("至今", "now")
    added, removed = counts.get("trips_added", 0), counts.get("trips_removed", 0)
    days = counts.get("days_reconciled", 0)
    typer.echo(tr(f"终端 {device} → {data['plate']}：{fmt_china(start)} — {until}",
                  f"tracker {device} → {data['plate']}: {fmt_china(start)} – {until}"))  # fmt: skip
    typer.echo(tr(f"  重切行程：新增 {added}，删除 {removed}；重新对账 {days} 天",
                  f"  trips re-cut: {added} added, {removed} removed; {days} days rechecked"))  # fmt: skip


@trackers_app.command("history")
def history_cmd(
    key: Annotated[str, typer.Argument(metavar="PLATE_OR_DEVICE", help="a plate or a tracker id")],
    fmt: Annotated[Format, typer.Option("--format", help="table, json, csv or xlsx")] = Format.table,
) -> None:
    """The assignments of a car or of a tracker, oldest first, as they are in effect (an implicit one
    from the vehicles file gives way where an explicit history overlaps it)."""
    from fleet import trackers
    from gongwu import cli_db

    with cli_db.session() as session:
        found, rows = trackers.history(session, key)
    data = {
        "of": found,
        "key": key,
        "assignments": [
            {
                **r,
                "installed_at": r["installed_at"].isoformat() if r["installed_at"] else None,
                "removed_at": r["removed_at"].isoformat() if r["removed_at"] else None,
            }
            for r in rows
        ],
    }
    shown = [
        {
            **r,
            "installed_at": fmt_china(r["installed_at"])
            if r["installed_at"]
            else tr("首个定位", "first fix"),
            "removed_at": fmt_china(r["removed_at"]) if r["removed_at"] else "",
        }
        for r in rows
    ]
    emit(data, shown, fmt, title=tr(f"终端安装记录 {key}", f"tracker history {key}"), columns=HISTORY_COLUMNS)
