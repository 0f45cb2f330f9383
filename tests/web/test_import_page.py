"""The import page (#18): the form offers the kinds the role may import and its POST (session cookie,
CSRF) accepts only those; the upload becomes a job whose page shows a progress bar polled by htmx, then
the report with every bad row."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from accounts.models import ROLES, UNIT_ROLES, User
from accounts.permissions import IMPORTS, ROLE_PERMISSIONS
from core.models import AuditLog, Unit
from ingest.kinds import KINDS
from tests.auth.conftest import PASSWORD, add_user
from tests.factories import make_unit
from tests.web.conftest import sign_in

UNITS = "单位名称,类型\n城南乡,乡镇\n县水利局,县直单位\n".encode("gbk")


def signed_in(app: FastAPI, session: Session, role: str, unit: Unit) -> tuple[TestClient, str]:
    name = f"p_{role}"
    add_user(session, name, role, unit_id=unit.id if role in UNIT_ROLES else None)
    c = TestClient(app)
    return c, sign_in(c, name, PASSWORD)


def test_the_form_offers_and_accepts_only_the_roles_kinds(app: FastAPI, session: Session) -> None:
    unit = make_unit(session, name="某乡")
    for role in ROLES:
        c, csrf = signed_in(app, session, role, unit)
        page = c.get("/imports")
        assert page.status_code == 200
        offered = set(re.findall(r'<option value="([a-z-]+)"', page.text))
        may = {k for k in KINDS if IMPORTS[k] in ROLE_PERMISSIONS[role]}
        assert offered == may, role
        assert ('href="/imports"' in c.get("/").text) == bool(may)  # the link in the navigation
        for kind in KINDS:
            r = c.post(
                "/imports", data={"kind": kind, "csrf_token": csrf, "dry_run": "true"},
                files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")}, follow_redirects=False,
            )  # fmt: skip
            if kind in may:
                assert r.status_code == 303 and r.headers["location"].startswith("/imports/"), (role, kind)
            else:
                assert r.status_code == 403, (role, kind, r.status_code)


def test_an_upload_from_the_page_and_its_report(app: FastAPI, session: Session) -> None:
    unit = make_unit(session, name="某乡")
    with TestClient(app) as c:  # the app's lifespan: its import worker
        add_user(session, "clerk_admin", "admin")
        csrf = sign_in(c, "clerk_admin", PASSWORD)
        forged = c.post(
            "/imports", data={"kind": "units", "csrf_token": "x"}, files={"file": ("u.csv", UNITS)}
        )
        assert forged.status_code == 403
        r = c.post(
            "/imports", data={"kind": "units", "csrf_token": csrf},
            files={"file": ("单位.csv", UNITS, "text/csv")}, follow_redirects=False,
        )  # fmt: skip
        assert r.status_code == 303
        page = c.get(r.headers["location"])
        assert page.status_code == 200 and "单位.csv" in page.text
        assert "已完成" in page.text and "<dd>2</dd>" in page.text
        assert session.exec(select(Unit).where(Unit.name == "县水利局")).first() is not None
        row = session.exec(select(AuditLog).where(AuditLog.action == "import.run")).one()
        assert row.actor == "clerk_admin" and row.after and row.after["inserted"] == 2
        bad = "单位名称,类型\n城北乡,不知道\n".encode()
        r = c.post(
            "/imports", data={"kind": "units", "csrf_token": csrf},
            files={"file": ("坏.csv", bad, "text/csv")}, follow_redirects=False,
        )  # fmt: skip
        job = r.headers["location"]
        status = c.get(f"{job}/status", headers={"HX-Request": "true"})
        assert "有误，未导入任何数据" in status.text and '<td class="num">2</td>' in status.text
        assert "hx-trigger" not in status.text  # finished: the polling stops
        listing = c.get("/imports").text
        assert "坏.csv" in listing and "单位.csv" in listing
        # another user does not see the job
        add_user(session, "other_manager", "vehicle_manager")
        other = TestClient(app)
        sign_in(other, "other_manager", PASSWORD)
        assert other.get(job).status_code == 404
    assert unit.id is not None


def test_a_running_job_shows_a_progress_bar_that_polls(app: FastAPI, session: Session) -> None:
    from scheduler import import_jobs
    from scheduler.models import ImportStatus

    add_user(session, "watcher", "admin")
    c = TestClient(app)
    sign_in(c, "watcher", PASSWORD)
    stored = import_jobs.Stored(path=Path("/nonexistent"), size=10, sha256="0" * 64)
    me = session.exec(select(User).where(User.username == "watcher")).one()
    job = import_jobs.enqueue(
        session, "units", stored, filename="大.csv", actor="watcher", user_id=me.id, options={},
        status=ImportStatus.running,
    )  # fmt: skip
    import_jobs._progress[job.id or 0] = (1500, 6000)
    try:
        page = c.get(f"/imports/{job.id}")
        assert 'hx-trigger="every 1s"' in page.text
        assert '<progress id="import-progress" max="6000" value="1500">' in page.text
        assert 'for="import-progress"' in page.text  # the bar has its label
    finally:
        import_jobs._progress.clear()
