"""`gongwu notify digest [--date D] [--dry-run]` (the morning digest now, or what it would say to whom) and
`gongwu notify status` (the notifications written and read, by kind)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

import typer

from core.i18n import tr
from gongwu.cli_base import app
from gongwu.output import Format, emit

notify_app = typer.Typer(help=tr("通知：每日提醒和消息。", "Notifications: the morning digest and messages."))
app.add_typer(notify_app, name="notify")


@notify_app.command("digest")
def digest(
    date_: Annotated[
        date | None, typer.Option("--date", formats=["%Y-%m-%d"], help="the day (default: today)")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print what would be sent to whom, send nothing")
    ] = False,
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """Each user's digest of the day — what needs them, scoped to what they may see — into their inbox
    (once per user and day); with --dry-run only printed."""
    from accounts.notify import line_words
    from core.timeutil import china_day, utcnow
    from gongwu import cli_db
    from scheduler.digest import run_digest

    day = date_ or china_day(utcnow())
    with cli_db.session() as session:
        sent = run_digest(session, day, dry_run=dry_run)
        rows = [
            {"user": user.username, "role": user.role, "line": line_words(*line.as_param())[0]}
            for user, lines in sent
            for line in lines
        ]
    title = tr(
        f"{day} 的每日提醒：{len(sent)} 人{'（未发送）' if dry_run else ''}",
        f"digest of {day}: {len(sent)} users{' (not sent)' if dry_run else ''}",
    )
    emit({"date": day.isoformat(), "dry_run": dry_run, "digests": rows}, rows, fmt, title=title)


@notify_app.command("status")
def status(
    days: Annotated[int, typer.Option(min=1, help="the last N days")] = 7,
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """The notifications of the last days by kind: written, read, unread."""
    from sqlalchemy import func
    from sqlmodel import col, select

    from accounts.models import Notification
    from core.timeutil import utcnow
    from gongwu import cli_db

    since = utcnow() - timedelta(days=days)
    with cli_db.session() as session:
        found = session.exec(
            select(Notification.kind, func.count(), func.count(col(Notification.read_at)))
            .where(col(Notification.created_at) >= since)
            .group_by(col(Notification.kind))
            .order_by(col(Notification.kind))
        ).all()
    rows = [{"kind": k, "written": int(n), "read": int(r), "unread": int(n) - int(r)} for k, n, r in found]
    emit(
        {"days": days, "kinds": rows},
        rows,
        fmt,
        title=tr(f"近 {days} 天的通知", f"notifications, last {days} days"),
    )
