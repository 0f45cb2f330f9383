"""`gongwu pull`, `gongwu feeds status`, `gongwu positions`, and the push listeners `gongwu serve` starts
beside the web app (OsmAnd on its own HTTP port, JT/T 808 on TCP)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer

from core.errors import ConfigError, UsageError
from core.i18n import tr
from gongwu.cli_base import app
from gongwu.output import Format, dumps, emit

feeds_app = typer.Typer(help="Live position feeds: what each tracker and platform sent, and when.")
app.add_typer(feeds_app, name="feeds")

FromOpt = Annotated[
    str | None, typer.Option("--from", help="start, China time unless a zone is given (2024-06-01 08:00)")
]
ToOpt = Annotated[str | None, typer.Option("--to", help="end, China time unless a zone is given")]


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    from core.normalize import FieldError, datetime_china

    try:
        return datetime_china(value)
    except FieldError as exc:
        raise UsageError(f"{option} {value!r}: {exc}") from None


@app.command()
def pull(
    source: Annotated[
        str | None, typer.Option("--source", help="one source (default: every configured)")
    ] = None,
    from_: FromOpt = None,
    to: ToOpt = None,
    device: Annotated[str | None, typer.Option("--device", help="one device (tracker id)")] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """Pull positions from the tracking platform(s) in GONGWU_TRACCAR_URL... Without --from, each device
    resumes where the last pull stopped. Pulling a window twice stores nothing new."""
    from gongwu import cli_db
    from ingest import sources

    start, end = _when(from_, "--from"), _when(to, "--to")
    if start and end and start >= end:
        raise UsageError(f"--from {from_} is not before --to {to}")
    with cli_db.session() as session:
        report = sources.pull(session, source, start, end, device=device)
    for r in report["sources"]:
        for problem in r["errors"]:
            typer.echo(f"warning: {problem}", err=True)
    if fmt is Format.json:
        typer.echo(dumps(report))
        return
    rows = [
        {
            **r,
            "dropped": sum(r["dropped"].values()),
            "not_vehicles": len(r["not_vehicles"]),
            "errors": len(r["errors"]),
        }
        for r in report["sources"]
    ]
    emit(report, rows, fmt, title="pull")


@feeds_app.command("status")
def feeds_status(fmt: Annotated[Format, typer.Option("--format")] = Format.table) -> None:
    """Per source and device: last fix, last contact, positions accepted and rejected by reason."""
    from gongwu import cli_db
    from ingest.queries import feeds_status as status

    with cli_db.session() as session:
        data = status(session)
    rows = [
        {
            **d,
            "last_fix_at": (d["last_fix_at"] or "")[:19].replace("T", " "),
            "last_contact_at": (d["last_contact_at"] or "")[:19].replace("T", " "),
            "rejected": ", ".join(f"{k} {v}" for k, v in d["rejected"].items()),
        }
        for d in data["devices"]
    ]
    if fmt is Format.json:
        typer.echo(dumps(data))
        return
    emit(data, rows, fmt, title="feeds (China time)")
    if fmt is Format.table:
        for u in data["unassigned"]:
            typer.echo(
                tr(
                    f"未装车的终端 {u['device_id']}：{u['fixes_unassigned']} 条定位待归属，最后定位 "
                    f"{u['last_fix_at'][:16].replace('T', ' ')}（{u['removed_at'][:16].replace('T', ' ')} "
                    f"拆自 {u['removed_from']}）；装车后自动归属：gongwu trackers assign",
                    f"unassigned tracker {u['device_id']}: {u['fixes_unassigned']} fixes waiting, last "
                    f"{u['last_fix_at'][:16].replace('T', ' ')} (removed from {u['removed_from']} "
                    f"{u['removed_at'][:16].replace('T', ' ')}); assign it with gongwu trackers assign",
                )
            )


@app.command()
def positions(
    plate_or_device: Annotated[str, typer.Argument(help="a plate (晋M·A1234) or a tracker id")],
    from_: FromOpt = None,
    to: ToOpt = None,
    limit: Annotated[int, typer.Option(help="at most this many fixes")] = 100_000,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """The stored fixes of a vehicle or tracker, oldest first (default: the last 24 hours)."""
    from core.timeutil import utcnow
    from gongwu import cli_db
    from ingest.queries import POSITION_KEYS, list_positions, resolve_device

    start, end = _when(from_, "--from"), _when(to, "--to")
    if start is None and end is None:
        end = utcnow()
    if start is None and end is not None:
        start = end - timedelta(hours=24)
    if start and end and start > end:
        raise UsageError(f"--from {from_} is after --to {to}")
    with cli_db.session() as session:
        device, plate = resolve_device(session, plate_or_device)
        rows, total = list_positions(session, device, start, end, limit=limit)
    if fmt is Format.json:
        typer.echo(dumps({"positions": rows}))
    else:
        title = f"{plate or device} ({device}): {len(rows)} of {total} fixes, China time"
        emit({"positions": rows}, rows, fmt, title=title, columns=POSITION_KEYS)


# ---- the push listeners, run by `gongwu serve` -----------------------------------------------------


def _quiet_server(config: Any) -> Any:
    """A uvicorn server that leaves signals to us: several servers share one loop and one Ctrl-C."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

        def install_signal_handlers(self) -> None:  # uvicorn < 0.29
            pass

    return Server(config)


