"""Users, passwords, tokens and sign-in: the use-cases behind `gongwu user ...`, the auth API and the login
page. The session is passed in first and never committed here.

- Passwords: argon2id (argon2-cffi), at least 10 characters, not the username, not a well-known one.
- Tokens: `secrets.token_urlsafe`, kept only as their SHA-256 hash and shown once. `kind` api is a bearer
  token (GONGWU_TOKEN_DAYS, default 90 days); `kind` session is a web sign-in carried by the session cookie
  (GONGWU_SESSION_HOURS absolute, GONGWU_SESSION_IDLE_MINUTES idle). Revoked, expired, or of a disabled
  user: refused. Disabling a user revokes all their tokens; a new password revokes their web sign-ins.
- Throttling: GONGWU_LOGIN_MAX_FAILURES consecutive failures lock the account for GONGWU_LOGIN_LOCK_MINUTES
  (even the right password is refused meanwhile); an unknown username is throttled the same way in memory.
- Every change and every sign-in, failed or not, is in the audit log; never a password or token.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from accounts.models import ROLES, UNIT_ROLES, ApiToken, LoginThrottle, Secret, User
from accounts.rules import (
    USERNAME_RE,
    new_token,
    password_problem,
    random_password,
    token_hash,
)
from core import audit
from core.errors import Conflict, NotAuthenticated, NotFound, TooManyAttempts, ValidationFailed
from core.i18n import tr
from core.logs import log
from core.models import Unit
from core.settings import get_settings
from core.timeutil import utcnow

logger = logging.getLogger(__name__)

LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is refreshed at most this often (fewer writes)

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


# --- passwords ----------------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# A hash of a random string, verified against when the username is unknown: the same work either way,
# so the time a refusal takes does not tell whether the user exists.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def check_password(password: str, username: str = "") -> None:
    problem = password_problem(password, username)
    if problem:
        raise ValidationFailed(problem)


# --- tokens -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user as authenticated by a token (`via` bearer) or the session cookie."""

    user_id: int
    username: str
    role: str
    unit_id: int | None
    token_id: int | None = None
    via: str = "bearer"  # bearer | cookie | cli
    session_hash: str = ""  # the session token's hash (cookie only): what CSRF tokens are bound to

    @property
    def scope_unit_id(self) -> int | None:
        """The one unit this principal may see, or None for every unit."""
        return self.unit_id if self.role in UNIT_ROLES else None


def create_token(
    session: Session,
    user: User,
    *,
    actor: str,
    name: str = "",
    kind: str = "api",
    days: int | None = None,
    hours: int | None = None,
    capped: bool = False,
) -> tuple[ApiToken, str]:
    """A new token for `user`: the row and the clear token, which is never stored and never shown again.
    Lifetime: `hours`, else `days`, else GONGWU_TOKEN_DAYS (api) / GONGWU_SESSION_HOURS (session); 0: none.
    `capped` (a token made over the API by its own user): at most GONGWU_TOKEN_MAX_DAYS, never endless, so
    a token taken from a browser or a script cannot outlive the rules."""
    settings = get_settings()
    if kind not in ("api", "session"):
        raise ValidationFailed(f"unknown token kind {kind!r}")
    if not user.is_active:
        raise ValidationFailed(tr(f"用户 {user.username} 已停用", f"user {user.username} is disabled"))
    if hours is None and days is None:
        hours = settings.session_hours if kind == "session" else settings.token_days * 24
    most = settings.token_max_days
    if capped and most > 0:
        if days is None and hours is not None and (hours == 0 or hours > most * 24):
            hours = most * 24  # the default lifetime, cut to the cap
        elif days is not None and (days == 0 or days > most):
            raise ValidationFailed(
                tr(
                    f"令牌有效期最长 {most} 天（GONGWU_TOKEN_MAX_DAYS），不能"
                    + ("永不过期" if days == 0 else f"为 {days} 天"),
                    f"a token lives at most {most} days (GONGWU_TOKEN_MAX_DAYS), not "
                    + ("forever" if days == 0 else f"{days} days"),
                )
            )
    lifetime = timedelta(hours=hours) if hours is not None else timedelta(days=days or 0)
    if lifetime < timedelta(0):
        raise ValidationFailed("lifetime cannot be negative")
    clear = new_token()
    now = utcnow()
    assert user.id is not None
    row = ApiToken(
        user_id=user.id,
        name=name.strip()[:100],
        kind=kind,
        token_hash=token_hash(clear),
        created_at=now,
        expires_at=now + lifetime if lifetime else None,
    )
    session.add(row)
    session.flush()
    if kind == "api":  # a web sign-in is audited as the login itself
        audit.record(
            session, actor=actor, action="token.create", entity="core_api_token", entity_id=row.id,
            after=token_state(row, user.username),
        )  # fmt: skip
    return row, clear


