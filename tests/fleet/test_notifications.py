"""Telling people (issue 24, the in-app part): each step of a request notifies who is next — the unit's
approver, the center, the applicant, the driver — in the step's own transaction, once per event, scoped
to the unit; the inbox lists them in one language and marks them read."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from accounts import notify
from accounts.models import Notification, User
from core.timeutil import CHINA
from fleet import service
from tests.conftest import ClientAs
from tests.factories import make_unit, make_vehicle

API = "/api/v1"


def cn(day: int, hour: int) -> datetime:
    return datetime(2024, 6, day, hour, tzinfo=CHINA)


def _inbox(session: Session, username: str) -> list[tuple[str, str]]:
    user = session.exec(select(User).where(User.username == username)).one()
    rows = session.exec(
        select(Notification).where(Notification.user_id == user.id).order_by(col(Notification.id))
    )
    return [(r.kind, r.url) for r in rows]


def test_a_requests_steps_tell_who_is_next_and_no_other_unit(client_as: ClientAs, session: Session) -> None:
    town, other = make_unit(session, name="城关镇"), make_unit(session, name="东郭镇")
    car = make_vehicle(session, town, plate="晋M·A0001", tracker_id="T1")
    staff = client_as("unit_staff", unit_id=town.id)
    approver = client_as("unit_approver", unit_id=town.id)
    client_as("unit_approver", unit_id=other.id)  # another unit's approver
    manager = client_as("vehicle_manager")
    names = {u.role + (f"@{u.unit_id}" if u.unit_id else ""): u.username for u in session.exec(select(User))}
    request = {
        "order_no": "SQ-9", "vehicle_id": car.id, "purpose": "下乡检查", "destination": "外县",
        "planned_start_at": "2024-06-04T08:30:00", "planned_end_at": "2024-06-04T12:00:00",
        "out_of_county": True,
    }  # fmt: skip
    made = staff.post(f"{API}/orders", json=request)
    assert made.status_code == 201, made.text
    order_id = made.json()["id"]
    assert _inbox(session, names[f"unit_approver@{town.id}"]) == [("order_submitted", "/orders/approvals")]
    assert _inbox(session, names[f"unit_approver@{other.id}"]) == [], "another unit hears nothing"
    assert _inbox(session, names["vehicle_manager"]) == []
    # the unit says yes: out of the county, so the center is next
    assert approver.post(f"{API}/orders/{order_id}/approve", json={"comment": "同意"}).status_code == 200
    assert _inbox(session, names["vehicle_manager"]) == [("order_awaits_center", "/orders/approvals")]
    assert manager.post(f"{API}/orders/{order_id}/approve", json={"comment": ""}).status_code == 200
    assert ("order_to_dispatch", "/orders/dispatch") in _inbox(session, names["vehicle_manager"])
    assert _inbox(session, names[f"unit_staff@{town.id}"]) == [("order_approved", f"/orders/{order_id}")]
    # the words: one language, the order's number and unit in them
    row = session.exec(select(Notification).where(Notification.kind == "order_awaits_center")).one()
    title, body = notify.words(row.kind, row.params)
    assert title == "待中心审批的用车申请" and "SQ-9" in body and "城关镇" in body and "出县" in body
    # dispatch tells the applicant and the driver's own account
    driver = service.create_driver(session, name="王师傅", unit_id=town.id, actor="test")
    driver_user = client_as("driver", unit_id=town.id)
    user = session.exec(select(User).where(User.role == "driver")).one()
    driver.user_id = user.id
    session.add(driver)
    session.flush()
    sent = manager.post(f"{API}/orders/{order_id}/dispatch", json={"driver_id": driver.id})
    assert sent.status_code == 200, sent.text
    assert _inbox(session, user.username)[-1] == ("order_dispatched", f"/orders/{order_id}")
    # the inbox over the API: worded, unread counted, read marks only one's own
    box = driver_user.get(f"{API}/me/notifications").json()
    assert box["unread"] == 1 and box["data"][0]["title"] == "已派车" and "王师傅" in box["data"][0]["body"]
    others = [n.id for n in session.exec(select(Notification).where(Notification.user_id != user.id))]
    marked = driver_user.post(f"{API}/me/notifications/read", json={"ids": [*others, box["data"][0]["id"]]})
    assert marked.json() == {"marked": 1}
    assert driver_user.get(f"{API}/me/notifications?unread=true").json() == {"unread": 0, "data": []}


def test_an_event_is_told_once(session: Session, client_as: ClientAs) -> None:
    town = make_unit(session, name="城关镇")
    client_as("unit_approver", unit_id=town.id)
    approvers = notify.users(session, ("unit_approver",), town.id)
    assert notify.notify(session, approvers, "order_submitted", {"order_no": "X"}, url="/", key="k1") == 1
    assert notify.notify(session, approvers, "order_submitted", {"order_no": "X"}, url="/", key="k1") == 0
    assert notify.unread_count(session, approvers[0].id or 0) == 1


def test_the_inbox_page_and_the_header_count(client_as: ClientAs, session: Session) -> None:
    town = make_unit(session, name="城关镇")
    approver = client_as("unit_approver", unit_id=town.id)
    user = session.exec(select(User).where(User.role == "unit_approver")).one()
    params = {"order_no": "SQ-1", "unit": "城关镇", "purpose": "检查", "when": "2024-06-04 08:30–12:00",
              "destination": "东坡村"}  # fmt: skip
    notify.notify(session, [user], "order_submitted", params, url="/orders/approvals", key="a")
    home = approver.get("/")
    assert 'class="badge"' in home.text and ">1<" in home.text
    page = approver.get("/inbox")
    assert page.status_code == 200 and "待审批的用车申请" in page.text and "SQ-1" in page.text
    assert 'class="note unread"' in page.text
    done = approver.post("/inbox/read", data={}, follow_redirects=False)  # a bearer client: no CSRF needed
    assert done.status_code == 303 and done.headers["location"] == "/inbox?marked=1"
    assert 'class="badge"' not in approver.get("/inbox").text


def test_a_high_risk_flag_is_told_at_once_to_the_center_and_its_unit(
    session: Session, client_as: ClientAs
) -> None:
    from datetime import UTC

    from fleet import flags

    town, other = make_unit(session, name="城关镇"), make_unit(session, name="东郭镇")
    car = make_vehicle(session, town, plate="晋M·A0009")
    client_as("vehicle_manager")
    client_as("unit_staff", unit_id=town.id)
    client_as("unit_staff", unit_id=other.id)
    from core.timeutil import to_china, utcnow

    new = flags.NewFlags(flags.Tally())
    at = utcnow().replace(microsecond=0) - timedelta(hours=3)
    old = datetime(2024, 6, 4, 1, tzinfo=UTC)  # a month re-reconciled: not news, left to the digest
    new.add(kind="overspeed", key="k-fast", vehicle_id=car.id, unit_id=town.id, start_at=at, detail={})
    new.add(kind="overspeed", key="k-old", vehicle_id=car.id, unit_id=town.id, start_at=old, detail={})
    new.add(kind="unreported_trip", key="k-plain", vehicle_id=car.id, unit_id=town.id, start_at=at, detail={})
    new.insert(session)
    told = session.exec(select(Notification).where(Notification.kind == "flag_raised")).all()
    roles = sorted(session.get(User, n.user_id).role for n in told)  # type: ignore[union-attr]
    assert roles == ["unit_staff", "vehicle_manager"], "the center and its unit; not the other unit"
    assert all(session.get(User, n.user_id).unit_id in (None, town.id) for n in told)  # type: ignore[union-attr]
    title, body = notify.words("flag_raised", told[0].params)
    assert title == "高风险预警" and "超速" in body and "晋M·A0009" in body
    assert f"{to_china(at):%Y-%m-%d %H:%M}" in body


def test_one_adds_and_switches_off_ones_own_channels_on_the_inbox_page(
    client_as: ClientAs, session: Session
) -> None:
    from accounts.models import NotifyChannel

    town = make_unit(session, name="城关镇")
    me = client_as("unit_approver", unit_id=town.id)
    bad = me.post("/inbox/channels", data={"url": "qq:12345"})
    assert bad.status_code == 422 and 'id="ch-e-url"' in bad.text and 'value="qq:12345"' in bad.text
    good = me.post("/inbox/channels", data={"url": "wecom+https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRETKEY",
                                            "digest_only": "1", "quiet_from": "22:00", "quiet_to": "07:00"},
                   follow_redirects=False)  # fmt: skip
    assert good.status_code == 303
    page = me.get("/inbox").text
    assert "qyapi.weixin.qq.com/cgi-bin/webhook/send" in page and "SECRETKEY" not in page, "no token shown"
    (ch,) = session.exec(select(NotifyChannel)).all()
    assert (ch.digest_only, ch.quiet_from, ch.quiet_to) == (True, "22:00", "07:00")
    other = client_as("unit_staff", unit_id=town.id)
    assert other.post(f"/inbox/channels/{ch.id}/delete").status_code == 404, "not someone else's"
    assert me.post(f"/inbox/channels/{ch.id}/delete", follow_redirects=False).status_code == 303
    session.refresh(ch)
    assert not ch.is_active


def test_quiet_hours_and_the_backoff() -> None:
    from accounts.rules import quiet_wait_minutes, retry_after_minutes

    ten_pm, midnight, seven_am, noon = 22 * 60, 0, 7 * 60, 12 * 60
    assert quiet_wait_minutes(ten_pm + 30, "22:00", "07:00") == 8 * 60 + 30, "across midnight"
    assert quiet_wait_minutes(midnight, "22:00", "07:00") == 7 * 60
    assert (
        quiet_wait_minutes(seven_am, "22:00", "07:00") == 0
        and quiet_wait_minutes(noon, "22:00", "07:00") == 0
    )
    assert quiet_wait_minutes(noon, "12:00", "13:30") == 90 and quiet_wait_minutes(noon, "", "") == 0
    assert [retry_after_minutes(a) for a in range(1, 7)] == [1, 2, 4, 8, 16, None]