async def _serve_all(
    web_app: Any,
    host: str,
    port: int,
    osmand_port: int,
    jt808_port: int,
    *,
    on_ready: Callable[[Callable[[], None]], None] | None = None,
) -> None:
    """`on_ready` receives a thread-safe stop function (tests run this loop in a thread)."""
    import uvicorn

    from core.db import get_engine
    from ingest.feeds import BatchWriter
    from ingest.feeds_settings import get_feeds_settings
    from ingest.jt808_server import Jt808Server
    from ingest.osmand import create_osmand_app

    fs = get_feeds_settings()
    servers = [_quiet_server(uvicorn.Config(web_app, host=host, port=port, log_level="warning"))]
    writer = None
    jt808 = None
    if osmand_port or jt808_port:
        writer = BatchWriter(get_engine(), max_batch=fs.writer_max_batch, max_wait_ms=fs.writer_max_wait_ms)
        writer.start()
    if osmand_port and writer is not None:
        osmand = create_osmand_app(writer)
        servers.append(
            _quiet_server(
                uvicorn.Config(osmand, host=host, port=osmand_port, log_level="warning", access_log=False)
            )
        )
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for s in servers:
            if s.should_exit:
                s.force_exit = True
            s.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop)
    try:
        if jt808_port and writer is not None:
            jt808 = await Jt808Server(writer).start(host, jt808_port)
        tasks = [asyncio.create_task(s.serve()) for s in servers]
        if on_ready is not None:

            def stop_from_any_thread() -> None:
                loop.call_soon_threadsafe(stop)

            on_ready(stop_from_any_thread)
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        stop()  # one ended (a signal, or a port in use): end all
        await asyncio.gather(*tasks, return_exceptions=True)
        for t in done:
            if t.exception() is not None:
                raise t.exception()  # type: ignore[misc]
    finally:
        # Order matters: no new fixes, then the writer commits what it holds.
        if jt808 is not None:
            await jt808.close()
        if writer is not None:
            await asyncio.to_thread(writer.stop)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


def check_ports(host: str, ports: dict[str, int]) -> None:
    """Every listening port free on `host` (a port of 0 is off), else one line naming it and its option:
    the servers would otherwise fail one by one, deep inside uvicorn."""
    import errno
    import socket

    from core.i18n import tr

    seen: dict[int, str] = {}
    for option, port in ports.items():
        if not port:
            continue
        if port in seen:
            raise UsageError(
                tr(
                    f"{option} {port} 与 {seen[port]} 是同一个端口：请换一个，或设为 0 关闭",
                    f"{option} {port} is also {seen[port]}: choose another, or 0 to turn it off",
                )
            )
        seen[port] = option
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            try:
                probe.bind((host, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise ConfigError(
                        tr(
                            f"端口 {port} 已被占用（{option}）："
                            f"请先停止占用它的程序，或用 {option} 换一个端口",
                            f"port {port} is in use ({option}): stop what holds it, or choose another "
                            f"with {option}",
                        )
                    ) from None
                raise ConfigError(
                    tr(
                        f"无法在 {host}:{port} 上监听（{option}）：{exc.strerror}",
                        f"cannot listen on {host}:{port} ({option}): {exc.strerror}",
                    )
                ) from None


def serve_all(web_app: Any, *, host: str, port: int, osmand_port: int, jt808_port: int) -> None:
    """The web app, the OsmAnd receiver and the JT/T 808 server in one event loop (a port of 0 is off)."""
    for name, p in (("--osmand-port", osmand_port), ("--jt808-port", jt808_port)):
        if p and p == port:
            raise UsageError(f"{name} {p} is the web app's port: choose another or 0 to turn it off")
    with asyncio.Runner(loop_factory=_fast_loop()) as runner:
        runner.run(_serve_all(web_app, host, port, osmand_port, jt808_port))


def _fast_loop() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it exists (uvicorn's standard extra brings it; not on Windows): the
    listeners' per-message cost is mostly the loop's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