def token_state(row: ApiToken, username: str = "") -> dict[str, Any]:
    """A token as the audit log and the API show it: never its hash."""
    return {
        "id": row.id,
        "user": username,
        "name": row.name,
        "kind": row.kind,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }


def revoke_token(session: Session, token_id: int, *, actor: str, user_id: int | None = None) -> ApiToken:
    """Revoke one token; with `user_id`, only if it is that user's (else NotFound: no existence leak)."""
    row = session.get(ApiToken, token_id)
    if row is None or (user_id is not None and row.user_id != user_id):
        raise NotFound(tr(f"令牌 {token_id} 不存在", f"token {token_id} not found"))
    if row.revoked_at is None:
        before = token_state(row)
        row.revoked_at = utcnow()
        session.add(row)
        audit.record(
            session, actor=actor, action="token.revoke", entity="core_api_token", entity_id=row.id,
            before=before, after=token_state(row),
        )  # fmt: skip
        session.flush()
    return row


def _revoke_all(session: Session, user_id: int, *, kind: str | None = None, keep: int | None = None) -> int:
    stmt = select(ApiToken).where(ApiToken.user_id == user_id, col(ApiToken.revoked_at).is_(None))
    if kind:
        stmt = stmt.where(ApiToken.kind == kind)
    if keep is not None:
        stmt = stmt.where(ApiToken.id != keep)
    now = utcnow()
    rows = list(session.exec(stmt).all())
    for row in rows:
        row.revoked_at = now
        session.add(row)
    return len(rows)


def principal_for_token(session: Session, token: str, *, kind: str) -> Principal | None:
    """The principal a clear token of `kind` stands for, or None when it is unknown, revoked, expired,
    idle too long (sessions) or its user is disabled."""
    if not token or len(token) > 200:
        return None
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == token_hash(token))).first()
    now = utcnow()
    if row is None or row.kind != kind or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    if kind == "session":
        idle = timedelta(minutes=get_settings().session_idle_minutes)
        if (row.last_used_at or row.created_at) + idle <= now:
            return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active or user.id is None:
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        row.last_used_at = now
        session.add(row)
        session.flush()
    return Principal(
        user_id=user.id,
        username=user.username,
        role=user.role,
        unit_id=user.unit_id,
        token_id=row.id,
        via="cookie" if kind == "session" else "bearer",
        session_hash=row.token_hash if kind == "session" else "",
    )


def list_tokens(session: Session, user_id: int, *, include_dead: bool = False) -> list[ApiToken]:
    stmt = select(ApiToken).where(ApiToken.user_id == user_id).order_by(col(ApiToken.id))
    rows = list(session.exec(stmt).all())
    if include_dead:
        return rows
    now = utcnow()
    return [r for r in rows if r.revoked_at is None and (r.expires_at is None or r.expires_at > now)]


# --- users --------------------------------------------------------------------------------------------


def user_state(user: User) -> dict[str, Any]:
    """A user as the audit log keeps it: never the password hash."""
    return {
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "unit_id": user.unit_id,
        "is_active": user.is_active,
    }


