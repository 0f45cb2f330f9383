"""Every page, without a browser: it renders for the roles that may see it — with an empty database and with
the demo county —, a unit viewer sees its own unit only (another unit's vehicle, trip or flag is a 404), a
review through the session cookie needs the CSRF token and moves the flag out of the open queue, the Excel
exports open, and the English setting leaves no Chinese label behind."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from accounts.models import ROLES, UNIT_ROLES
from accounts.permissions import PAGES, TABLE
from core.models import Unit
from core.settings import Settings
from fleet.models import Flag, Trip, Vehicle
from property.models import Lease, OfficeProperty
from tests.conftest import ClientAs
from tests.factories import make_trip, make_unit, make_vehicle
from tests.gongwu.test_one_language import DATA_VALUE, ENGLISH_PHRASE
from tests.web.conftest import CJK, County, csrf_of

PLAIN = sorted(path for (method, path) in PAGES if method == "GET" and "{" not in path)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def allowed(role: str, path: str) -> bool:
    """Whether the table lets `role` see the page at `path`."""
    for (method, p), permission in PAGES.items():
        if method == "GET" and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", p), path.split("?")[0]):
            return TABLE.allows(role, permission)
    raise AssertionError(f"{path} is not a page")


def check(r: object, path: str) -> None:
    status = getattr(r, "status_code", None)
    assert status == 200, f"{path}: {status} {getattr(r, 'text', '')[:500]}"
    headers = getattr(r, "headers", {})
    if path.split("?")[0].endswith(".xlsx"):
        from openpyxl import load_workbook

        assert headers["content-type"] == XLSX
        load_workbook(io.BytesIO(r.content))  # type: ignore[attr-defined]
    else:
        assert headers["content-type"].startswith("text/html")
        assert "</html>" in r.text  # type: ignore[attr-defined]


def check_all(c: TestClient, role: str, paths: list[str]) -> None:
    """Each page renders for a role that may see it and is refused (403) to one that may not."""
    for path in paths:
        r = c.get(path, follow_redirects=False)
        if allowed(role, path):
            check(r, path)
        else:
            assert r.status_code == 403, f"{role} {path}: {r.status_code}"


# --- an empty database ----------------------------------------------------------------------------------


def test_every_page_renders_with_an_empty_database(client_as: ClientAs, session: Session) -> None:
    unit = make_unit(session, name="空单位")
    for role in ROLES:
        c = client_as(role, unit_id=unit.id if role in UNIT_ROLES else None)
        check_all(c, role, PLAIN)
        # the pages of one object: nothing to show, a page saying so
        for path in ("/vehicles/1", "/trips/1", "/flags/1", "/properties/office/BG001"):
            if allowed(role, path):
                r = c.get(path)
                assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), path
                assert "页面不存在或无权查看" in r.text


def test_english_labels_leave_no_chinese_behind(app: FastAPI, client_as: ClientAs, session: Session) -> None:
    """GONGWU_LANGUAGE=en: with no data (whose names are Chinese), no page shows a Chinese character."""
    app.state.settings = Settings(database_url="sqlite://", language="en")
    unit = make_unit(session, name="Unit A")
    for role in ("admin", "unit_viewer"):
        c = client_as(role, unit_id=unit.id if role in UNIT_ROLES else None)
        for path in PLAIN:
            if not allowed(role, path):
                continue
            r = c.get(path)
            assert r.status_code == 200, path
            if path.endswith(".xlsx"):
                from openpyxl import load_workbook

                wb = load_workbook(io.BytesIO(r.content))
                texts = [
                    str(x.value) for ws in wb.worksheets for row in ws.iter_rows() for x in row if x.value
                ]
                left = sorted(set(CJK.findall(" ".join(texts))))
                assert not left, f"{path} exports Chinese in English: {''.join(left)}"
                continue
            assert '<html lang="en">' in r.text
            left = sorted(set(CJK.findall(r.text)))
            assert not left, f"{path} shows Chinese in English: {''.join(left)}"


def test_pages_redirect_to_login_and_static_files_are_public(client_as: ClientAs) -> None:
    anonymous = client_as(None)
    r = anonymous.get("/flags?status=open", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/flags%3Fstatus%3Dopen"
    login = anonymous.get("/login")
    assert "/static/gongwu.css" in login.text and "登录" in login.text
    for asset in ("/static/gongwu.css", "/static/htmx.min.js", "/static/gongwu.js"):
        assert anonymous.get(asset).status_code == 200, asset


def test_a_unit_viewer_gets_404_for_another_units_vehicle_trip_and_flag(
    client_as: ClientAs, session: Session
) -> None:
    mine, other = make_unit(session, name="城关镇"), make_unit(session, name="东郭镇")
    own_car, their_car = make_vehicle(session, mine), make_vehicle(session, other)
    start = datetime(2024, 6, 3, 1, 0, tzinfo=UTC)
    own_trip, their_trip = make_trip(session, own_car, start), make_trip(session, their_car, start)
    flags = []
    for car, trip in ((own_car, own_trip), (their_car, their_trip)):
        flag = Flag(
            kind="unreported_trip", key=f"{car.tracker_id}:{trip.id}", vehicle_id=car.id, unit_id=car.unit_id,
            trip_id=trip.id, start_at=trip.start_at, end_at=trip.end_at, detail={"km": 15.0, "minutes": 30},
        )  # fmt: skip
        session.add(flag)
        flags.append(flag)
    session.flush()
    viewer = client_as("unit_viewer", unit_id=mine.id)
    for path in (f"/vehicles/{own_car.id}", f"/trips/{own_trip.id}", f"/flags/{flags[0].id}"):
        assert viewer.get(path).status_code == 200, path
    for path in (f"/vehicles/{their_car.id}", f"/trips/{their_trip.id}", f"/flags/{flags[1].id}"):
        r = viewer.get(path)
        assert r.status_code == 404, path
        assert their_car.plate not in r.text
    queue = viewer.get("/flags?unit=" + str(other.id)).text  # asking for another unit changes nothing
    assert own_car.plate in queue and their_car.plate not in queue
    assert 'name="unit"' not in queue  # no unit filter for a unit viewer
    assert "东郭镇" not in viewer.get("/vehicles").text
    manager = client_as("vehicle_manager")
    assert their_car.plate in manager.get("/flags").text


# --- the demo county ------------------------------------------------------------------------------------


def _ids(county: County) -> dict[str, object]:
    with Session(county.engine) as s:
        vehicle = s.exec(
            select(Vehicle).where(Vehicle.unit_id == county.unit_id).order_by(col(Vehicle.id))
        ).first()
        assert vehicle is not None
        trip = s.exec(select(Trip).where(Trip.vehicle_id == vehicle.id).order_by(col(Trip.id))).first()
        flag = s.exec(select(Flag).where(Flag.unit_id == county.unit_id).order_by(col(Flag.id))).first()
        office = s.exec(select(OfficeProperty).where(OfficeProperty.unit_id == county.unit_id)).first()
        assert trip is not None and flag is not None and office is not None
        return {"vehicle": vehicle.id, "trip": trip.id, "flag": flag.id, "office": office.code}


def test_every_page_renders_with_the_demo_county(county: County, clients: dict[str, TestClient]) -> None:
    ids = _ids(county)
    paths = [
        *PLAIN,
        "/flags?status=all",
        "/flags?kind=idle_vehicle&status=all",
        "/reports/units?month=2024-06",
    ]
    paths += [f"/vehicles/{ids['vehicle']}", f"/trips/{ids['trip']}", f"/flags/{ids['flag']}"]
    paths += [f"/properties/office/{ids['office']}", "/properties/certificates?stage=surveyed&overdue=1"]
    for role, c in clients.items():
        check_all(c, role, paths)


class _Words(HTMLParser):
    """What a reader meets on a page: its text outside scripts and styles, and the attributes a screen
    reader says or a field shows (aria-label, title, placeholder, alt)."""

    SAID = ("aria-label", "title", "placeholder", "alt")

    def __init__(self) -> None:
        super().__init__()
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        self.out += [v for k, v in attrs if k in self.SAID and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip and data.strip():
            self.out.append(data.strip())


def english_sentences(html: str) -> list[str]:
    words = _Words()
    words.feed(html)
    return [text for text in words.out if ENGLISH_PHRASE.search(DATA_VALUE.sub("", text))]


def test_by_default_no_page_or_export_says_an_english_sentence(
    county: County, clients: dict[str, TestClient]
) -> None:
    """Chinese by default: no page of any role, no export, carries three English words in a row (a command
    line or a file name a clerk types is data, and may)."""
    assert english_sentences('<p title="Sort by plate">车牌</p>') == ["Sort by plate"], "the check can fail"
    ids = _ids(county)
    details = [f"/vehicles/{ids['vehicle']}", f"/trips/{ids['trip']}", f"/flags/{ids['flag']}"]
    found: list[str] = []
    for role, c in clients.items():
        for path in [*PLAIN, *details, "/flags?status=all&sort=plate", "/nowhere"]:
            if path != "/nowhere" and not allowed(role, path):
                continue
            r = c.get(path)
            if path.endswith(".xlsx"):
                from openpyxl import load_workbook

                wb = load_workbook(io.BytesIO(r.content))
                cells = [
                    str(x.value) for ws in wb.worksheets for row in ws.iter_rows() for x in row if x.value
                ]
                found += [f"{path}: {v}" for v in cells if ENGLISH_PHRASE.search(DATA_VALUE.sub("", v))]
                continue
            found += [f"{role} {path}: {text}" for text in english_sentences(r.text)]
    assert not found, "\n".join(sorted(set(found))[:30])


def test_the_unit_viewer_sees_its_own_unit_only(county: County, clients: dict[str, TestClient]) -> None:
    viewer = clients["unit_viewer"]
    with Session(county.engine) as s:
        names = {u.id: u.name for u in s.exec(select(Unit)).all()}
        theirs = s.exec(select(Vehicle).where(Vehicle.unit_id == county.other_unit_id)).first()
        their_trip = s.exec(select(Trip).where(Trip.vehicle_id == theirs.id)).first() if theirs else None
        their_flag = s.exec(select(Flag).where(Flag.unit_id == county.other_unit_id)).first()
        their_office = s.exec(
            select(OfficeProperty).where(OfficeProperty.unit_id == county.other_unit_id)
        ).first()
    assert theirs is not None and their_trip is not None and their_flag is not None and their_office
    others = [n for i, n in names.items() if i != county.unit_id]
    for path in ("/flags?status=all", "/vehicles", "/reports/units", "/properties/certificates"):
        text = viewer.get(path).text
        assert county.unit_name in text, path
        shown = [n for n in others if re.search(rf">\s*{re.escape(n)}\s*<", text)]
        assert shown == [], f"{path} shows other units: {shown}"
    for path in (
        f"/vehicles/{theirs.id}", f"/trips/{their_trip.id}", f"/flags/{their_flag.id}",
        f"/properties/office/{their_office.code}",
    ):  # fmt: skip
        assert viewer.get(path).status_code == 404, path


def test_a_review_needs_the_csrf_token_and_leaves_the_open_queue(
    county: County, clients: dict[str, TestClient]
) -> None:
    manager = clients["vehicle_manager"]
    queue = manager.get("/flags?kind=unreported_trip")
    ids = [int(i) for i in re.findall(r'data-flag-id="(\d+)"', queue.text)]
    assert len(ids) >= 4
    token = csrf_of(queue.text)
    target = ids[0]
    form = {"status": "violation", "comment": "未报备 test", "next": "/flags?kind=unreported_trip"}
    assert manager.post(f"/flags/{target}/review", data=form).status_code == 403
    assert manager.post(f"/flags/{target}/review", data=form | {"csrf_token": "forged"}).status_code == 403
    r = manager.post(f"/flags/{target}/review", data=form | {"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and "reviewed=1" in r.headers["location"]
    after = manager.get(r.headers["location"]).text
    assert f'data-flag-id="{target}"' not in after and "已移出待审核列表" in after
    # in place (htmx): the row comes back as a line saying it left, with the queue's new total
    second = ids[1]
    r = manager.post(
        f"/flags/{second}/review",
        data=form | {"status": "explained", "comment": "补充说明"},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert r.status_code == 200
    assert f'id="flag-{second}-done"' in r.text and 'hx-swap-oob="true"' in r.text
    # with the "all" filter the reviewed row stays, showing its new status
    r = manager.post(
        f"/flags/{ids[2]}/review",
        data=form | {"next": "/flags?status=all"},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert f'data-flag-id="{ids[2]}"' in r.text and "违规" in r.text
    # an invalid review is a message in the page, not a broken row
    r = manager.post(
        f"/flags/{ids[3]}/review", data={"status": ""}, headers={"HX-Request": "true", "X-CSRF-Token": token}
    )
    assert r.headers.get("HX-Retarget") == "#messages" and "请选择审核结论" in r.text
    with Session(county.engine) as s:
        reviewed = {f.id: f for f in s.exec(select(Flag).where(col(Flag.id).in_([target, second]))).all()}
    assert reviewed[target].review_status == "violation" and reviewed[target].reviewed_by == "web_fleet"
    assert reviewed[second].review_status == "explained"
    # the unit viewer and the clerk may not review
    for role in ("unit_viewer", "property_clerk", "auditor"):
        c = clients[role]
        r = c.post(f"/flags/{ids[3]}/review", data=form | {"csrf_token": csrf_of(c.get("/").text)})
        assert r.status_code == 403, role


def test_bulk_review(county: County, clients: dict[str, TestClient]) -> None:
    manager = clients["vehicle_manager"]
    queue = manager.get("/flags?kind=unreported_trip")
    ids = [int(i) for i in re.findall(r'data-flag-id="(\d+)"', queue.text)][-2:]
    data = {"csrf_token": csrf_of(queue.text), "status": "false_alarm", "comment": "GPS 漂移", "ids": ids}
    r = manager.post(
        "/flags/review", data=data | {"next": "/flags?kind=unreported_trip"}, follow_redirects=False
    )
    assert r.status_code == 303
    page = manager.get(r.headers["location"]).text
    assert "已审核 2 条预警" in page
    assert all(f'data-flag-id="{i}"' not in page for i in ids)
    r = manager.post("/flags/review", data={"csrf_token": data["csrf_token"]}, follow_redirects=False)
    assert "msg=none_selected" in r.headers["location"]


EXPORTS = sorted(path for path in PLAIN if path.endswith(".xlsx"))


def _workbook(c: TestClient, path: str) -> Any:
    from openpyxl import load_workbook

    r = c.get(path)
    assert r.status_code == 200 and r.headers["content-type"] == XLSX, path
    assert "attachment" in r.headers["content-disposition"]
    return load_workbook(io.BytesIO(r.content))


def test_every_list_and_report_has_an_export() -> None:
    pages = {p for p in PLAIN if not p.endswith(".xlsx")}
    lists = (
        "/flags", "/vehicles", "/trips", "/reports/units", "/reports/bulletin", "/reports/trackers",
        "/properties/certificates", "/properties/operating", "/properties/leases", "/properties/auctions",
        "/runs",
    )  # fmt: skip
    for listing in lists:
        assert listing in pages and f"{listing}.xlsx" in EXPORTS, listing


def test_excel_exports_a_clerk_can_file(clients: dict[str, TestClient]) -> None:
    """Every export: a title row with what and when, the header frozen under it, no cell a formula; the
    unit report's formats and totals; the bulletin's text in its own sheet."""
    stamp = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")
    for path in EXPORTS:
        wb = _workbook(clients["admin"], path)
        ws = wb.worksheets[0]
        title = ws.cell(row=1, column=1).value
        assert isinstance(title, str) and stamp.search(title), f"{path}: title row {title!r}"
        assert ws.freeze_panes == "A3", path
        assert all(c.font.bold for c in ws[2] if c.value is not None), path
        for sheet in wb.worksheets:
            formulas = [c.coordinate for row in sheet.iter_rows() for c in row if c.data_type == "f"]
            assert formulas == [], f"{path}: formulas in {formulas}"
    ws = _workbook(clients["admin"], "/reports/units.xlsx").worksheets[0]
    assert ws.cell(row=1, column=1).value.startswith("单位报表 · ")
    header = [c.value for c in ws[2]]
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    body, total = rows[:-1], rows[-1]
    assert total[0] == "合计" and body
    trips, rate, money = header.index("行程数"), header.index("报备率"), header.index("费用（元）")
    assert total[trips] == sum(r[trips] for r in body) > 0
    assert total[rate] is None  # a rate does not add up
    assert ws.cell(row=3, column=rate + 1).number_format == "0.0%"
    assert all(r[rate] is None or 0 <= r[rate] <= 1 for r in body)
    assert ws.cell(row=3, column=money + 1).number_format == '"¥"#,##0.00'
    assert {"违规", "已说明", "未审核"} <= set(header)
    viewer = _workbook(clients["unit_viewer"], "/reports/units.xlsx").worksheets[0]
    assert viewer.max_row == 4  # the title, the header, the viewer's own unit and the totals
    bulletin = _workbook(clients["admin"], "/reports/bulletin.xlsx")
    assert bulletin.sheetnames[1] == "通报正文"
    text = [c.value for c in bulletin.worksheets[1]["A"]]
    assert text[0].startswith("关于") and "全县" in text[1]
    trips = _workbook(clients["admin"], "/trips.xlsx").worksheets[0]
    assert trips.cell(row=3, column=1).number_format == "yyyy-mm-dd hh:mm"
    assert isinstance(trips.cell(row=3, column=1).value, datetime)


def test_a_formula_typed_into_a_field_is_exported_as_text(
    clients: dict[str, TestClient], county: County
) -> None:
    evil = '=HYPERLINK("http://x.invalid","点我")'
    with Session(county.engine) as s:
        car = s.exec(select(Vehicle).where(Vehicle.unit_id == county.unit_id)).first()
        assert car is not None
        before, car.model = car.model, evil
        s.add(car)
        s.commit()
        try:
            ws = _workbook(clients["admin"], f"/vehicles.xlsx?plate={car.plate}").worksheets[0]
        finally:
            car.model = before
            s.add(car)
            s.commit()
    found = [c for row in ws.iter_rows(min_row=3) for c in row if c.value == evil]
    assert found and all(c.data_type == "s" and c.quotePrefix for c in found)


def test_the_home_page_puts_first_what_each_role_needs(
    clients: dict[str, TestClient], county: County
) -> None:
    manager = clients["vehicle_manager"].get("/").text
    assert "待审核预警" in manager and 'href="/flags"' in manager and "产权证办理看板" not in manager
    clerk = clients["property_clerk"].get("/").text
    assert "产权证办理看板" in clerk and 'href="/flags"' not in clerk and "待办提醒" in clerk
    viewer = clients["unit_viewer"].get("/").text
    assert county.unit_name in viewer and "本单位车辆" in viewer and "/runs" not in viewer


def test_refused_and_unknown_pages_are_pages_and_the_api_stays_json(
    clients: dict[str, TestClient], county: County
) -> None:
    viewer = clients["unit_viewer"]
    r = viewer.get("/reports/bulletin", headers={"referer": "http://testserver/reports/units"})
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert "无权查看此页面" in r.text and "单位" in r.text  # the role named in words
    assert county.users["unit_viewer"] in r.text and 'action="/logout"' in r.text  # the header, sign-out
    assert 'href="/reports/units"' in r.text and 'href="/"' in r.text  # a way back
    missing = viewer.get("/no/such/page")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "页面不存在或无权查看" in missing.text and 'action="/logout"' in missing.text
    other = viewer.get("/flags/999999999")  # a domain 404 from a page handler: the same page
    assert other.status_code == 404 and 'action="/logout"' in other.text
    api = viewer.get("/api/v1/reports/bulletin")
    assert api.status_code == 403 and api.headers["content-type"] == "application/json"
    gone = viewer.get("/api/v1/no/such")
    assert gone.status_code == 404 and gone.json() == {"detail": "Not Found"}
    csrf = viewer.post("/flags/1/replies", data={"text": "x"})
    assert csrf.status_code == 403 and "刷新页面后重试" in csrf.text


def test_an_unknown_page_signed_out_offers_the_login(county_app: FastAPI) -> None:
    with TestClient(county_app) as c:
        r = c.get("/no/such/page")
    assert r.status_code == 404 and 'href="/login"' in r.text and 'action="/logout"' not in r.text


def _vacant_shopfront(county: County) -> str:
    from property import queries as pq
    from property.models import OperatingProperty

    with Session(county.engine) as s:
        leased = pq.active_lease_property_ids(s, datetime.now(UTC).date())
        later = {x.property_id for x in s.exec(select(Lease)).all()}
        free = [p.code for p in s.exec(select(OperatingProperty)).all() if p.id not in leased | later]
    assert free
    return sorted(free)[0]


def test_the_clerk_keeps_leases_and_rent_in_the_browser(
    clients: dict[str, TestClient], county: County
) -> None:
    """New lease, rent payments, renewal and termination through the forms: a wrong value comes back with
    what was typed and the reason beside its field; every change is audit-logged as the clerk."""
    clerk = clients["property_clerk"]
    form = clerk.get("/properties/leases/new")
    assert form.status_code == 200
    token = csrf_of(form.text)
    code = _vacant_shopfront(county)
    bad = clerk.post("/properties/leases/new", data={
        "csrf_token": token, "code": code, "tenant": "", "annual_rent": "一万", "start_on": "2025-01-01",
        "end_on": "2024-12-31", "instalments": "4",
    })  # fmt: skip
    assert bad.status_code == 422
    assert (
        'id="f-e-tenant"' in bad.text and 'id="f-e-annual_rent"' in bad.text and 'id="f-e-end_on"' in bad.text
    )
    assert 'value="一万"' in bad.text and f'value="{code}"' in bad.text  # what was typed stays
    made = clerk.post("/properties/leases/new", data={
        "csrf_token": token, "code": code, "tenant": "孙八", "annual_rent": "12,000", "deposit": "2000",
        "start_on": "2025-01-01", "end_on": "2026-12-31", "instalments": "4",
    }, follow_redirects=False)  # fmt: skip
    assert made.status_code == 303, made.text
    page_url = made.headers["location"].split("?")[0]
    lease_id = int(page_url.rsplit("/", 1)[1])
    page = clerk.get(made.headers["location"]).text
    assert "租赁已保存" in page and "按季缴纳" in page and "欠缴" in page
    pay = f"{page_url}/payments"
    zero = clerk.post(
        pay, data={"csrf_token": token, "paid_on": "2025-01-03", "amount": "0", "receipt_no": "S1"}
    )
    assert zero.status_code == 422 and 'id="pay-e-amount"' in zero.text and 'value="S1"' in zero.text
    paid = {"csrf_token": token, "paid_on": "2025-01-03", "amount": "3000", "receipt_no": "S1"}
    ok = clerk.post(pay, data=paid,
                    follow_redirects=False)  # fmt: skip
    assert ok.status_code == 303
    twice = clerk.post(
        pay, data={"csrf_token": token, "paid_on": "2025-01-04", "amount": "3000", "receipt_no": "S1"}
    )
    assert twice.status_code == 422 and 'id="pay-e-receipt_no"' in twice.text
    listing = clerk.get("/properties/leases").text
    assert f'href="/properties/leases/{lease_id}"' in listing and "孙八" in listing  # in the arrears list
    assert "这些租赁各自一整年的租金之和" in listing and "实收（元）" in listing  # each total says what it is
    early = clerk.post(f"{page_url}/terminate", data={"csrf_token": token, "on": "2024-06-30"})
    assert early.status_code == 422 and 'id="end-e-on"' in early.text
    renewed = clerk.post(f"{page_url}/renew", data={"csrf_token": token, "end_on": "2028-12-31"},
                         follow_redirects=False)  # fmt: skip
    assert renewed.status_code == 303 and "done=renewed" in renewed.headers["location"]
    viewer = clients["unit_viewer"].post(
        pay, data={"csrf_token": token, "paid_on": "2025-01-03", "amount": "1"}
    )
    assert viewer.status_code == 403
    with Session(county.engine) as s:
        from core.models import AuditLog
        from property.models import RentPayment

        payments = s.exec(select(RentPayment).where(RentPayment.lease_id == lease_id)).all()
        assert [(p.amount_fen, p.receipt_no, p.recorded_by) for p in payments] == [
            (300_000, "S1", county.users["property_clerk"])
        ]
        entities = ["property_lease", "property_rent_payment"]
        logged = s.exec(
            select(AuditLog).where(
                col(AuditLog.entity).in_(entities), AuditLog.actor == county.users["property_clerk"]
            )
        ).all()
        assert len(logged) >= 3  # the lease, the payment, the renewal


def test_the_clerk_records_certificate_steps_and_targets(
    clients: dict[str, TestClient], county: County
) -> None:
    clerk = clients["property_clerk"]
    with Session(county.engine) as s:
        prop = s.exec(
            select(OfficeProperty)
            .where(col(OfficeProperty.fire_accepted_on).is_(None))
            .order_by(col(OfficeProperty.code))
        ).first()
        assert prop is not None
        code = prop.code
    page = clerk.get(f"/properties/office/{code}")
    token = csrf_of(page.text)
    refused = clerk.post(f"/properties/office/{code}/steps/certificate",
                         data={"csrf_token": token, "done_on": "2025-03-01",
                               "doc": "晋(2025)第9号"})  # fmt: skip
    assert refused.status_code == 422 and 'id="s-certificate-e-done_on"' in refused.text
    assert 'value="晋(2025)第9号"' in refused.text  # the number typed stays
    done = clerk.post(f"/properties/office/{code}/steps/survey",
                      data={"csrf_token": token, "done_on": "2025-03-01", "doc": "测字[2025]7号",
                            "note": "补测"},
                      follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    targets = f"/properties/office/{code}/targets/safety"
    target = clerk.post(targets, data={"csrf_token": token, "due_on": "2027-06-30"}, follow_redirects=False)
    assert target.status_code == 303
    shown = clerk.get(f"/properties/office/{code}").text
    assert "测字[2025]7号" in shown and "2027年6月30日" in shown and "本房产" in shown
    cleared = clerk.post(targets, data={"csrf_token": token, "clear": "1"}, follow_redirects=False)
    assert cleared.status_code == 303
    with Session(county.engine) as s:
        from core.models import AuditLog

        again = s.exec(select(OfficeProperty).where(OfficeProperty.code == code)).one()
        assert str(again.surveyed_on) == "2025-03-01"
        note = s.exec(
            select(AuditLog).where(
                AuditLog.entity_id == code, AuditLog.actor == county.users["property_clerk"]
            )
        ).all()
        assert any("补测" in (a.detail or "") for a in note)
