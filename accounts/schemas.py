"""The accounts API's request and response shapes (the tables never leak into the API)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from accounts.models import Role
from core.api import Body


class TokenRequest(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    name: str = Field(default="", max_length=100, description="a label for the token")


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    token_id: int
    expires_at: datetime | None


class MeOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    unit_id: int | None
    unit: str | None
    permissions: list[str]
    csrf_token: str | None = Field(
        default=None, description="signed in by the session cookie: send it as X-CSRF-Token on changes"
    )


class TokenPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreate(Body):
    name: str = Field(default="", max_length=100)
    days: int | None = Field(
        default=None, ge=0, le=3650, description="lifetime in days, at most GONGWU_TOKEN_MAX_DAYS (365)"
    )


class TokenCreated(TokenPublic):
    token: str = Field(description="the token itself: shown this once, never stored")


class PasswordChange(Body):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: str
    unit_id: int | None
    is_active: bool
    failed_logins: int
    locked_until: datetime | None
    last_login_at: datetime | None
    created_at: datetime


class UserCreate(Body):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    role: Role
    unit_id: int | None = None
    display_name: str = Field(default="", max_length=100)


class UserUpdate(Body):
    role: Role | None = None
    unit_id: int | None = None
    display_name: str | None = Field(default=None, max_length=100)
    is_active: bool | None = None


class PasswordSet(Body):
    password: str = Field(max_length=1024)


class AuditPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: str


class AuditFilters(BaseModel):
    """What the audit log reader filters on."""

    actor: str | None = None
    action: str | None = None
    entity: str | None = None
    entity_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None


class NotificationOut(BaseModel):
    id: int
    kind: str
    title: str
    body: str
    url: str
    created_at: datetime
    read_at: datetime | None


class ReadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[int] | None = None  # None: every unread one
