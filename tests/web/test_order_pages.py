"""The order pages without a browser (#19), on the demo county: a request form that comes back with what
was typed and the problem beside its field, the walk request → approval → dispatch → return through the
session cookie's forms, the order page's km check, a flag answered with a late order, the to-do counts of
each role's home page. The same walk in Chromium at two widths is tests/web/test_browser.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from core.settings import Settings
from core.timeutil import china_day, utcnow
from fleet.models import Driver, Flag, TripOrder
from gongwu.app import create_app
from tests.web.conftest import DRIVER_NAME, County, sign_in


@pytest.fixture
def as_role(county: County) -> Iterator[object]:
    app = create_app(Settings(database_url=county.url), engine=county.engine)
    clients: list[TestClient] = []

    def make(role: str) -> tuple[TestClient, str]:
        c = TestClient(app)
        clients.append(c)
        return c, sign_in(c, county.users[role])

    yield make
    for c in clients:
        c.close()


def _window(days: int, hour: int) -> dict[str, str]:
    day = china_day(utcnow()) + timedelta(days=days)
    return {
        "planned_start_at": f"{day.isoformat()}T{hour:02d}:00",
        "planned_end_at": f"{day.isoformat()}T{hour + 2:02d}:00",
    }


def test_the_request_form_keeps_what_was_typed_and_says_what_is_wrong(as_role: object) -> None:
    staff, csrf = as_role("unit_staff")  # type: ignore[operator]
    bad = staff.post(
        "/orders/new",
        data={"csrf_token": csrf, "purpose": "", "destination": "东坡村", "passengers": "0",
              "planned_start_at": "2030-01-02T10:00", "planned_end_at": "2030-01-02T09:00"},
    )  # fmt: skip
    assert bad.status_code == 422
    assert 'value="东坡村"' in bad.text  # kept
    for field, text in (("purpose", "请填写出行事由"), ("passengers", "1 到 60"), ("planned_end_at", "晚于")):
        assert re.search(rf'id="e-{field}">[^<]*{text}', bad.text), field
    assert 'aria-invalid="true"' in bad.text


def test_the_order_life_through_the_pages(as_role: object, county: County) -> None:
    staff, s_csrf = as_role("unit_staff")  # type: ignore[operator]
    made = staff.post(
        "/orders/new",
        data={"csrf_token": s_csrf, "purpose": "调研", "destination": "县医院", "passengers": "2",
              "out_of_county": "1", **_window(3, 9)},
        follow_redirects=False,
    )  # fmt: skip
    assert made.status_code == 303, made.text
    order_id = int(made.headers["location"].split("/")[2].split("?")[0])
    page = staff.get(made.headers["location"])
    assert "申请已提交" in page.text and "待单位审批" in page.text
    assert "调研" in staff.get("/orders/mine").text

    driver_early, _ = as_role("driver")  # type: ignore[operator]
    assert driver_early.get(f"/orders/{order_id}").status_code == 404  # not dispatched to them (yet)
    approver, a_csrf = as_role("unit_approver")  # type: ignore[operator]
    queue = approver.get("/orders/approvals").text
    assert f'id="order-{order_id}"' in queue
    nothing = approver.post(f"/orders/{order_id}/reject", data={"csrf_token": a_csrf, "comment": ""})
    assert nothing.status_code == 422 and "驳回须写明理由" in nothing.text
    ok = approver.post(f"/orders/{order_id}/approve", data={"csrf_token": a_csrf, "comment": "同意"})
    assert ok.status_code == 200 and "已同意" in ok.text and f'id="order-{order_id}"' not in ok.text

    manager, m_csrf = as_role("vehicle_manager")  # type: ignore[operator]
    assert f'id="order-{order_id}"' in manager.get("/orders/approvals").text  # 出县: the center too
    manager.post(f"/orders/{order_id}/approve", data={"csrf_token": m_csrf, "comment": "出县已核"})
    board = manager.get("/orders/dispatch").text
    card = board[board.index(f'id="order-{order_id}"') :]
    car = re.search(r'name="vehicle_id" required>\s*<option value="(\d+)"', card)
    with Session(county.engine) as s:
        driver = s.exec(select(Driver).where(Driver.name == DRIVER_NAME)).one()
    assert car is not None and f'value="{driver.id}"' in card
    sent = manager.post(
        f"/orders/{order_id}/dispatch",
        data={"csrf_token": m_csrf, "vehicle_id": car.group(1), "driver_id": str(driver.id)},
    )
    assert sent.status_code == 200 and "已派车" in sent.text
    assert f'href="/orders/{order_id}"' not in sent.text  # sent out, and three days ahead: off the timeline

    driver_c, d_csrf = as_role("driver")  # type: ignore[operator]
    assert driver_c.get("/flags").status_code == 403  # a driver sees their orders, not the unit's data
    tasks = driver_c.get("/orders/tasks").text
    assert f'id="order-{order_id}"' in tasks
    wrong = driver_c.post(
        f"/orders/{order_id}/return",
        data={"csrf_token": d_csrf, "returned_at": _window(3, 9)["planned_end_at"], "tolls": "12.345"},
    )
    assert wrong.status_code == 422 and "最多两位小数" in wrong.text and 'value="12.345"' in wrong.text
    back = driver_c.post(
        f"/orders/{order_id}/return",
        data={"csrf_token": d_csrf, "returned_at": _window(3, 9)["planned_end_at"], "odometer_km": "40",
              "tolls": "35", "fuel": "120.50"},
    )  # fmt: skip
    assert back.status_code == 200 and "已还车" in back.text
    assert "¥155.50" in back.text and "里程表里程" in back.text
    assert "超过 10%，请核实" in back.text  # 40 km on the odometer, none covered by GPS yet
    with Session(county.engine) as s:
        order = s.get(TripOrder, order_id)
        assert order is not None and order.status == "returned" and order.odometer_km == 40

    # the home pages' to-do counts: the driver has nothing left to return
    assert re.search(r"待还车</span> <strong>0</strong>", driver_c.get("/").text)


def test_a_unit_answers_its_flag_with_a_late_order(as_role: object, county: County) -> None:
    with Session(county.engine) as s:
        flag = s.exec(
            select(Flag)
            .where(Flag.unit_id == county.unit_id, Flag.kind == "unreported_trip", Flag.state == "open")
            .order_by(col(Flag.id).desc())
        ).first()
        assert flag is not None
        flag_id = flag.id
    staff, csrf = as_role("unit_staff")  # type: ignore[operator]
    page = staff.get(f"/flags/{flag_id}").text
    assert "提交答复" in page
    assert re.search(r"待答复预警</span> <strong>[1-9]", staff.get("/").text)
    sent = staff.post(
        f"/flags/{flag_id}/replies",
        data={
            "csrf_token": csrf,
            "text": "防汛检查",
            "late": "1",
            "purpose": "防汛",
            "destination": "东坡村",
        },
    )
    assert sent.status_code == 200 and "答复已提交" in sent.text and "防汛检查" in sent.text
    with Session(county.engine) as s:
        order = s.exec(select(TripOrder).where(TripOrder.late_for_flag_id == flag_id)).one()
        order_id = order.id
    approver, a_csrf = as_role("unit_approver")  # type: ignore[operator]
    assert "补报的行程" in approver.get("/orders/approvals").text
    approver.post(f"/orders/{order_id}/approve", data={"csrf_token": a_csrf})
    manager, _ = as_role("vehicle_manager")  # type: ignore[operator]
    m_page = manager.get("/orders/approvals").text
    if f'id="order-{order_id}"' in m_page:  # a rest day or a night: the center decides too
        manager.post(f"/orders/{order_id}/approve", data={"csrf_token": csrf_of_page(m_page)})
    with Session(county.engine) as s:
        done = s.get(Flag, flag_id)
        assert done is not None and (done.state, done.resolved_reason) == ("resolved", "late_order")


def csrf_of_page(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


def test_the_km_check_marks_a_difference_over_a_tenth() -> None:
    from gongwu.web.order_pages import ODOMETER_TOLERANCE, km_check

    assert km_check(45.0, None) is None and km_check(45.0, 0) is None
    assert km_check(45.0, 50) == pytest.approx(0.1) and not km_check(45.0, 50) > ODOMETER_TOLERANCE  # type: ignore[operator]
    assert km_check(44.0, 50) > ODOMETER_TOLERANCE  # type: ignore[operator]
