"""`gongwu demo`: build the demo county in a fresh SQLite file, run the nightly pipeline over every day,
print what a vehicle manager and a property clerk would look at first, then serve the app."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from core.i18n import tr
from gongwu.cli_base import app


@app.command()
def demo(
    days: Annotated[int, typer.Option(min=7, max=120, help="days of positions and orders")] = 30,
    vehicles: Annotated[int, typer.Option(min=12, max=2000, help="vehicles in the county")] = 40,
    db: Annotated[Path, typer.Option(help="the SQLite file to (re)create")] = Path("gongwu-demo.db"),
    data_dir: Annotated[Path, typer.Option(help="where the demo's import files are written")] = Path(
        "demo-data"
    ),
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="serve the app afterwards")] = True,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """A deterministic demo county: its files imported as a clerk would, the nightly run over every day."""
    from rich.console import Console
    from rich.progress import Progress

    from core.db import dispose_engines, get_engine
    from core.settings import reset_settings
    from core.timeutil import china_day, utcnow
    from gongwu import migrate
    from gongwu.demo import apply_disposals, import_files, play_orders, write_files
    from gongwu.demo_data import build
    from scheduler.pipeline import run_nightly

    console = Console()
    started = time.monotonic()
    if serve:  # said now, not after building the county
        from gongwu.cli_feeds import check_ports

        check_ports(host, {"--port": port})
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{db.resolve()}"
    os.environ["GONGWU_DATABASE_URL"] = url  # the app served below (and its scheduler) use the demo file
    reset_settings()
    dispose_engines()
    engine = get_engine(url)
    migrate.upgrade(engine)

    today = china_day(utcnow())
    county = build(today, days=days, vehicles=vehicles)
    files = write_files(county, data_dir)
    units, cars = len(county.units), len(county.vehicles)
    fixes = sum(len(a["t"]) for a in county.positions.values())
    console.print(
        tr(
            f"演示县: {units} 个单位, {cars} 辆车, {fixes:,} 条定位, 文件在 {data_dir}/",
            f"demo county: {units} units, {cars} vehicles, {fixes:,} positions, files in {data_dir}/",
        )
    )
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(tr("导入", "importing"), total=len(files))

        def on_file(kind: str, report: Any) -> None:
            bar.advance(task)
            console.print(
                tr(f"  已导入 {kind}: {report.inserted} 行", f"  imported {kind}: {report.inserted} rows")
            )

        import_files(engine, files, on_file=on_file)
        apply_disposals(engine, county)
        night = bar.add_task(tr("夜间任务", "nightly run"), total=len(county.days))
        outcome = run_nightly(
            engine, since=county.days[0], until=today - timedelta(days=1), on_day=lambda d: bar.advance(night)
        )
    console.print(
        tr(
            f"夜间任务: {outcome.status}, {len(outcome.days)} 天",
            f"nightly run: {outcome.status}, {len(outcome.days)} days",
        )
        + (f" — {outcome.error}" if outcome.error else "")
    )
    played = play_orders(engine, county.units[0]["name"], today)
    console.print(
        tr(
            f"在 gongwu 中填写的申请: {played['orders']} 个, 各环节都有; "
            f"{played['late_orders']} 个补报回复预警",
            f"orders made in gongwu: {played['orders']} requests in every stage, {played['late_orders']} late"
            " orders answering flags",
        )
    )
    _print_figures(console, engine, today)
    _print_demo_users(console, engine, county.units[0]["name"], played["driver"])
    _print_digests(console, engine, today)
    _print_next_steps(console, db, today - timedelta(days=1))
    console.print(
        tr(f"完成, 用时 {time.monotonic() - started:.0f} 秒", f"done in {time.monotonic() - started:.0f} s")
    )
    if serve:
        from gongwu.cli import serve as serve_cmd

        console.print(
            tr(
                f"正在以演示数据库 {db} 提供服务 — 按 Ctrl+C 停止",
                f"serving the demo database {db} — Ctrl+C to stop",
            )
        )
        serve_cmd(host=host, port=port, no_scheduler=False)


def _print_digests(console: Any, engine: Any, today: Any) -> None:
    """The morning digest each demo user gets, into their inbox (no channel is set up: nothing leaves)."""
    from accounts.notify import line_words
    from core.db import unit_of_work
    from scheduler.digest import run_digest

    with unit_of_work(engine) as s:
        sent = run_digest(s, today)
        heading = tr(
            "\n[bold]今天的每日提醒[/bold]（在各人的“消息”里，未配置外发渠道）:",
            "\n[bold]today's morning digest[/bold] (in each user's messages; no channel set up):",
        )
        console.print(heading)
        for user, lines in sent:
            said = ("；" if tr("zh", "en") == "zh" else "; ").join(
                line_words(*x.as_param())[0] for x in lines
            )
            console.print(f"  {user.username}: {said}")


def _print_figures(console: Any, engine: Any, today: Any) -> None:
    """What the vehicle manager and the property clerk look at first."""
    from sqlalchemy import func
    from sqlmodel import select

    from core.db import unit_of_work
    from fleet.models import Flag, Trip

    with unit_of_work(engine) as s:
        trips = s.exec(select(func.count()).select_from(Trip)).one()
        by_kind = dict(
            s.exec(select(Flag.kind, func.count()).where(Flag.state == "open").group_by(Flag.kind)).all()
        )
        open_flags = ", ".join(f"{k} {v}" for k, v in sorted(by_kind.items())) or tr("无", "none")
        console.print(
            tr(
                f"\n[bold]车辆管理员[/bold]: {trips} 个行程; 未处理预警: {open_flags}",
                f"\n[bold]vehicle manager[/bold]: {trips} trips; open flags: {open_flags}",
            )
        )
        try:
            from property import queries as property_queries

            cert = property_queries.certificates_report(s, today)
            ops = property_queries.operating_report(s, today)
            auctions = property_queries.auctions_report(s)
            blocked, overdue = len(cert["blocked"]), len(ops["overdue_takeovers"])
            batches = "; ".join(
                tr(
                    f"拍卖 {b['batch']}: {b['lots']} 个标的 → 成交 {b['sold']} / 流拍 {b['unsold']} / "
                    f"撤拍 {b['withdrawn']}, 年租金 {b['annual_rent_yuan']} 元",
                    f"auction {b['batch']}: {b['lots']} lots → {b['sold']} sold / {b['unsold']} unsold / "
                    f"{b['withdrawn']} withdrawn, {b['annual_rent_yuan']} yuan a year",
                )
                for b in auctions["batches"]
            )
            console.print(
                tr(
                    f"[bold]资产管理员[/bold]: 办公用房 {cert['properties']} 处, 已发证 {cert['certified']}, "
                    f"受阻 {blocked}; 逾期未接管 {overdue}; {batches}",
                    f"[bold]property clerk[/bold]: {cert['properties']} office properties, "
                    f"{cert['certified']} certified, {blocked} blocked; {overdue} overdue takeovers; "
                    f"{batches}",
                )
            )
        except ImportError:
            pass


def _print_next_steps(console: Any, db: Path, last_day: Any) -> None:
    """The commands to type next, pointed at the demo database."""
    import shlex
    import shutil
    import sys

    from gongwu.cli_db import DEMO_FILE

    exe = Path(sys.argv[0]).resolve()
    on_path = shutil.which("gongwu")
    if exe.name != "gongwu" or (on_path and Path(on_path).resolve() == exe):
        command = "gongwu"
    elif exe.is_relative_to(Path.cwd()):
        command = str(exe.relative_to(Path.cwd()))  # .venv/bin/gongwu after `python3 tasks.py demo`
    else:
        command = str(exe)
    console.print(f"\n[bold]{tr('接下来', 'Next')}[/bold]:")
    if db.resolve() == DEMO_FILE.resolve():
        console.print(
            tr(
                f"  在本目录运行的 gongwu 命令都使用 {db}"
                "（只要没有设置 GONGWU_DATABASE_URL、也没有 gongwu.db）：",
                f"  gongwu commands run in this folder use {db} "
                "(while GONGWU_DATABASE_URL is unset and there is no gongwu.db):",
            ),
            highlight=False,
            soft_wrap=True,
        )
    else:
        url = f"sqlite:///{db.resolve()}"
        console.print(f"  export GONGWU_DATABASE_URL={shlex.quote(url)}", highlight=False, markup=False)
    for line in (f"{command} flags", f"{command} report units --month {last_day:%Y-%m}"):
        console.print(f"  {line}", highlight=False, markup=False)


def _print_demo_users(console: Any, engine: Any, unit_name: str, driver: str = "") -> None:
    """One user per role with a random password, printed this once (the demo has no default password);
    the driver's account is linked to `driver`, the unit's driver the demo orders went out with."""
    from sqlmodel import select

    from accounts.models import User
    from accounts.service import create_demo_users, resolve_unit
    from core.db import unit_of_work
    from fleet import service as fleet_service

    with unit_of_work(engine) as s:
        users = create_demo_users(s, unit_name)
        account = s.exec(select(User).where(User.role == "driver", User.username == "demo_driver")).first()
        if driver and account is not None:
            fleet_service.link_driver(
                s, user_id=account.id or 0, unit_id=resolve_unit(s, unit_name) or 0, name=driver, actor="demo"
            )
    console.print(
        tr(
            "\n[bold]演示账号[/bold] (密码只显示这一次; 在 /login 登录):",
            "\n[bold]demo users[/bold] (passwords shown only now; sign in at /login):",
        )
    )
    for username, password in users.items():
        console.print(f"  {username:<14} {password}", highlight=False, markup=False)
