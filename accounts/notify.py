"""Telling people (issue 24): notifications written in the transaction of what caused them — a request to
approve, a decision, a dispatch, a reply to a flag — one row per recipient and event, read in the in-app
inbox. A notification is a kind and its parameters; its words are chosen when it is shown (`words`), in
the language of the moment, never stored in two languages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from accounts import rules
from accounts.models import UNIT_ROLES, Delivery, Notification, NotifyChannel, User

__all__ = ["UNIT_ROLES", "notify", "words"]
from core.i18n import tr
from core.labels import label_of
from core.timeutil import to_china, utcnow

# kind → (Chinese title, English title, Chinese body, English body); {name} from the parameters
KINDS: Mapping[str, tuple[str, str, str, str]] = {
    "order_submitted": (
        "待审批的用车申请", "A request to approve",
        "{unit}的申请 {order_no}：{purpose}，{when}，去{destination}",
        "{order_no} of {unit}: {purpose}, {when}, to {destination}",
    ),
    "order_awaits_center": (
        "待中心审批的用车申请", "A request awaiting the center",
        "申请 {order_no}（{unit}）已经单位同意，需中心审批：{reasons}",
        "{order_no} ({unit}) was approved by its unit and needs the center's approval: {reasons}",
    ),
    "order_approved": (
        "用车申请已批准", "Request approved",
        "申请 {order_no}：{purpose}，{when}",
        "{order_no}: {purpose}, {when}",
    ),
    "order_to_dispatch": (
        "待派车", "To dispatch",
        "申请 {order_no}（{unit}）已批准，请派车：{when}",
        "{order_no} ({unit}) is approved and waits for a car: {when}",
    ),
    "order_rejected": (
        "用车申请未获批准", "Request rejected",
        "申请 {order_no}：{comment}",
        "{order_no}: {comment}",
    ),
    "order_dispatched": (
        "已派车", "Dispatched",
        "申请 {order_no}：{plate}，驾驶员 {driver}，{when}",
        "{order_no}: {plate}, driver {driver}, {when}",
    ),
    "flag_raised": (
        "高风险预警", "A high-risk flag",
        "{kind_label} {plate}，{when}", "{kind_label}, {plate}, {when}",
    ),
    "flag_reply": (
        "单位答复了预警", "A unit answered a flag",
        "{unit} 答复了 {plate} 的预警：{text}",
        "{unit} answered the flag of {plate}: {text}",
    ),
}  # fmt: skip


# what an order's center approval is for (fleet.service.center_reasons_of), as the message says it
REASONS = {"out_of_county": ("出县", "leaves the county"), "rest_day": ("休息日", "on a rest day"),
           "overnight": ("跨夜", "overnight")}  # fmt: skip


# The digest's lines (scheduler/digest.py counts them): code → (Chinese, English, the page it links to);
# {kind} is a flag kind's label
LINES: dict[str, tuple[str, str, str]] = {
    "new_flag": ("新预警：{kind} {n} 条", "New flags: {kind}, {n}", "/flags?kind={code}&status=open"),
    "to_answer": ("待答复的预警 {n} 条", "Flags to answer: {n}", "/flags?status=open"),
    "to_approve": ("待审批的用车申请 {n} 份", "Requests to approve: {n}", "/orders/approvals"),
    "awaiting_center": ("待中心审批 {n} 份", "Awaiting the center: {n}", "/orders/approvals"),
    "to_dispatch": ("待派车 {n} 份", "To dispatch: {n}", "/orders/dispatch"),
    "checks_due": ("终端检修到期或逾期 {n} 台", "Tracker checks due: {n}", "/reports/trackers"),
    "my_tasks": ("派给我的出车任务 {n} 个", "Trips dispatched to me: {n}", "/orders/tasks"),
    "lease_ending_30": ("30 天内到期的租赁 {n} 份", "Leases ending in 30 days: {n}", "/properties/leases"),
    "lease_ending_90": ("90 天内到期的租赁 {n} 份", "Leases ending in 90 days: {n}", "/properties/leases"),
    "certificate_overdue": ("逾期的办证事项 {n} 项", "Steps overdue: {n}", "/properties/certificates"),
    "takeover_overdue": ("逾期未接管的房产 {n} 处", "Takeovers overdue: {n}", "/properties/operating"),
    "rent_overdue": ("逾期未缴的租金 {n} 笔", "Rent overdue: {n}", "/properties/leases"),
}  # fmt: skip


def line_words(code: str, n: int, kind: str = "") -> tuple[str, str]:
    """One line of a digest in the configured language, and the page it links to."""
    zh, en, url = LINES.get(code, (code, code, "/"))
    label = label_of("FlagKind", kind) if kind else ""
    return tr(zh, en).format(n=n, kind=label), url.format(code=kind)


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def words(kind: str, params: Mapping[str, Any] | None) -> tuple[str, str]:
    """(title, body) of a notification in the configured language."""
    if kind == "digest":
        lines = [line_words(*line)[0] for line in (params or {}).get("lines", [])]
        day = (params or {}).get("date", "")
        return tr(f"每日提醒 {day}", f"Morning digest {day}"), ("；" if not _en() else "; ").join(lines)
    zh_t, en_t, zh_b, en_b = KINDS.get(kind, (kind, kind, "", ""))
    values = _Blank(params or {})
    if values.get("kind"):
        values["kind_label"] = label_of("FlagKind", values["kind"])
    if isinstance(values.get("reasons"), list):
        codes = values["reasons"]
        values["reasons"] = tr("、".join(REASONS.get(c, (c, c))[0] for c in codes),
                               ", ".join(REASONS.get(c, (c, c))[1] for c in codes))  # fmt: skip
    return tr(zh_t, en_t), tr(zh_b.format_map(values), en_b.format_map(values))


def users(session: Session, roles: Iterable[str], unit_id: int | None = None) -> list[User]:
    """The active users of these roles; a unit-bound role only within `unit_id` (when one is given, and
    never another unit's: what is sent is scoped like what is shown)."""
    wanted = list(roles)
    found = session.exec(
        select(User).where(col(User.role).in_(wanted), col(User.is_active).is_(True)).order_by(col(User.id))
    ).all()
    return [u for u in found if u.role not in UNIT_ROLES or (unit_id is not None and u.unit_id == unit_id)]


def _en() -> bool:
    return tr("zh", "en") == "en"


def active_users(session: Session) -> list[User]:
    return list(session.exec(select(User).where(col(User.is_active).is_(True)).order_by(col(User.username))))


def by_id(session: Session, user_id: int | None) -> list[User]:
    user = session.get(User, user_id) if user_id is not None else None
    return [user] if user is not None and user.is_active else []


def by_username(session: Session, username: str, unit_id: int | None = None) -> list[User]:
    """The user of that name, if active — and, for a unit-bound role, still of `unit_id` when given."""
    user = session.exec(select(User).where(User.username == username)).first() if username else None
    if user is None or not user.is_active:
        return []
    if unit_id is not None and user.role in UNIT_ROLES and user.unit_id != unit_id:
        return []  # moved to another unit since: the old unit's orders are not theirs to hear of
    return [user]


def notify(
    session: Session, recipients: Sequence[User], kind: str, params: Mapping[str, Any], *, url: str, key: str
) -> int:
    """One notification of `kind` for each recipient, unless they have this `key` already; how many new."""
    ids = sorted({u.id for u in recipients if u.id is not None})
    if not ids:
        return 0
    have = set(
        session.exec(
            select(Notification.user_id).where(col(Notification.user_id).in_(ids), Notification.key == key)
        ).all()
    )
    new = [
        Notification(user_id=i, kind=kind, params=dict(params), url=url, key=key[:120])
        for i in ids
        if i not in have
    ]
    session.add_all(new)
    session.flush()
    _enqueue(session, new)
    return len(new)


def _enqueue(session: Session, notes: Sequence[Notification]) -> None:
    """A delivery for each channel of the recipient that wants this kind, due now or when its quiet hours
    end (China time) — in the transaction that wrote the notification: the outbox."""
    if not notes:
        return
    channels = session.exec(
        select(NotifyChannel).where(
            col(NotifyChannel.user_id).in_({n.user_id for n in notes}), col(NotifyChannel.is_active).is_(True)
        )
    ).all()
    if not channels:
        return
    now = utcnow()
    local = to_china(now)
    minute = local.hour * 60 + local.minute
    for note in notes:
        for ch in channels:
            if ch.user_id != note.user_id or (ch.digest_only and note.kind != "digest"):
                continue
            if ch.kinds and note.kind not in ch.kinds:
                continue
            wait = rules.quiet_wait_minutes(minute, ch.quiet_from, ch.quiet_to)
            due = now + timedelta(minutes=wait)
            session.add(Delivery(notification_id=note.id or 0, channel_id=ch.id or 0, next_at=due))
    session.flush()


def unread_count(session: Session, user_id: int) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, col(Notification.read_at).is_(None))
        ).one()
    )


