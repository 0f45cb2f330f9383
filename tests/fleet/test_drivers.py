"""The drivers registry (#19's first part): `gongwu import drivers` (姓名, 单位, 手机, 准驾车型) with
phones and licence classes as clerks write them, bad rows with line and column, re-import changing
nothing; `GET|POST /api/v1/drivers`, unit-scoped."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from core.models import AuditLog
from fleet.models import Driver
from ingest.importer import run_import
from tests.conftest import ClientAs
from tests.factories import make_unit

API = "/api/v1"


def drivers_csv(*rows: str) -> bytes:
    return ("姓名,单位,手机,准驾车型\n" + "".join(f"{r}\n" for r in rows)).encode("gbk")


def test_drivers_import_as_clerks_write_them(session: Session) -> None:
    make_unit(session, name="县机关事务服务中心")
    make_unit(session, name="城关镇")
    body = drivers_csv(
        "李四,县机关事务服务中心,+86 138 1234 5678,C1",
        "王五,县机关事务服务中心,0359-2123456,小型汽车",
        "王五,城关镇,13912345678,B1",  # the same name in another unit is another driver
    )
    report = run_import(session, "drivers", body, filename="驾驶员.csv", actor="clerk")
    assert report.committed and report.inserted == 3, report.errors
    drivers = {(d.name, d.phone, d.licence_class) for d in session.exec(select(Driver)).all()}
    assert drivers == {
        ("李四", "13812345678", "C1"),
        ("王五", "0359-2123456", "C1"),
        ("王五", "13912345678", "B1"),
    }
    again = run_import(session, "drivers", body, filename="驾驶员.csv", actor="clerk")
    assert again.inserted == 0 and again.unchanged == 3
    assert session.exec(select(AuditLog).where(AuditLog.action == "driver.create")).all()[0].actor == "clerk"


def test_bad_driver_rows_name_line_and_column(session: Session) -> None:
    make_unit(session, name="县机关事务服务中心")
    body = drivers_csv(
        "赵六,县机关事务服务中心,12345,C1",
        "钱七,没有的单位,13812345678,C1",
        "孙八,县机关事务服务中心,13812345678,F9",
    )
    report = run_import(session, "drivers", body, filename="驾驶员.csv")
    assert not report.committed
    found = {(e.line, e.header) for e in report.errors}
    assert found == {(2, "手机"), (3, "单位"), (4, "准驾车型")}
    assert session.exec(select(Driver)).all() == []


def test_drivers_over_the_api(client: TestClient, client_as: ClientAs, session: Session) -> None:
    center, town = make_unit(session, name="中心"), make_unit(session, name="城关镇")
    made = client.post(
        f"{API}/drivers", json={"name": "李四", "unit_id": center.id, "phone": "138 1234 5678"}
    )
    assert made.status_code == 201, made.text
    assert made.json()["phone"] == "13812345678" and made.json()["licence_class"] == "C1"
    assert client.post(f"{API}/drivers", json={"name": "李四", "unit_id": center.id}).status_code == 409
    bad = client.post(f"{API}/drivers", json={"name": "周九", "unit_id": town.id, "licence_class": "Z"})
    assert bad.status_code == 422 and "准驾车型" in bad.json()["detail"]
    client.post(f"{API}/drivers", json={"name": "吴十", "unit_id": town.id, "licence_class": "B1"})
    assert [d["name"] for d in client.get(f"{API}/drivers").json()["data"]] == ["李四", "吴十"]
    viewer = client_as("unit_viewer", unit_id=town.id)
    assert [d["name"] for d in viewer.get(f"{API}/drivers").json()["data"]] == ["吴十"]
    assert viewer.post(f"{API}/drivers", json={"name": "x", "unit_id": town.id}).status_code == 403


def test_every_licence_class_has_its_label() -> None:
    from fleet.models import LicenceClass
    from fleet.rules import licence_class

    assert set(licence_class.codes) == set(LicenceClass.codes())
