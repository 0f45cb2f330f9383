"""Telling people (issue 24, the in-app part): each step of a request notifies who is next — the unit's
approver, the center, the applicant, the driver — in the step's own transaction, once per event, scoped
to the unit; the inbox lists them in one language and marks them read."""

from __future__ import annotations

from datetime import datetime

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