def inbox(
    session: Session, user_id: int, *, limit: int = 100, unread_only: bool = False
) -> list[Notification]:
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        stmt = stmt.where(col(Notification.read_at).is_(None))
    return list(session.exec(stmt.order_by(col(Notification.id).desc()).limit(limit)).all())


def mark_read(session: Session, user_id: int, ids: Sequence[int] | None = None) -> int:
    """Mark one's own notifications read (all unread ones when no ids are given); how many."""
    stmt = select(Notification).where(Notification.user_id == user_id, col(Notification.read_at).is_(None))
    if ids is not None:
        stmt = stmt.where(col(Notification.id).in_(list(ids)))
    rows = session.exec(stmt).all()
    now = utcnow()
    for row in rows:
        row.read_at = now
        session.add(row)
    session.flush()
    return len(rows)


def add_channel(
    session: Session,
    user: User,
    url: str,
    *,
    actor: str,
    kinds: Sequence[str] = (),
    quiet: tuple[str, str] = ("", ""),
    digest_only: bool = False,
) -> NotifyChannel:
    """A channel of `user` (audit-logged as `actor`); a bad URL is refused saying what one looks like."""
    from core import audit
    from core.errors import ValidationFailed
    from core.settings import get_settings

    problem = rules.channel_problem(url.strip(), get_settings().notify_robot_hosts)
    if problem:
        raise ValidationFailed(problem)
    ch = NotifyChannel(user_id=user.id or 0, url=url.strip(), kinds=list(kinds) or None, quiet_from=quiet[0],
                       quiet_to=quiet[1], digest_only=digest_only)  # fmt: skip
    session.add(ch)
    session.flush()
    shown = url.split("?", 1)[0]  # never the robot's token or secret in the log
    audit.record(
        session, actor=actor, action="notify_channel.create", entity="core_notify_channel", entity_id=ch.id,
        after={"user": user.username, "url": shown}, detail=f"channel {shown}",
    )  # fmt: skip
    return ch


def channels_of(session: Session, user_id: int) -> list[NotifyChannel]:
    return list(
        session.exec(
            select(NotifyChannel)
            .where(NotifyChannel.user_id == user_id, col(NotifyChannel.is_active).is_(True))
            .order_by(col(NotifyChannel.id))
        ).all()
    )


def remove_channel(session: Session, user_id: int, channel_id: int, *, actor: str) -> None:
    """Switch off one of one's own channels (kept for its deliveries' history; audit-logged)."""
    from core import audit
    from core.errors import NotFound

    ch = session.get(NotifyChannel, channel_id)
    if ch is None or ch.user_id != user_id or not ch.is_active:
        raise NotFound(tr("没有这个渠道", "no such channel"))
    ch.is_active = False
    session.add(ch)
    session.flush()
    audit.record(
        session, actor=actor, action="notify_channel.remove", entity="core_notify_channel", entity_id=ch.id,
        after={"url": ch.url.split("?", 1)[0]}, detail="channel removed",
    )  # fmt: skip


def shown_url(url: str) -> str:
    """A channel as a page shows it: never a robot's token or secret."""
    return url.split("?", 1)[0]