def get_user(session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(tr(f"用户 {username} 不存在", f"user {username} not found"))
    return user


def _check_role_unit(session: Session, role: str, unit_id: int | None) -> None:
    if role not in ROLES:
        raise ValidationFailed(
            tr(
                f"未知角色 {role!r}, 可选 {', '.join(ROLES)}",
                f"unknown role {role!r}: one of {', '.join(ROLES)}",
            )
        )
    if role in UNIT_ROLES:
        if unit_id is None:
            raise ValidationFailed(tr(f"{role} 必须指定单位（--unit）", f"a {role} needs a unit (--unit)"))
        if session.get(Unit, unit_id) is None:
            raise ValidationFailed(tr(f"单位 {unit_id} 不存在", f"unit {unit_id} not found"))
    elif unit_id is not None:
        units = ", ".join(sorted(UNIT_ROLES))
        raise ValidationFailed(
            tr(f"只有 {units} 绑定单位，{role} 不绑定", f"only {units} are bound to a unit, not {role}")
        )


def resolve_unit(session: Session, unit: str | int | None) -> int | None:
    """A unit given by id or by name → its id."""
    if unit is None or unit == "":
        return None
    if isinstance(unit, int) or str(unit).isdigit():
        found = session.get(Unit, int(unit))
    else:
        found = session.exec(select(Unit).where(Unit.name == str(unit).strip())).first()
    if found is None or found.id is None:
        raise ValidationFailed(tr(f"单位 {unit} 不存在", f"unit {unit} not found"))
    return found.id


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    actor: str,
    unit_id: int | None = None,
    display_name: str = "",
) -> User:
    username = username.strip()
    if not USERNAME_RE.fullmatch(username):
        raise ValidationFailed(
            tr("用户名须为 2–64 个字母、数字或 _ . @ -", "username: 2–64 letters, digits or _ . @ -")
        )
    _check_role_unit(session, role, unit_id)
    check_password(password, username)
    if session.exec(select(User.id).where(User.username == username)).first() is not None:
        raise Conflict(tr(f"用户 {username} 已存在", f"user {username} already exists"))
    user = User(
        username=username,
        display_name=display_name.strip()[:100],
        password_hash=hash_password(password),
        role=role,
        unit_id=unit_id,
    )
    session.add(user)
    session.flush()
    audit.record(
        session, actor=actor, action="user.create", entity="core_user", entity_id=username,
        after=user_state(user),
    )  # fmt: skip
    log(logger, "user created", user=username, role=role, actor=actor)
    return user


_UNSET: Any = object()


def update_user(
    session: Session,
    username: str,
    *,
    actor: str,
    role: str | None = None,
    unit_id: int | None = _UNSET,
    display_name: str | None = None,
    is_active: bool | None = None,
) -> User:
    """Change role, unit, display name or active flag. Disabling revokes every token and sign-in."""
    user = get_user(session, username)
    before = user_state(user)
    new_role = role if role is not None else user.role
    new_unit = user.unit_id if unit_id is _UNSET else unit_id
    if new_role not in UNIT_ROLES and unit_id is _UNSET:
        new_unit = None  # leaving a unit role drops the unit
    _check_role_unit(session, new_role, new_unit)
    stays_admin = new_role == "admin" and (is_active if is_active is not None else user.is_active)
    if user.role == "admin" and user.is_active and not stays_admin:
        others = select(User.id).where(User.role == "admin", col(User.is_active), User.id != user.id)
        if session.exec(others).first() is None:
            raise ValidationFailed(
                tr(
                    f"{username} 是唯一的管理员, 请先添加另一位管理员",
                    f"{username} is the last active admin: add another first",
                )
            )
    user.role, user.unit_id = new_role, new_unit
    if display_name is not None:
        user.display_name = display_name.strip()[:100]
    revoked = 0
    if is_active is not None and is_active != user.is_active:
        user.is_active = is_active
        if not is_active:
            assert user.id is not None
            revoked = _revoke_all(session, user.id)
    after = user_state(user)
    if after != before:
        session.add(user)
        action = "user.disable" if before["is_active"] and not after["is_active"] else "user.update"
        audit.record(
            session, actor=actor, action=action, entity="core_user", entity_id=username, before=before,
            after=after, detail=f"{revoked} tokens revoked" if revoked else "",
        )  # fmt: skip
        log(logger, action.replace(".", " "), user=username, actor=actor)
    session.flush()
    return user


def set_password(
    session: Session, username: str, password: str, *, actor: str, keep_token_id: int | None = None
) -> User:
    """A new password: it also unlocks the account and revokes the user's tokens, web sign-ins and API
    tokens alike (a token must not outlive the password it was got with), but `keep_token_id`: the token
    making the change, so the one changing their own password is not signed out by it."""
    user = get_user(session, username)
    check_password(password, user.username)
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    session.add(user)
    assert user.id is not None
    ended = _revoke_all(session, user.id, keep=keep_token_id)
    audit.record(
        session, actor=actor, action="user.set_password", entity="core_user", entity_id=username,
        detail="password changed" + (f", {ended} tokens and sign-ins revoked" if ended else ""),
    )  # fmt: skip
    log(logger, "password changed", user=username, actor=actor)
    session.flush()
    return user


