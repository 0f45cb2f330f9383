"""The costs and disposals pages and the vehicle page's disposal form (issue 25), on hand-made data."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

from openpyxl import load_workbook
from sqlmodel import Session

from fleet.models import FuelFill, Insurance, Maintenance
from tests.conftest import ClientAs
from tests.factories import make_trip, make_unit, make_vehicle


def _county(session: Session) -> tuple[int, int, int]:
    town, bureau = make_unit(session, name="甲镇", kind="township"), make_unit(session, name="乙局")
    a = make_vehicle(session, town, plate="晋M·C0001", acquired_on=date(2015, 1, 1))
    b = make_vehicle(session, bureau, plate="晋M·C0002", acquired_on=date(2024, 5, 1))
    session.add(
        Maintenance(vehicle_id=a.id or 0, done_on=date(2023, 4, 2), amount_fen=300_000, reason="大修")
    )
    session.add(
        Maintenance(vehicle_id=a.id or 0, done_on=date(2024, 4, 2), amount_fen=500_000, reason="换胎")
    )
    session.add(FuelFill(vehicle_id=b.id or 0, filled_at=datetime(2024, 6, 1, 2, tzinfo=UTC), litres=40,
                         amount_fen=30_000))  # fmt: skip
    session.add(Insurance(vehicle_id=b.id or 0, policy_no="P-1", start_on=date(2024, 5, 1),
                          end_on=date(2025, 4, 30), premium_fen=420_000))  # fmt: skip
    make_trip(session, a, datetime(2024, 6, 3, 1, tzinfo=UTC), 60, distance_m=40_000.0)
    session.flush()
    return a.id or 0, town.id or 0, bureau.id or 0


def test_the_costs_page_shows_the_years_line_units_cars_and_exports(
    client_as: ClientAs, session: Session
) -> None:
    _, town, _ = _county(session)
    manager = client_as("vehicle_manager")
    page = manager.get("/reports/costs?year=2024&compare=2023")
    assert page.status_code == 200, page.text
    assert "2023 年 1 辆 ¥3,000.00 → 2024 年 2 辆 ¥9,500.00" in page.text and "(+216.7%)" in page.text
    assert "甲镇" in page.text and "乙局" in page.text and "晋M·C0002" in page.text
    book = load_workbook(io.BytesIO(manager.get("/reports/costs.xlsx?year=2024&compare=2023").content))
    rows = list(book.worksheets[0].iter_rows(min_row=3, values_only=True))
    county = next(r for r in rows if r[0] == "全县")
    assert county[2] == 2 and float(county[9]) == 9_500.0  # cars; the total in yuan
    # a unit's staff see their unit's costs only
    viewer = client_as("unit_viewer", unit_id=town)
    theirs = viewer.get("/reports/costs?year=2024&compare=")
    assert theirs.status_code == 200 and "甲镇" in theirs.text and "乙局" not in theirs.text
    assert "→" not in theirs.text.split("<main", 1)[-1].split("</h1>", 1)[-1].split("<dl", 1)[0]
    assert "全县" not in theirs.text.split("<main", 1)[-1]
    assert manager.get("/reports/costs?year=twenty").status_code == 422


def test_the_disposal_form_goes_stage_by_stage_and_the_disposals_page_lists_it(
    client_as: ClientAs, session: Session
) -> None:
    car, _, _ = _county(session)
    manager = client_as("vehicle_manager")
    steps = [
        {"status": "idle_proposed", "day": "2024-08-20"},
        {"status": "disposal_pending", "day": "2024-08-28", "document_no": "临事管〔2024〕31号"},
        {"status": "disposal_approved", "day": "2024-10-15", "document_no": "临财资〔2024〕102号"},
        {"status": "disposed", "day": "2024-10-31", "method": "auction", "income": "23,000"},
    ]
    for form in steps:
        r = manager.post(f"/vehicles/{car}/disposal", data=form, follow_redirects=False)
        assert r.status_code == 303, r.text
    page = manager.get(f"/vehicles/{car}")
    assert "处置经过" in page.text and "临财资〔2024〕102号" in page.text and "23,000.00" in page.text
    listed = manager.get("/reports/disposals")
    assert "晋M·C0001" in listed.text and "72" in listed.text and "拍卖" in listed.text
    # a step out of order is refused with a page that says why
    again = manager.post(f"/vehicles/{car}/disposal", data={"status": "idle_proposed"})
    assert again.status_code == 409 and "已处置" in again.text
    book = load_workbook(io.BytesIO(manager.get("/reports/disposals.xlsx").content))
    assert next(r[0] for r in book.worksheets[0].iter_rows(min_row=3, values_only=True)) == "晋M·C0001"


def test_the_api_reports_and_a_cars_records(client_as: ClientAs, session: Session) -> None:
    car, _, bureau = _county(session)
    manager = client_as("vehicle_manager")
    r = manager.get("/api/v1/reports/costs?year=2024&compare=2023")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["county"]["total_fen"] == 950_000 and body["compare"]["county"]["cars"] == 1
    records = manager.get(f"/api/v1/vehicles/{car}/records?year=2024").json()
    assert [m["amount_yuan"] for m in records["maintenance"]] == ["5000.00"]
    r = manager.post(
        f"/api/v1/vehicles/{car}/disposal", json={"stage": "disposal_approved", "document_no": "X"}
    )
    assert r.status_code == 409  # not from in_service
    assert manager.post(f"/api/v1/vehicles/{car}/disposal", json={"stage": "idle_proposed"}).json()[
        "status"
    ] == ("idle_proposed")
    assert [d["stage"] for d in manager.get("/api/v1/reports/disposals").json()] == ["idle_proposed"]
    other = client_as("unit_viewer", unit_id=bureau)
    assert other.get(f"/api/v1/vehicles/{car}/records").status_code == 404
