"""Notifications leave (issue 24): against a real SMTP server (aiosmtpd) and a local HTTP server standing
in for the DingTalk and WeCom robots — DingTalk's timestamp and signature checked, WeCom's payload shape;
a channel down is retried and catches up; a sender SIGKILLed mid-send leaves nothing sent twice and
nothing lost (the one it was sending is marked failed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from accounts import notify
from accounts import service as auth
from accounts.models import Delivery
from accounts.rules import dingtalk_sign
from accounts.sender import deliver_due
from core.db import unit_of_work
from core.models import Unit
from core.timeutil import utcnow

SECRET = "SECdeadbeef"


class Robots:
    """A local server for both robots: records each POST (path, query, JSON); `down` answers 500, `slow`
    holds the first request (a send in flight when the sender is killed)."""

    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []
        self.down = False
        self.drop = False  # read the message, then hang up without an answer
        self.slow = 0.0
        self.arrived = threading.Event()
        robots = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                parts = urlsplit(self.path)
                robots.arrived.set()
                if robots.slow:
                    time.sleep(robots.slow)
                if robots.down:
                    self.send_response(500)
                    self.end_headers()
                    return
                robots.got.append({"path": parts.path, "query": parse_qs(parts.query), "json": body})
                if robots.drop:
                    self.close_connection = True
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")  # and gone
                    return
                data = b'{"errcode": 0, "errmsg": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def robots(settings_env: Callable[..., None]) -> Iterator[Robots]:
    settings_env(notify_robot_hosts=json.dumps(["127.0.0.1"]))  # the test's own robots, and no other
    r = Robots()
    yield r
    r.server.shutdown()


@pytest.fixture
def smtp(settings_env: Callable[..., None]) -> Iterator[list[Any]]:
    """A real SMTP server on a free local port; the messages it received."""
    from aiosmtpd.controller import Controller

    received: list[Any] = []

    class Keep:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope)
            return "250 OK"

    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    settings_env(smtp_host="127.0.0.1", smtp_port=port,
                 smtp_from="gongwu@county.gov.cn", public_url="http://gongwu.county.gov.cn")  # fmt: skip
    yield received
    controller.stop()


def _text(mail: Any) -> str:
    """An e-mail's subject and body as a reader sees them (whatever transfer encoding it went in)."""
    import email
    from email import policy

    msg = email.message_from_bytes(mail.content, policy=policy.default)
    return f"{msg['Subject']}\n{msg.get_content()}"  # type: ignore[attr-defined]


def _people(engine: Engine, robots: Robots) -> dict[str, int]:
    with unit_of_work(engine) as s:
        town, other = Unit(name="城关镇", kind="township"), Unit(name="东郭镇", kind="township")
        s.add_all([town, other])
        s.flush()
        manager = auth.create_user(
            s, username="mgr", password="a-Str0ng-pass-1", role="vehicle_manager", actor="test"
        )
        approver = auth.create_user(
            s,
            username="appr",
            password="a-Str0ng-pass-2",
            role="unit_approver",
            actor="test",
            unit_id=town.id,
        )
        viewer = auth.create_user(
            s,
            username="view2",
            password="a-Str0ng-pass-3",
            role="unit_approver",
            actor="test",
            unit_id=other.id,
        )
        notify.add_channel(s, manager, "mailto:mgr@county.gov.cn", actor="test")
        notify.add_channel(
            s, approver, f"dingtalk+{robots.url}/robot/send?access_token=T1&secret={SECRET}", actor="test"
        )
        notify.add_channel(s, viewer, f"wecom+{robots.url}/cgi-bin/webhook/send?key=K2", actor="test")
        people = {
            "mgr": manager.id,
            "appr": approver.id,
            "view": viewer.id,
            "town": town.id,
            "other": other.id,
        }
        return {k: v or 0 for k, v in people.items()}


def _tell(engine: Engine, who: list[int], key: str, kind: str = "order_submitted") -> None:
    with unit_of_work(engine) as s:
        users = [u for i in who for u in notify.by_id(s, i)]
        notify.notify(s, users, kind, {"order_no": key, "unit": "城关镇", "purpose": "检查", "when": "今天"},
                      url="/orders/approvals", key=key)  # fmt: skip


