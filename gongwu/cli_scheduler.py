"""`gongwu nightly` and `gongwu scheduler list|run|start`."""

from __future__ import annotations

import time
from datetime import date
from typing import Annotated

import typer

from core.errors import UsageError
from gongwu.cli_base import app
from gongwu.output import Format, dumps, emit

scheduler_app = typer.Typer(help="The job registry: list jobs, run one now, or start the scheduler.")
app.add_typer(scheduler_app, name="scheduler")


@app.command()
def nightly(
    date_: Annotated[
        date | None, typer.Option("--date", formats=["%Y-%m-%d"], help="run this day only")
    ] = None,
    since: Annotated[date | None, typer.Option(formats=["%Y-%m-%d"], help="first day to run")] = None,
    until: Annotated[
        date | None, typer.Option(formats=["%Y-%m-%d"], help="last day (default: yesterday)")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """Run the nightly pipeline now: every day since the last completed one up to yesterday, or the days
    given. Exit code 1 when the run failed or another run holds the lock (nothing was done)."""
    from rich.progress import Progress

    from gongwu import cli_db
    from scheduler.pipeline import run_nightly

    if date_ and (since or until):
        raise UsageError("--date cannot be combined with --since/--until")
    if date_:
        since = until = date_
    if since and until and since > until:
        raise UsageError(f"--since {since} is after --until {until}")
    engine = cli_db.database()
    with Progress(transient=True, disable=fmt is not Format.table) as progress:
        task = progress.add_task("nightly", total=None)
        outcome = run_nightly(engine, since=since, until=until, on_day=lambda d: progress.advance(task))
    data = {
        "run_id": outcome.run_id,
        "status": outcome.status,
        "days": [d.isoformat() for d in outcome.days],
        "counts": outcome.counts,
        "error": outcome.error,
    }
    if fmt is Format.json:
        typer.echo(dumps(data))
    else:
        days = f"{outcome.days[0]}..{outcome.days[-1]}" if outcome.days else "no day"
        typer.echo(f"nightly run {outcome.run_id}: {outcome.status} ({days})")
        for k, v in sorted(outcome.counts.items()):
            typer.echo(f"  {k}: {v}")
        if outcome.error:
            typer.echo(f"  error: {outcome.error}", err=True)
    if outcome.status in ("failed", "skipped"):
        raise typer.Exit(1)


@scheduler_app.command("list")
def list_jobs(fmt: Annotated[Format, typer.Option("--format")] = Format.table) -> None:
    """The registered jobs with their triggers."""
    from scheduler.jobs import JOBS

    rows = [{"job": j.id, "trigger": str(j.trigger()), "description": j.description} for j in JOBS]
    emit({"jobs": rows}, rows, fmt, title="jobs")


@scheduler_app.command("run")
def run_job(job: Annotated[str, typer.Argument(help="job id, see `gongwu scheduler list`")]) -> None:
    """Run one job now, in this process."""
    from gongwu import cli_db
    from scheduler.jobs import job_by_id

    found = job_by_id(job)
    cli_db.database()
    typer.echo(dumps(found.func()))


@scheduler_app.command("start")
def start() -> None:
    """Run the scheduler in the foreground (without the web app)."""
    from gongwu import cli_db
    from scheduler.jobs import build_scheduler

    scheduler = build_scheduler(cli_db.database())
    scheduler.start()
    for job in scheduler.get_jobs():
        typer.echo(f"{job.id}: next run {job.next_run_time}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        scheduler.shutdown()
