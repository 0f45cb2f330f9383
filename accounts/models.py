"""Accounts: users with their role (and unit, for unit-scoped roles), their API tokens and web sign-ins,
and the server secrets generated on first use."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.labels import Coded
from core.models import UtcDateTime, created_at_field, json_field


class Role(Coded):
    """A user's role: what they may do is in accounts/permissions.py."""

    admin = "admin", "系统管理员", "Administrator"
    vehicle_manager = "vehicle_manager", "公车管理员", "Vehicle manager"
    property_clerk = "property_clerk", "资产管理员", "Property clerk"
    unit_viewer = "unit_viewer", "单位用户", "Unit viewer"
    unit_staff = "unit_staff", "申请人", "Unit staff"  # requests trips for their unit, answers its flags
    unit_approver = "unit_approver", "单位审批人", "Unit approver"  # approves their unit's requests
    driver = "driver", "驾驶员", "Driver"  # linked to a driver record: drives the orders dispatched to them
    auditor = "auditor", "监督检查", "Auditor"


ROLES = Role.codes()
# Bound to one unit and scoped to it in every query.
UNIT_ROLES = frozenset({Role.unit_viewer, Role.unit_staff, Role.unit_approver, Role.driver})


class TokenKind(Coded):
    api = "api", "API 令牌", "API token"
    session = "session", "网页登录", "web sign-in"


class User(SQLModel, table=True):
    __tablename__ = "core_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(default="", max_length=100)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=32)
    unit_id: int | None = Field(default=None, foreign_key="core_unit.id")
    is_active: bool = True
    failed_logins: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    created_at: datetime = created_at_field()


class ApiToken(SQLModel, table=True):
    """A bearer token (`kind` api) or a web sign-in (`kind` session, carried by the session cookie); only
    its SHA-256 hash is kept, the clear token is shown once. Revoked, expired or of a disabled user: dead."""

    __tablename__ = "core_api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="core_user.id", index=True)
    name: str = Field(default="", max_length=100)
    kind: str = Field(default="api", max_length=16, sa_column_kwargs={"server_default": "api"})
    token_hash: str = Field(max_length=128, unique=True)
    created_at: datetime = created_at_field()
    expires_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class Secret(SQLModel, table=True):
    """Server secrets generated on first use when not configured (the key that signs CSRF tokens), so
    every process and host of one installation shares them and a restart changes nothing."""

    __tablename__ = "core_secret"

    name: str = Field(max_length=64, primary_key=True)
    value: str = Field(max_length=255)
    created_at: datetime = created_at_field()


class LoginThrottle(SQLModel, table=True):
    """Wrong passwords for one user from one client address in the current window: that pair is refused
    for a while, not the account, so guessing from one place cannot lock the owner (or the only admin) out
    everywhere. In the database, so every worker shares it and `gongwu user unlock` lifts it."""

    __tablename__ = "core_login_throttle"

    user_id: int = Field(foreign_key="core_user.id", primary_key=True)
    client: str = Field(max_length=64, primary_key=True)
    failures: int = 0
    first_at: datetime = Field(sa_type=UtcDateTime)
    locked_until: datetime | None = Field(default=None, sa_type=UtcDateTime)


class Notification(SQLModel, table=True):
    """A message to one user (the in-app inbox, and the outbox the channels deliver from): written in the
    transaction of what caused it, as a kind and its parameters — its text is worded when shown, in the
    language of the moment. `key` makes it once per user and event (a re-run writes nothing new)."""

    __tablename__ = "core_notification"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        Index("ix_core_notification_user_read", "user_id", "read_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="core_user.id")
    kind: str = Field(max_length=32)
    params: dict[str, Any] | None = json_field()
    url: str = Field(default="", max_length=300)
    key: str = Field(max_length=120)
    created_at: datetime = created_at_field()
    read_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class NotifyChannel(SQLModel, table=True):
    """Where a user wants to be told besides the inbox: an address (`mailto:a@b.gov.cn`), a DingTalk custom
    robot (`dingtalk+https://oapi.dingtalk.com/robot/send?access_token=…&secret=SEC…`) or a WeCom group
    robot (`wecom+https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…`); which kinds (none: all), quiet
    hours (China time) and whether only the digest."""

    __tablename__ = "core_notify_channel"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="core_user.id", index=True)
    url: str = Field(max_length=500)
    kinds: list[str] | None = json_field()
    quiet_from: str = Field(default="", max_length=5)  # "22:00": held until quiet_to
    quiet_to: str = Field(default="", max_length=5)
    digest_only: bool = False
    is_active: bool = True
    created_at: datetime = created_at_field()


class Delivery(SQLModel, table=True):
    """One notification through one channel: queued → sending → sent, or failed after its retries. Claimed
    (`sending`, committed) before the send and marked after it, so a sender killed between the two leaves
    `sending`, which the next sender marks failed rather than sending twice."""

    __tablename__ = "core_delivery"
    __table_args__ = (
        UniqueConstraint("notification_id", "channel_id"),
        Index("ix_core_delivery_due", "state", "next_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    notification_id: int = Field(foreign_key="core_notification.id")
    channel_id: int = Field(foreign_key="core_notify_channel.id")
    state: str = Field(default="queued", max_length=16)
    attempts: int = 0
    next_at: datetime = Field(sa_type=UtcDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    error: str = Field(default="", max_length=500)
