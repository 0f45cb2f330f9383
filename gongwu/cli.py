"""The `gongwu` command line: parses, calls the domain services, prints. Every failure a user can cause
ends in a one-line reason on stderr and a non-zero exit code, never a traceback."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.console import Console

from core.errors import GongwuError

app = typer.Typer(
    name="gongwu",
    help="gongwu 公务 — fleet reconciliation and property register of a county office-affairs center.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)


@app.command()
def init() -> None:
    """Create or upgrade the database schema (idempotent)."""
    from core.db import check_connection, get_engine
    from gongwu import migrate

    engine = get_engine()
    check_connection(engine)
    before, after = migrate.upgrade(engine)
    url = engine.url.render_as_string(hide_password=True)
    if before == after:
        typer.echo(f"database {url} is up to date (revision {after})")
    else:
        typer.echo(f"database {url} upgraded from {before or 'empty'} to {after}")
    # No default user or password is ever created; the server secret is generated once, if not configured.
    from sqlmodel import Session

    from core.auth import server_secret
    from gongwu.cli_users import first_admin_hint

    with Session(engine) as session:
        server_secret(session)
        session.commit()
        hint = first_admin_hint(session)
    if hint:
        typer.echo(hint)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port of the web app and API")] = 8000,
    no_scheduler: Annotated[bool, typer.Option("--no-scheduler", help="do not run scheduled jobs")] = False,
    osmand_port: Annotated[
        int | None, typer.Option(help="OsmAnd push port, 0 = off (default GONGWU_OSMAND_PORT, 5055)")
    ] = None,
    jt808_port: Annotated[
        int | None, typer.Option(help="JT/T 808 TCP port (e.g. 5015), 0 = off (default GONGWU_JT808_PORT)")
    ] = None,
) -> None:
    """Serve the web app and the API (http://HOST:PORT, OpenAPI at /docs), with the scheduler and the
    position listeners (OsmAnd push, JT/T 808)."""
    from core.db import check_connection, get_engine
    from core.settings import get_settings
    from gongwu.app import create_app
    from gongwu.cli_feeds import serve_all

    settings = get_settings()
    osmand_port = settings.osmand_port if osmand_port is None else osmand_port
    jt808_port = settings.jt808_port if jt808_port is None else jt808_port
    check_connection(get_engine())
    if "GONGWU_LOG_LEVEL" not in os.environ:
        from core.logs import setup_logging

        setup_logging("INFO")  # a server logs what it does
    scheduler = None
    if not no_scheduler:
        from scheduler.jobs import build_scheduler

        scheduler = build_scheduler()
        scheduler.start()
    typer.echo(f"gongwu serving on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    if osmand_port:
        typer.echo(f"OsmAnd positions on http://{host}:{osmand_port}/")
    if jt808_port:
        typer.echo(f"JT/T 808 terminals on tcp://{host}:{jt808_port}")
    try:
        serve_all(create_app(), host=host, port=port, osmand_port=osmand_port, jt808_port=jt808_port)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)


# Command modules register themselves on `app`.
from gongwu import (  # noqa: E402,F401
    cli_demo,
    cli_feeds,
    cli_fleet,
    cli_ingest,
    cli_report,
    cli_scheduler,
    cli_trips,
    cli_users,
)


def main() -> None:
    from core.logs import setup_logging
    from core.perf import keep_freed_memory

    setup_logging()
    keep_freed_memory()
    try:
        rc = app(standalone_mode=False)  # a command's typer.Exit(code) comes back as its return value
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except GongwuError as exc:
        err.print(f"[red]error:[/red] {exc.message}", markup=True, highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit code and message
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        raise