def test_email_and_both_robots_deliver_once_with_dingtalk_signed(
    fresh_engine: Engine, robots: Robots, smtp: list[Any]
) -> None:
    ids = _people(fresh_engine, robots)
    _tell(fresh_engine, [ids["mgr"], ids["appr"], ids["view"]], "SQ-1")
    assert deliver_due(fresh_engine) == {"sent": 3, "retried": 0, "failed": 0, "interrupted": 0}
    assert deliver_due(fresh_engine)["sent"] == 0, "nothing twice"
    (mail,) = smtp
    text = _text(mail)
    assert mail.rcpt_tos == ["mgr@county.gov.cn"] and "SQ-1" in text
    assert "http://gongwu.county.gov.cn/orders/approvals" in text
    ding = next(r for r in robots.got if r["path"] == "/robot/send")
    ts = int(ding["query"]["timestamp"][0])
    assert ding["query"]["sign"][0] == dingtalk_sign(SECRET, ts) and abs(ts / 1000 - time.time()) < 60
    assert "secret" not in ding["query"] and ding["query"]["access_token"] == ["T1"], "the secret never sent"
    assert ding["json"]["msgtype"] == "markdown" and "SQ-1" in ding["json"]["markdown"]["text"]
    wecom = next(r for r in robots.got if r["path"] == "/cgi-bin/webhook/send")
    assert wecom["query"]["key"] == ["K2"]
    assert set(wecom["json"]) == {"msgtype", "markdown"} and "SQ-1" in wecom["json"]["markdown"]["content"]


def test_a_channel_down_is_retried_and_catches_up(
    fresh_engine: Engine, robots: Robots, smtp: list[Any]
) -> None:
    ids = _people(fresh_engine, robots)
    robots.down = True
    _tell(fresh_engine, [ids["appr"]], "SQ-2")
    assert deliver_due(fresh_engine)["retried"] == 1
    with Session(fresh_engine) as s:
        (d,) = s.exec(select(Delivery)).all()
        assert (d.state, d.attempts) == ("queued", 1) and "500" in d.error and d.next_at > utcnow()
    assert deliver_due(fresh_engine)["sent"] == 0, "not before its time"
    robots.down = False
    with unit_of_work(fresh_engine) as s:  # an hour later
        s.exec(update(Delivery).values(next_at=utcnow() - timedelta(seconds=1)))  # type: ignore[call-overload]
    assert deliver_due(fresh_engine)["sent"] == 1
    assert len(robots.got) == 1