def unlock_user(session: Session, username: str, *, actor: str) -> User:
    """Lift the account's lock and every address's lock-out on it."""
    user = get_user(session, username)
    pairs = list(session.exec(select(LoginThrottle).where(LoginThrottle.user_id == user.id)).all())
    if user.failed_logins or user.locked_until or pairs:
        before = {
            "failed_logins": user.failed_logins,
            "locked_until": _iso(user.locked_until),
            "addresses_locked_out": sum(1 for p in pairs if p.locked_until),
        }
        user.failed_logins, user.locked_until = 0, None
        session.add(user)
        for p in pairs:
            session.delete(p)
        audit.record(
            session, actor=actor, action="user.unlock", entity="core_user", entity_id=username,
            before=before, after={"failed_logins": 0, "locked_until": None, "addresses_locked_out": 0},
        )  # fmt: skip
        session.flush()
    return user


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


# --- sign-in ------------------------------------------------------------------------------------------


class _MemoryThrottle:
    """Failures per key in a sliding window, in this process: for unknown usernames (which have no row to
    count on) and per client address (password spraying across many accounts)."""

    def __init__(self) -> None:
        self._fails: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, window: float, now: float) -> list[float]:
        kept = [t for t in self._fails.get(key, []) if now - t < window]
        if kept:
            self._fails[key] = kept
        else:
            self._fails.pop(key, None)
        return kept

    def retry_after(self, key: str, limit: int, window: float) -> int:
        now = time.monotonic()
        with self._lock:
            recent = self._recent(key, window, now)
            return int(window - (now - recent[-limit])) + 1 if len(recent) >= limit else 0

    def fail(self, key: str) -> None:
        with self._lock:
            self._fails.setdefault(key, []).append(time.monotonic())
            if len(self._fails) > 10_000:  # bounded memory under a flood of random names
                self._fails.pop(next(iter(self._fails)))

    def clear(self, key: str) -> None:
        with self._lock:
            self._fails.pop(key, None)


_throttle = _MemoryThrottle()


def reset_throttle() -> None:
    """Forget in-memory failures (tests; a restart does the same)."""
    global _throttle
    _throttle = _MemoryThrottle()


ADDRESS_MAX_FAILURES = 30  # per client address and lock window, across usernames


def _login_failed() -> str:
    return tr("用户名或密码错误", "wrong username or password")


