"""Delivering notifications after they are committed (issue 24): e-mail over SMTP (the standard library's
smtplib: one message a send, nothing a library would add), DingTalk and WeCom group robots over httpx
(their webhooks are one signed JSON POST each). Retries back off (1, 2, 4 … minutes); a channel that is
down never touches the nightly run — this runs as its own job — and what failed is counted
(`gongwu notify status`).

Exactly once or failed, never twice: a delivery is claimed (`sending`, committed) before its send and
marked after it. A sender killed between the two leaves it `sending`; the next sender marks it failed
("interrupted") instead of sending it again — the recipient may have it, and a second copy is what must
not happen."""

from __future__ import annotations

import json
import smtplib
import time
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from accounts import rules as account_rules
from accounts.models import Delivery, Notification, NotifyChannel, User
from accounts.notify import line_words, words
from core.db import unit_of_work
from core.settings import get_settings
from core.timeutil import utcnow

SENDING_LEASE = timedelta(minutes=10)  # a claim older than this belongs to a sender that died


class SendError(Exception):
    """A channel refused or could not be reached: retried later."""


class MaybeSent(SendError):
    """The message left and no answer came back (a read timeout, a dropped connection): it may have
    arrived, so it is not sent again — failed, saying so."""


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    link: str
    key: str  # the delivery's id: an e-mail's Message-ID, so a mail client sees one message


def send(url: str, msg: Message, *, timeout: float = 10.0) -> None:
    """One message through one channel URL (mailto:, dingtalk+https://…, wecom+https://…)."""
    if url.startswith("mailto:"):
        _mail(url[len("mailto:") :], msg, timeout)
    elif url.startswith("dingtalk+"):
        _dingtalk(url[len("dingtalk+") :], msg, timeout)
    elif url.startswith("wecom+"):
        _wecom(url[len("wecom+") :], msg, timeout)
    else:
        raise SendError(f"unknown channel {url.split(':', 1)[0]}")


def _mail(address: str, msg: Message, timeout: float) -> None:
    s = get_settings()
    if not s.smtp_host:
        raise SendError("GONGWU_SMTP_HOST is not set")
    mail = EmailMessage()
    mail["Subject"] = msg.title
    mail["From"] = s.smtp_from
    mail["To"] = address
    mail["Message-ID"] = f"<gongwu-{msg.key}@{s.smtp_host}>"
    mail.set_content(f"{msg.body}\n\n{msg.link}\n")
    try:
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=timeout)
    except (OSError, smtplib.SMTPException) as exc:
        raise SendError(f"{type(exc).__name__}: {exc}") from None  # no connection: try again
    try:
        with smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password)
            smtp.send_message(mail)
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPAuthenticationError) as exc:
        raise SendError(f"{type(exc).__name__}: {exc}") from None  # refused before the message: again
    except (OSError, smtplib.SMTPException) as exc:
        raise MaybeSent(f"{type(exc).__name__}: {exc}") from None


def _post(url: str, payload: dict[str, Any], timeout: float) -> None:
    try:
        r = httpx.post(url, json=payload, timeout=timeout)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise SendError(f"{type(exc).__name__}: {exc}") from None  # never reached the robot: try again
    except httpx.HTTPError as exc:
        raise MaybeSent(f"{type(exc).__name__}: {exc}") from None
    if r.status_code == 429 or r.status_code >= 500:
        raise SendError(f"HTTP {r.status_code}")
    if r.status_code != 200:
        raise MaybeSent(f"HTTP {r.status_code}: refused") from None
    try:
        answer = r.json()
    except json.JSONDecodeError:
        raise SendError("not a JSON answer") from None
    if not isinstance(answer, dict):
        raise SendError("not a robot's answer")
    if answer.get("errcode", 0) != 0:
        raise SendError(f"errcode {answer.get('errcode')}: {answer.get('errmsg', '')}")


def _dingtalk(webhook: str, msg: Message, timeout: float) -> None:
    """A DingTalk custom robot: `secret` (加签) signs the timestamp; the secret itself is never sent."""
    parts = urlsplit(webhook)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    secret = query.pop("secret", "")
    if secret:
        ts = int(time.time() * 1000)
        query |= {"timestamp": str(ts), "sign": account_rules.dingtalk_sign(secret, ts)}
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
    text_md = f"### {msg.title}\n\n{msg.body}\n\n[{msg.link}]({msg.link})"
    _post(url, {"msgtype": "markdown", "markdown": {"title": msg.title, "text": text_md}}, timeout)


