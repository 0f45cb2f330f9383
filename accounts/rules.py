"""Account rules as pure functions: what makes a password acceptable, how tokens look and are hashed,
how CSRF tokens are made and checked. No database here."""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence

from core.i18n import tr

PASSWORD_MIN_LENGTH = 10
USERNAME_RE = re.compile(r"[\w.@-]{2,64}")
TOKEN_PREFIX = "gw_"  # recognisable in a leaked paste or a secret scanner
# Chinese favourites the (Western) zxcvbn lists lack, refused whatever their length (lower-cased).
COMMON_PASSWORDS = frozenset(
    {
        "1234567890", "12345678910", "0123456789", "1qaz2wsx3edc", "qwertyuiop", "1q2w3e4r5t",
        "password123", "password1234", "passw0rd123", "admin12345", "admin123456", "administrator",
        "abc1234567", "abcdefghij", "iloveyou12", "woaini1314", "woaini520520", "a123456789",
        "aa12345678", "qwerty12345", "letmein123", "welcome123", "gongwu12345", "1111111111",
    }
)  # fmt: skip


def password_problem(password: str, username: str = "") -> str | None:
    """Why a password is too weak, or None. Beyond length and the username: zxcvbn (a maintained port of
    Dropbox's estimator) refuses its 30,000 most common passwords and what is guessed as fast (keyboard
    walks, dates, names, l33t spellings: score under 2)."""
    if len(password) < PASSWORD_MIN_LENGTH:
        n = PASSWORD_MIN_LENGTH
        return tr(f"密码至少 {n} 个字符", f"password must have at least {n} characters")
    lowered = password.lower()
    if username and username.lower() in lowered:
        return tr("密码不能包含用户名", "password must not contain the username")
    too_common = tr("密码过于常见或简单", "password is too common or too simple")
    if lowered in COMMON_PASSWORDS or len(set(password)) < 4 or lowered in _zxcvbn_common():
        return too_common
    from zxcvbn import zxcvbn

    if zxcvbn(password[:100], user_inputs=[username, "gongwu"] if username else ["gongwu"])["score"] < 2:
        return too_common
    return None


@functools.cache
def _zxcvbn_common() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def random_password() -> str:
    return secrets.token_urlsafe(12)  # 16 characters, ~96 bits


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_for(secret: str, binding: str) -> str:
    """A CSRF token bound to `binding` (a session's token hash, or the login form's nonce)."""
    return hmac.new(secret.encode(), f"csrf:{binding}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: str, binding: str, presented: str | None) -> bool:
    return bool(binding and presented) and hmac.compare_digest(csrf_for(secret, binding), presented or "")


# --- notifications -----------------------------------------------------------------------------------

CHANNEL_SCHEMES = ("mailto:", "dingtalk+https://", "dingtalk+http://", "wecom+https://", "wecom+http://")
ROBOT_HOSTS = ("oapi.dingtalk.com", "qyapi.weixin.qq.com")  # GONGWU_NOTIFY_ROBOT_HOSTS adds a county's own
DELIVERY_TRIES = 6  # then failed: 1, 2, 4, 8, 16 minutes apart (about half an hour)


def channel_problem(url: str, robot_hosts: Sequence[str] = ROBOT_HOSTS) -> str | None:
    """What is wrong with a channel URL, or None. A robot's webhook must be on one of `robot_hosts` (the
    robots' own, by default): the server must never be made to post to an address a user picked."""
    if not url.startswith(CHANNEL_SCHEMES):
        return tr(
            "渠道须为 mailto:地址、dingtalk+https://…（机器人 Webhook，可带 &secret=）或 wecom+https://…",
            "a channel is mailto:address, dingtalk+https://… (a robot webhook, &secret= to sign) or wecom+https://…",
        )
    if url.startswith("mailto:"):
        if not re.fullmatch(r"mailto:[^@\s]+@[^@\s]+\.[^@\s]+", url):
            return tr(f"邮件地址不对：{url[7:]}", f"not an e-mail address: {url[7:]}")
        return None
    from urllib.parse import urlsplit

    host = (urlsplit(url.split("+", 1)[1]).hostname or "").lower()
    if host not in {h.strip().lower() for h in robot_hosts if h.strip()}:
        allowed = ", ".join(robot_hosts)
        return tr(
            f"机器人地址须在 {allowed}（GONGWU_NOTIFY_ROBOT_HOSTS）",
            f"a robot's webhook is on {allowed} (GONGWU_NOTIFY_ROBOT_HOSTS)",
        )
    return None


def _minutes(clock: str) -> int | None:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", clock or "")
    return (
        int(m.group(1)) * 60 + int(m.group(2))
        if m and int(m.group(1)) < 24 and int(m.group(2)) < 60
        else None
    )


def quiet_wait_minutes(now_minute: int, quiet_from: str, quiet_to: str) -> int:
    """Minutes to hold a message sent at `now_minute` (minutes after China midnight) in quiet hours
    [quiet_from, quiet_to) — a window may cross midnight; 0 outside it or without one."""
    a, b = _minutes(quiet_from), _minutes(quiet_to)
    if a is None or b is None or a == b:
        return 0
    inside = a <= now_minute < b if a < b else (now_minute >= a or now_minute < b)
    return (b - now_minute) % 1440 if inside else 0


def retry_after_minutes(attempts: int) -> int | None:
    """After a failed try (attempts so far), minutes until the next; None when it is given up."""
    return None if attempts >= DELIVERY_TRIES else 2 ** (attempts - 1)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's custom robot signature: base64(HMAC-SHA256(secret, "{timestamp}\\n{secret}"))."""
    import base64

    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()