def test_a_sender_killed_mid_send_sends_nothing_twice_and_loses_nothing(
    fresh_engine: Engine, robots: Robots, tmp_path: Any
) -> None:
    ids = _people(fresh_engine, robots)
    for k in range(3):
        _tell(fresh_engine, [ids["appr"]], f"SQ-K{k}")
    robots.slow = 30.0  # the first send hangs: the sender is killed while it is in flight
    env = {**os.environ, "GONGWU_DATABASE_URL": fresh_engine.url.render_as_string(hide_password=False)}
    cmd = [sys.executable, "-c", "from gongwu.cli import main; main()", "notify", "send"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert robots.arrived.wait(30), "the sender did not start sending"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    robots.slow = 0.0
    with Session(fresh_engine) as s:
        states = sorted(d.state for d in s.exec(select(Delivery)).all())
    assert states == ["queued", "queued", "sending"]
    counts = deliver_due(fresh_engine)
    assert counts["sent"] == 2 and counts["interrupted"] == 0, "a fresh claim is left to its sender a while"
    with unit_of_work(fresh_engine) as s:  # the lease runs out
        s.exec(
            update(Delivery)
            .where(col(Delivery.state) == "sending")
            .values(next_at=utcnow() - timedelta(hours=1))
        )  # type: ignore[call-overload]
    assert deliver_due(fresh_engine)["interrupted"] == 1
    with Session(fresh_engine) as s:
        rows = s.exec(select(Delivery).order_by(col(Delivery.id))).all()
        assert sorted(d.state for d in rows) == ["failed", "sent", "sent"]
        assert all(d.attempts == 1 for d in rows)
    texts = [r["json"]["markdown"]["text"] for r in robots.got]
    assert len(texts) == len(set(texts)) == 2, "nothing sent twice"


def test_a_nightly_runs_digest_goes_once_to_each_recipient_and_not_to_another_unit(
    fresh_engine: Engine, robots: Robots, smtp: list[Any]
) -> None:
    from datetime import UTC, datetime

    from core.timeutil import china_day
    from fleet.models import Flag
    from scheduler.digest import run_digest
    from scheduler.pipeline import run_nightly
    from tests.factories import make_trip, make_vehicle

    ids = _people(fresh_engine, robots)
    yesterday = china_day(utcnow()) - timedelta(days=1)
    with unit_of_work(fresh_engine) as s:
        town = s.get(Unit, ids["town"])
        assert town is not None
        for k in range(3):  # three trips no order covers: three unreported_trip flags for 城关镇
            car = make_vehicle(s, town)
            start = datetime(yesterday.year, yesterday.month, yesterday.day, 2 + k, tzinfo=UTC)
            make_trip(s, car, start)
    assert run_nightly(fresh_engine, since=yesterday, until=yesterday).status == "succeeded"
    with unit_of_work(fresh_engine) as s:
        flagged = s.exec(select(Flag).where(Flag.kind == "unreported_trip")).all()
        assert len(flagged) == 3
        sent = {u.username: [x.as_param() for x in lines] for u, lines in run_digest(s, china_day(utcnow()))}
    assert sent["mgr"][0] == ["new_flag", 3, "unreported_trip"]
    assert sent["appr"] == [["to_answer", 3, ""]]
    assert "view2" not in sent, "another unit's approver: nothing to say, no digest"
    assert deliver_due(fresh_engine)["sent"] == 2
    (mail,) = smtp
    assert "新预警：有轨迹无订单 3 条" in _text(mail)
    assert "http://gongwu.county.gov.cn/flags?kind=unreported_trip&status=open" in _text(mail)
    (ding,) = [r for r in robots.got if r["path"] == "/robot/send"]
    assert "待答复的预警 3 条" in ding["json"]["markdown"]["text"]
    assert not [r for r in robots.got if r["path"] == "/cgi-bin/webhook/send"]
    assert deliver_due(fresh_engine)["sent"] == 0
    with unit_of_work(fresh_engine) as s:
        assert run_digest(s, china_day(utcnow())) and deliver_due(fresh_engine)["sent"] == 0, "once a day"


def test_a_robot_elsewhere_is_refused_and_a_switched_off_channel_gets_nothing(
    fresh_engine: Engine, robots: Robots, smtp: list[Any]
) -> None:
    from core.errors import ValidationFailed

    ids = _people(fresh_engine, robots)
    with unit_of_work(fresh_engine) as s:
        (me,) = notify.by_id(s, ids["appr"])
        for url in (
            "wecom+http://169.254.169.254/latest/meta-data",
            "dingtalk+https://example.com/robot/send",
        ):
            with pytest.raises(ValidationFailed):
                notify.add_channel(s, me, url, actor="test")
    _tell(fresh_engine, [ids["appr"]], "SQ-OFF")
    with unit_of_work(fresh_engine) as s:
        (ch,) = notify.channels_of(s, ids["appr"])
        notify.remove_channel(s, ids["appr"], ch.id or 0, actor="test")
    assert deliver_due(fresh_engine) == {"sent": 0, "retried": 0, "failed": 1, "interrupted": 0}
    assert robots.got == []


def test_an_answer_lost_after_the_message_left_is_not_sent_again(
    fresh_engine: Engine, robots: Robots, smtp: list[Any]
) -> None:
    ids = _people(fresh_engine, robots)
    robots.drop = True
    _tell(fresh_engine, [ids["appr"]], "SQ-DROP")
    assert deliver_due(fresh_engine)["failed"] == 1
    with Session(fresh_engine) as s:
        (d,) = s.exec(select(Delivery)).all()
        assert (d.state, d.attempts) == ("failed", 1) and d.error
    robots.drop = False
    assert deliver_due(fresh_engine)["sent"] == 0 and len(robots.got) == 1, "it may have arrived: never twice"
