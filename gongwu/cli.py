"""The `gongwu` command line: parses, calls the domain services, prints. Every failure a user can cause
ends in a one-line reason on stderr and the README's exit code, never a traceback."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from core.errors import GongwuError
from gongwu.cli_base import app, say_error

__all__ = ["app", "main", "run"]


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
    from accounts.service import server_secret
    from core.db import unit_of_work
    from gongwu.cli_users import first_admin_hint

    with unit_of_work(engine) as session:
        server_secret(session)
    with unit_of_work(engine) as session:
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
    from core.settings import get_settings
    from gongwu import cli_db
    from gongwu.app import create_app
    from gongwu.cli_feeds import check_ports, serve_all

    settings = get_settings()
    osmand_port = settings.osmand_port if osmand_port is None else osmand_port
    jt808_port = settings.jt808_port if jt808_port is None else jt808_port
    cli_db.database()
    check_ports(host, {"--port": port, "--osmand-port": osmand_port, "--jt808-port": jt808_port})
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
    cli_archive,
    cli_audit,
    cli_costs,
    cli_demo,
    cli_feeds,
    cli_fleet,
    cli_ingest,
    cli_notify,
    cli_orders,
    cli_property,
    cli_report,
    cli_rules,
    cli_scheduler,
    cli_trackers,
    cli_trips,
    cli_users,
)


def main() -> None:
    from core.logs import setup_logging
    from core.perf import keep_freed_memory

    setup_logging()
    keep_freed_memory()
    sys.exit(run(sys.argv[1:]))


def run(args: list[str]) -> int:
    """Run the command line `args`; return the exit code (README: 0 done, 1 failed and nothing changed,
    2 usage error, 3 done but some rows rejected, 130 interrupted)."""
    import logging

    from sqlalchemy.exc import DBAPIError

    from core.i18n import tr
    from gongwu.cli_errors import help_hint, usage_message

    try:
        rc = app(args, standalone_mode=False, prog_name="gongwu")  # typer.Exit(code) returns its code
        return rc if isinstance(rc, int) else 0
    except GongwuError as exc:
        say_error(exc.message)
        return exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        say_error(tr("已中断", "interrupted"))
        return 130
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        logging.getLogger("gongwu").debug("database error", exc_info=True)
        say_error(tr(f"数据库出错：{reason}", f"database error: {reason}"))
        return 1
    except Exception as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            return 0  # `gongwu` or `gongwu report` alone: the help was printed
        if hasattr(exc, "exit_code") and not hasattr(exc, "format_message"):
            return int(exc.exit_code)  # typer/click Exit raised outside a command
        if hasattr(exc, "exit_code") and hasattr(exc, "format_message"):  # a usage error of typer/click
            say_error(usage_message(exc) + help_hint(exc))
            return 2
        logging.getLogger("gongwu").debug("unexpected error", exc_info=True)
        first = (str(exc).strip().splitlines() or [""])[0]
        say_error(
            tr(
                f"内部错误 {type(exc).__name__}：{first}（设置 GONGWU_LOG_LEVEL=DEBUG 可看详情）",
                f"internal error {type(exc).__name__}: {first} (GONGWU_LOG_LEVEL=DEBUG shows the details)",
            )
        )
        return 1