def _locked_message(until_s: int) -> str:
    minutes = max(1, (until_s + 59) // 60)
    return tr(
        f"登录失败次数过多，请 {minutes} 分钟后再试", f"too many failed sign-ins: try again in {minutes} min"
    )


def authenticate_password(session: Session, username: str, password: str, *, client: str = "") -> User:
    """The user whose username and password these are. Raises NotAuthenticated (wrong, unknown or disabled:
    one message) or TooManyAttempts (locked). Counters and audit rows are written either way: the caller
    must commit even when this raises."""
    settings = get_settings()
    window = settings.login_lock_minutes * 60
    now = utcnow()
    address_key = f"addr:{client}"
    wait = _throttle.retry_after(address_key, ADDRESS_MAX_FAILURES, window)
    if wait:
        log(logger, "sign-in throttled", client=client)
        raise TooManyAttempts(_locked_message(wait), wait)
    user = session.exec(select(User).where(User.username == username)).first() if username else None
    if user is None:
        unknown_key = f"user:{hashlib.sha256(username.encode()).hexdigest()}"
        wait = _throttle.retry_after(unknown_key, settings.login_max_failures, window)
        verify_password(_DUMMY_HASH, password)
        _throttle.fail(address_key)
        if wait:
            raise TooManyAttempts(_locked_message(wait), wait)
        _throttle.fail(unknown_key)
        # The attempted name is not recorded: people type their password into the username field.
        audit.record(
            session, actor="anonymous", action="login.failed", entity="core_user",
            detail=f"unknown username from {client or '?'}",
        )  # fmt: skip
        log(logger, "sign-in failed", reason="unknown user", client=client)
        raise NotAuthenticated(_login_failed())
    pair = session.get(LoginThrottle, (user.id, client[:64]))
    stale = pair is not None and pair.first_at + timedelta(seconds=window) <= now
    if pair is not None and stale and (not pair.locked_until or pair.locked_until <= now):
        pair.failures, pair.first_at, pair.locked_until = 0, now, None  # an old window: count anew
    right = verify_password(user.password_hash, password)  # always: a refusal takes as long as a check
    locks = [t for t in (user.locked_until, pair.locked_until if pair else None) if t and t > now]
    if locks:
        wait = int((max(locks) - now).total_seconds()) + 1
        audit.record(
            session, actor=user.username, action="login.refused", entity="core_user",
            entity_id=user.username, detail=f"locked for this address, from {client or '?'}",
        )  # fmt: skip
        log(logger, "sign-in refused: locked", user=user.username, client=client)
        raise TooManyAttempts(_locked_message(wait), wait)
    if not right or not user.is_active:
        _throttle.fail(address_key)
        reason = "disabled" if user.is_active is False else "wrong password"
        detail = f"{reason}, from {client or '?'}"
        if reason == "wrong password":
            if pair is None:
                assert user.id is not None
                pair = LoginThrottle(user_id=user.id, client=client[:64], first_at=now)
            pair.failures += 1
            if pair.failures >= settings.login_max_failures:
                pair.locked_until = now + timedelta(seconds=window)
                detail += f"; this address locked out until {pair.locked_until.isoformat()}"
            session.add(pair)
            user.failed_logins += 1
            if user.failed_logins >= settings.login_account_max_failures:
                user.locked_until = now + timedelta(seconds=window)
                detail += f"; account locked until {user.locked_until.isoformat()}"
            session.add(user)
        audit.record(
            session, actor=user.username, action="login.failed", entity="core_user", entity_id=user.username,
            detail=detail,
        )  # fmt: skip
        log(logger, "sign-in failed", user=user.username, reason=reason, client=client)
        session.flush()
        raise NotAuthenticated(_login_failed())
    if pair is not None:
        session.delete(pair)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    session.add(user)
    session.flush()
    return user


def record_login(session: Session, user: User, token: ApiToken, *, how: str, client: str = "") -> None:
    audit.record(
        session, actor=user.username, action="login.succeeded", entity="core_user", entity_id=user.username,
        after={"token_id": token.id, "kind": token.kind}, detail=f"{how}, from {client or '?'}",
    )  # fmt: skip
    log(logger, "signed in", user=user.username, how=how, client=client)


def logout(session: Session, principal: Principal) -> None:
    if principal.token_id is None:
        return
    row = session.get(ApiToken, principal.token_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        audit.record(
            session, actor=principal.username, action="login.ended", entity="core_user",
            entity_id=principal.username, after={"token_id": row.id, "kind": row.kind},
        )  # fmt: skip
        session.flush()


# --- server secret ------------------------------------------------------------------------------------


def server_secret(session: Session) -> tuple[str, bool]:
    """GONGWU_SECRET_KEY, or the installation's generated key kept in the database (created on first use,
    safely when two processes race). Also says whether it is settled: configured or already committed
    before this transaction (a key created here is not, until the transaction commits)."""
    configured = get_settings().secret_key
    if configured:
        return configured, True
    row = session.get(Secret, "secret_key")
    if row is not None:
        return row.value, True
    try:
        with session.begin_nested():
            session.add(Secret(name="secret_key", value=secrets.token_urlsafe(48)))
    except IntegrityError:
        pass  # another process created it first
    row = session.get(Secret, "secret_key")
    assert row is not None
    return row.value, False


# --- demo ---------------------------------------------------------------------------------------------

DEMO_USERS: Mapping[str, str] = {
    "demo_admin": "admin",
    "demo_fleet": "vehicle_manager",
    "demo_property": "property_clerk",
    "demo_unit": "unit_viewer",
    "demo_staff": "unit_staff",
    "demo_approver": "unit_approver",
    "demo_driver": "driver",
    "demo_auditor": "auditor",
}


def create_demo_users(session: Session, unit_name: str, *, actor: str = "demo") -> dict[str, str]:
    """One user per role with a random password (the unit viewer bound to `unit_name`): username →
    password, to be printed once. Existing demo users get a new password."""
    unit_id = resolve_unit(session, unit_name)
    out: dict[str, str] = {}
    for username, role in DEMO_USERS.items():
        password = random_password()
        while password_problem(password, username):
            password = random_password()
        existing = session.exec(select(User).where(User.username == username)).first()
        if existing is None:
            create_user(
                session, username=username, password=password, role=role, actor=actor,
                unit_id=unit_id if role in UNIT_ROLES else None, display_name=f"演示 {role}",
            )  # fmt: skip
        else:
            set_password(session, username, password, actor=actor)
        out[username] = password
    return out
