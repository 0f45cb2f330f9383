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
        from accounts.sender import status as delivery_status

        deliveries = delivery_status(session)
    rows = [{"kind": k, "written": int(n), "read": int(r), "unread": int(n) - int(r)} for k, n, r in found]
    title = tr(f"近 {days} 天的通知", f"notifications, last {days} days")
    emit({"days": days, "kinds": rows, "deliveries": deliveries}, rows, fmt, title=title)
    if fmt is not Format.json and deliveries:
        heading = tr("投递（按渠道和状态）", "deliveries by channel and state")
        emit({"deliveries": deliveries}, deliveries, fmt, title=heading)


@notify_app.command("test")
def test_channel(
    url: Annotated[
        str, typer.Argument(help="mailto:a@b.gov.cn, dingtalk+https://…&secret=…, wecom+https://…")
    ],
) -> None:
    """Send a test message through a channel now (SMTP settings GONGWU_SMTP_* for e-mail)."""
    from accounts import rules
    from accounts.sender import Message, SendError, send
    from core.errors import GongwuError, ValidationFailed
    from core.settings import get_settings

    problem = rules.channel_problem(url)
    if problem:
        raise ValidationFailed(problem)
    title = tr("gongwu 测试消息", "gongwu test message")
    body = tr("这个渠道可以收到 gongwu 的通知。", "This channel receives gongwu's notifications.")
    try:
        send(url, Message(title=title, body=body, link=get_settings().public_url, key="test"))
    except SendError as exc:
        raise GongwuError(tr(f"发送失败：{exc}", f"sending failed: {exc}")) from None
    typer.echo(tr("已发送", "sent"))


@notify_app.command("send")
def send_due() -> None:
    """Deliver the notifications that are due now (the scheduler's `deliver` job does this every minute)."""
    from accounts.sender import deliver_due
    from gongwu import cli_db

    c = deliver_due(cli_db.database())
    sent, retry, failed, cut = c["sent"], c["retried"], c["failed"], c["interrupted"]
    typer.echo(
        tr(
            f"已发送 {sent}，待重试 {retry}，失败 {failed}，中断 {cut}",
            f"sent {sent}, to retry {retry}, failed {failed}, interrupted {cut}",
        )
    )


@notify_app.command("channel")
def add_channel(
    username: Annotated[str, typer.Argument(help="whose channel")],
    url: Annotated[str, typer.Argument(help="mailto:…, dingtalk+https://…, wecom+https://…")],
    kinds: Annotated[
        list[str] | None, typer.Option("--kind", help="only these kinds (repeat); default all")
    ] = None,
    quiet: Annotated[str, typer.Option(help="quiet hours, China time, e.g. 22:00-07:00")] = "",
    digest_only: Annotated[bool, typer.Option("--digest-only", help="only the morning digest")] = False,
) -> None:
    """Add a channel to a user: their notifications go there too (audit-logged)."""
    from sqlmodel import select

    from accounts import notify
    from accounts.models import User
    from core.errors import NotFound, UsageError
    from gongwu import cli_db
    from gongwu.cli_users import cli_actor

    window = quiet.split("-", 1) if quiet else ["", ""]
    if len(window) != 2:
        raise UsageError(tr("--quiet 形如 22:00-07:00", "--quiet looks like 22:00-07:00"))
    with cli_db.session() as session:
        user = session.exec(select(User).where(User.username == username)).first()
        if user is None:
            raise NotFound(tr(f"用户 {username} 不存在", f"no user {username}"))
        ch = notify.add_channel(
            session, user, url, actor=cli_actor(), kinds=kinds or (), quiet=(window[0], window[1]),
            digest_only=digest_only,
        )  # fmt: skip
        shown = ch.url.split("?", 1)[0]
    typer.echo(tr(f"已为 {username} 添加渠道 {shown}", f"channel {shown} added for {username}"))