def _wecom(webhook: str, msg: Message, timeout: float) -> None:
    content = f"**{msg.title}**\n{msg.body}\n[{msg.link}]({msg.link})"
    _post(webhook, {"msgtype": "markdown", "markdown": {"content": content}}, timeout)


def _message(session: Session, delivery: Delivery) -> tuple[str, Message]:
    note = session.get(Notification, delivery.notification_id)
    channel = session.get(NotifyChannel, delivery.channel_id)
    if note is None or channel is None or not channel.is_active:
        raise SendError("the channel was switched off")
    user = session.get(User, channel.user_id)
    if user is None or not user.is_active:
        raise SendError("the user is disabled")
    title, body = words(note.kind, note.params)
    base = get_settings().public_url.rstrip("/")
    link = base + (note.url or "/inbox")
    if note.kind == "digest":  # each line with the page it is about
        shown = [line_words(*line) for line in (note.params or {}).get("lines", [])]
        body = "\n".join(f"- {text}  {base}{url}" for text, url in shown)
    return channel.url, Message(title=title, body=body, link=link, key=str(delivery.id))


def deliver_due(engine: Engine, *, limit: int = 200) -> dict[str, int]:
    """Send what is due, one claimed delivery at a time; counts sent / retried / failed / interrupted."""
    counts = {"sent": 0, "retried": 0, "failed": 0, "interrupted": 0}
    now = utcnow()
    with unit_of_work(engine) as s:  # the claims of a sender that died: failed, not sent again
        stale = s.exec(
            select(Delivery).where(Delivery.state == "sending", col(Delivery.next_at) < now - SENDING_LEASE)
        ).all()
        for d in stale:
            d.state, d.error = (
                "failed",
                "interrupted: the sender stopped during the send (it may have arrived)",
            )
            s.add(d)
        counts["interrupted"] = len(stale)
    with unit_of_work(engine) as s:
        due = list(
            s.exec(
                select(Delivery.id)
                .where(Delivery.state == "queued", col(Delivery.next_at) <= now)
                .order_by(col(Delivery.next_at), col(Delivery.id))
                .limit(limit)
            ).all()
        )
    for delivery_id in due:
        with unit_of_work(engine) as s:  # claim: only one sender gets it
            claimed = s.exec(
                update(Delivery)
                .where(col(Delivery.id) == delivery_id, col(Delivery.state) == "queued")
                .values(state="sending", attempts=Delivery.attempts + 1, next_at=utcnow())
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                continue
            mine = s.get(Delivery, delivery_id)
            assert mine is not None
            attempts = mine.attempts
            try:
                url, msg = _message(s, mine)
            except Exception as exc:  # a channel switched off, a user disabled, a notification gone
                mine.state, mine.error = "failed", str(exc)[:500]
                s.add(mine)
                counts["failed"] += 1
                continue
        error, final = "", False
        try:
            send(url, msg)
        except MaybeSent as exc:
            error, final = str(exc)[:500], True
        except SendError as exc:
            error = str(exc)[:500]
        except Exception as exc:  # a bad URL, a robot's odd answer: this one fails, the batch goes on
            error, final = f"{type(exc).__name__}: {exc}"[:500], True
        with unit_of_work(engine) as s:
            done = s.get(Delivery, delivery_id)
            assert done is not None
            d = done
            if not error:
                d.state, d.sent_at, d.error = "sent", utcnow(), ""
                counts["sent"] += 1
            else:
                wait = None if final else account_rules.retry_after_minutes(attempts)
                d.error = error
                if wait is None:
                    d.state = "failed"
                    counts["failed"] += 1
                else:
                    d.state, d.next_at = "queued", utcnow() + timedelta(minutes=wait)
                    counts["retried"] += 1
            s.add(d)
    return counts


def status(session: Session) -> list[dict[str, Any]]:
    """Deliveries by channel (without its token) and state, with an error of each."""
    rows = session.exec(
        select(NotifyChannel.url, Delivery.state, func.count(), func.max(Delivery.error))
        .join(NotifyChannel, col(NotifyChannel.id) == col(Delivery.channel_id))
        .group_by(col(NotifyChannel.url), col(Delivery.state))
        .order_by(col(NotifyChannel.url), col(Delivery.state))
    ).all()
    return [
        {"channel": url.split("?", 1)[0], "state": state, "count": int(n), "last_error": err or ""}
        for url, state, n, err in rows
    ]
