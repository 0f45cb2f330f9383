"""Tokens (by password, created, revoked, expired, of a disabled user), throttling, the login page with its
session cookie and CSRF checks, and the users admin API."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from accounts.access import SESSION_COOKIE
from accounts.models import ApiToken, User
from core.models import AuditLog, Unit
from core.settings import get_settings
from core.timeutil import utcnow
from tests.auth.conftest import PASSWORD, add_user
from tests.conftest import ClientAs

API = "/api/v1"


def actions(session: Session, entity_id: str) -> list[str]:
    stmt = select(AuditLog.action).where(AuditLog.entity_id == entity_id).order_by(col(AuditLog.id))
    return list(session.exec(stmt).all())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- tokens -------------------------------------------------------------------------------------------


def test_token_by_password_as_json_and_as_form(client_as: ClientAs, session: Session) -> None:
    add_user(session, "zhang")
    anon = client_as(None)
    r = anon.post(f"{API}/auth/token", json={"username": "zhang", "password": PASSWORD, "name": "script"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["access_token"].startswith("gw_")
    me = anon.get(f"{API}/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200 and me.json()["username"] == "zhang"
    form = anon.post(
        f"{API}/auth/token", data={"username": "zhang", "password": PASSWORD, "grant_type": "password"}
    )
    assert form.status_code == 200
    assert anon.post(f"{API}/auth/token", json={"username": "zhang"}).status_code == 422
    assert anon.post(f"{API}/auth/token", content=b"garbage").status_code == 422
    assert actions(session, "zhang") == ["user.create", "login.succeeded", "login.succeeded"]
    user = session.exec(select(User).where(User.username == "zhang")).one()
    assert user.last_login_at is not None


def test_wrong_unknown_and_disabled_answer_alike(client_as: ClientAs, session: Session) -> None:
    add_user(session, "li")
    add_user(session, "wang")
    anon = client_as(None)
    wrong = anon.post(f"{API}/auth/token", json={"username": "li", "password": "not-the-password"})
    unknown = anon.post(f"{API}/auth/token", json={"username": "nobody", "password": PASSWORD})
    client_token = anon.post(f"{API}/auth/token", json={"username": "wang", "password": PASSWORD})
    assert client_token.status_code == 200
    wang = session.exec(select(User).where(User.username == "wang")).one()
    wang.is_active = False
    session.add(wang)
    session.flush()
    disabled = anon.post(f"{API}/auth/token", json={"username": "wang", "password": PASSWORD})
    for r in (wrong, unknown, disabled):
        assert r.status_code == 401
        assert r.json() == wrong.json()
    # the failed attempts are on record (the unknown name is not: it may be a mistyped password)
    failed = session.exec(select(AuditLog).where(AuditLog.action == "login.failed")).all()
    assert sorted(a.actor for a in failed) == ["anonymous", "li", "wang"]
    assert all("nobody" not in (a.detail + a.entity_id) for a in failed)
    # a disabled user's existing token is refused too
    assert anon.get(f"{API}/me", headers=bearer(client_token.json()["access_token"])).status_code == 401


def test_own_tokens_create_list_revoke(client_as: ClientAs, session: Session, client: TestClient) -> None:
    c = client_as("auditor")
    created = c.post(f"{API}/me/tokens", json={"name": "监督查询", "days": 30})
    assert created.status_code == 201
    token = created.json()["token"]
    assert created.json()["expires_at"] is not None
    listed = c.get(f"{API}/me/tokens").json()
    assert {t["name"] for t in listed} == {"test", "监督查询"}
    assert all("token" not in t and "token_hash" not in t for t in listed)
    assert c.get(f"{API}/me", headers=bearer(token)).status_code == 200
    # another user's token id is not found, whoever asks
    admin_tokens = client.get(f"{API}/me/tokens").json()
    assert c.delete(f"{API}/me/tokens/{admin_tokens[0]['id']}").status_code == 404
    assert c.delete(f"{API}/me/tokens/{created.json()['id']}").status_code == 204
    r = c.get(f"{API}/me", headers=bearer(token))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert {t["name"] for t in c.get(f"{API}/me/tokens").json()} == {"test"}
    assert len(c.get(f"{API}/me/tokens", params={"all": True}).json()) == 2
    entry = session.exec(select(AuditLog).where(AuditLog.action == "token.revoke")).one()
    assert entry.before and entry.after and entry.after["revoked_at"] and not entry.before["revoked_at"]


def test_expired_token_is_refused(client_as: ClientAs, session: Session) -> None:
    c = client_as("auditor")
    token = c.post(f"{API}/me/tokens", json={"name": "short"}).json()
    row = session.get(ApiToken, token["id"])
    assert row is not None and row.expires_at is not None
    assert row.expires_at - row.created_at == timedelta(days=get_settings().token_days)
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.add(row)
    session.flush()
    assert c.get(f"{API}/me", headers=bearer(token["token"])).status_code == 401


# --- throttling ---------------------------------------------------------------------------------------


def _from(app: FastAPI, address: str) -> TestClient:
    return TestClient(app, client=(address, 50000))


def _guess(c: TestClient, username: str, password: str = "wrong-password") -> int:
    return c.post(f"{API}/auth/token", json={"username": username, "password": password}).status_code


def test_wrong_guesses_lock_out_the_address_not_the_account(
    app: FastAPI, session: Session, client: TestClient
) -> None:
    add_user(session, "zhao")
    attacker, owner = _from(app, "203.0.113.9"), _from(app, "10.1.2.3")
    limit = get_settings().login_max_failures
    assert [_guess(attacker, "zhao") for _ in range(limit)] == [401] * limit
    locked = attacker.post(f"{API}/auth/token", json={"username": "zhao", "password": PASSWORD})
    assert locked.status_code == 429  # even the right password, from there
    assert int(locked.headers["retry-after"]) > 60
    assert "login.refused" in actions(session, "zhao")
    # the owner, elsewhere, still signs in: guessing cannot lock anyone (the only admin included) out
    assert _guess(owner, "zhao", PASSWORD) == 200
    assert _guess(attacker, "zhao", PASSWORD) == 429  # and the owner's sign-in does not lift it
    # an admin (or `gongwu user unlock`) lifts it
    assert client.post(f"{API}/users/zhao/unlock").status_code == 200
    assert _guess(attacker, "zhao", PASSWORD) == 200


def test_guesses_from_many_addresses_lock_the_account(
    app: FastAPI, session: Session, client: TestClient, settings_env: Any
) -> None:
    settings_env(login_account_max_failures=6)
    add_user(session, "sun")
    for i in range(6):
        assert _guess(_from(app, f"198.51.100.{i}"), "sun") == 401
    user = session.exec(select(User).where(User.username == "sun")).one()
    assert user.failed_logins == 6 and user.locked_until is not None
    assert _guess(_from(app, "10.9.9.9"), "sun", PASSWORD) == 429
    assert client.post(f"{API}/users/sun/unlock").json()["failed_logins"] == 0
    assert _guess(_from(app, "10.9.9.9"), "sun", PASSWORD) == 200


def test_every_refusal_costs_one_password_check(
    app: FastAPI, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The time a refusal takes must not tell whether the username exists: unknown, wrong, disabled and
    locked-out all verify one argon2 hash, as a right password does."""
    from accounts import service

    calls: list[str] = []
    real = service.verify_password
    monkeypatch.setattr(service, "verify_password", lambda h, p: calls.append(p) or real(h, p))
    add_user(session, "li")
    off = add_user(session, "off")
    off.is_active = False
    session.add(off)
    session.flush()
    c = _from(app, "192.0.2.1")
    cases = [("ghost", "x"), ("li", "wrong-one"), ("off", PASSWORD), ("li", PASSWORD)]
    cases += [("li", "wrong-one")] * get_settings().login_max_failures + [("li", PASSWORD)]  # last: locked
    for username, password in cases:
        before = len(calls)
        _guess(c, username, password)
        assert len(calls) == before + 1, username


def test_unknown_usernames_are_throttled_too(client_as: ClientAs) -> None:
    anon = client_as(None)
    codes = [
        anon.post(f"{API}/auth/token", json={"username": "ghost", "password": "whatever-it-is"}).status_code
        for _ in range(get_settings().login_max_failures + 1)
    ]
    assert codes[-1] == 429 and set(codes[:-1]) == {401}


# --- the login page -----------------------------------------------------------------------------------


def _login_form(c: TestClient) -> tuple[str, str]:
    page = c.get("/login?next=/api/v1/me")
    assert page.status_code == 200 and "登录" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    nxt = re.search(r'name="next" value="([^"]+)"', page.text)
    assert token and nxt
    return token.group(1), nxt.group(1)


def _sign_in(c: TestClient, username: str, password: str = PASSWORD) -> object:
    csrf, nxt = _login_form(c)
    return c.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf, "next": nxt},
        follow_redirects=False,
    )


def test_login_sets_a_hardened_session_cookie_and_logout_ends_it(app: FastAPI, session: Session) -> None:
    add_user(session, "qian", "property_clerk")
    c = TestClient(app)
    r = _sign_in(c, "qian")
    assert r.status_code == 303 and r.headers["location"] == "/api/v1/me"  # type: ignore[attr-defined]
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))  # type: ignore[attr-defined]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; see the https test
    me = c.get(f"{API}/me")
    assert me.status_code == 200 and me.json()["username"] == "qian"
    csrf = me.json()["csrf_token"]
    assert csrf
    # a change through the cookie needs the CSRF token
    assert c.post(f"{API}/me/tokens", json={"name": "x"}).status_code == 403
    assert (
        c.post(f"{API}/me/tokens", json={"name": "x"}, headers={"X-CSRF-Token": "forged"}).status_code == 403
    )
    assert c.post(f"{API}/me/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf}).status_code == 201
    # logout needs it too, then the cookie is dead server-side
    assert c.post("/logout", follow_redirects=False).status_code == 403
    out = c.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    stale = TestClient(app, cookies={SESSION_COOKIE: r.cookies[SESSION_COOKIE]})  # type: ignore[attr-defined]
    assert stale.get(f"{API}/me").status_code == 401
    assert actions(session, "qian") == ["user.create", "login.succeeded", "login.ended"]


def test_login_form_needs_its_csrf_token_and_right_password(app: FastAPI, session: Session) -> None:
    add_user(session, "sun")
    c = TestClient(app)
    r = c.post("/login", data={"username": "sun", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403 and SESSION_COOKIE not in r.cookies
    csrf, _ = _login_form(c)
    other = TestClient(app)  # a token lifted from someone else's form does not fit this browser's cookie
    r = other.post(
        "/login", data={"username": "sun", "password": PASSWORD, "csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 403
    r = _sign_in(c, "sun", "wrong-password-x")
    assert r.status_code == 401 and "用户名或密码错误" in r.text  # type: ignore[attr-defined]


def test_over_https_the_cookie_is_secure_and_next_stays_local(app: FastAPI, session: Session) -> None:
    add_user(session, "zhou")
    c = TestClient(app, base_url="https://gongwu.example")
    page = c.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    r = c.post(
        "/login",
        data={
            "username": "zhou",
            "password": PASSWORD,
            "csrf_token": csrf.group(1),
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and not r.headers["location"].startswith("//")
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    assert "Secure" in cookie


def test_idle_web_session_expires(app: FastAPI, session: Session) -> None:
    add_user(session, "wu")
    c = TestClient(app)
    _sign_in(c, "wu")
    assert c.get(f"{API}/me").status_code == 200
    row = session.exec(select(ApiToken).where(ApiToken.kind == "session")).one()
    row.last_used_at = utcnow() - timedelta(minutes=get_settings().session_idle_minutes + 1)
    session.add(row)
    session.flush()
    assert c.get(f"{API}/me").status_code == 401


def test_server_secret_is_generated_once_and_kept(app: FastAPI, session: Session) -> None:
    from accounts.models import Secret
    from accounts.service import server_secret

    first, _ = server_secret(session)
    assert len(first) >= 40
    assert server_secret(session) == (first, True)
    assert session.exec(select(Secret)).one().value == first


# --- users admin API ----------------------------------------------------------------------------------


def test_admin_manages_users(client: TestClient, session: Session, unit_a: Unit) -> None:
    r = client.post(f"{API}/users", json={"username": "zheng", "password": "short", "role": "auditor"})
    assert r.status_code == 422 and "10" in r.json()["detail"]
    r = client.post(
        f"{API}/users", json={"username": "zheng", "password": "zheng-1234567", "role": "auditor"}
    )
    assert r.status_code == 422  # contains the username
    r = client.post(f"{API}/users", json={"username": "zheng", "password": PASSWORD, "role": "unit_viewer"})
    assert r.status_code == 422 and "unit" in r.json()["detail"]
    r = client.post(
        f"{API}/users",
        json={"username": "zheng", "password": PASSWORD, "role": "unit_viewer", "unit_id": unit_a.id},
    )
    assert r.status_code == 201 and "password" not in r.text and "hash" not in r.text
    assert (
        client.post(
            f"{API}/users", json={"username": "zheng", "password": PASSWORD, "role": "auditor"}
        ).status_code
        == 409
    )
    assert client.patch(f"{API}/users/zheng", json={"role": "auditor"}).json()["unit_id"] is None
    assert client.put(f"{API}/users/zheng/password", json={"password": "another-good-one"}).status_code == 204
    assert client.patch(f"{API}/users/zheng", json={"is_active": False}).json()["is_active"] is False
    assert client.patch(f"{API}/users/test_admin", json={"is_active": False}).status_code == 422
    r = client.patch(f"{API}/users/test_admin", json={"role": "auditor"})
    assert r.status_code == 422 and "唯一的管理员" in r.json()["detail"]
    listed = client.get(f"{API}/users", params={"q": "zheng"}).json()
    assert listed["count"] == 1 and listed["data"][0]["role"] == "auditor"
    assert actions(session, "zheng") == ["user.create", "user.update", "user.set_password", "user.disable"]
    update = session.exec(select(AuditLog).where(AuditLog.action == "user.update")).one()
    assert update.actor == "test_admin"
    before = {"username": "zheng", "display_name": "", "role": "unit_viewer", "unit_id": unit_a.id}
    assert update.before == {**before, "is_active": True}
    assert update.after and update.after["role"] == "auditor"


def test_disabling_a_user_revokes_their_tokens(
    client: TestClient, session: Session, client_as: ClientAs
) -> None:
    user = add_user(session, "feng", "auditor")
    assert user.id is not None
    token = client_as(None).post(f"{API}/auth/token", json={"username": "feng", "password": PASSWORD}).json()
    client.patch(f"{API}/users/feng", json={"is_active": False})
    client.patch(f"{API}/users/feng", json={"is_active": True})
    assert client_as(None).get(f"{API}/me", headers=bearer(token["access_token"])).status_code == 401
    tokens = client.get(f"{API}/users/feng/tokens", params={"all": True}).json()
    assert tokens and all(t["revoked_at"] for t in tokens)


@pytest.mark.parametrize("password", ["1234567890", "aaaaaaaaaaaa", "abababababab"])
def test_weak_passwords_are_refused(password: str) -> None:
    from accounts.rules import password_problem

    assert password_problem(password, "someone")
    assert password_problem("correct horse battery", "someone") is None


def test_changing_ones_password_needs_the_current_one(client_as: ClientAs, session: Session) -> None:
    add_user(session, "he", "auditor")
    anon = client_as(None)
    token = anon.post(f"{API}/auth/token", json={"username": "he", "password": PASSWORD}).json()[
        "access_token"
    ]
    me = bearer(token)
    wrong = {"current_password": "not-it-at-all", "new_password": "Brand-new-pass-1"}
    for _ in range(get_settings().login_max_failures):
        assert anon.post(f"{API}/me/password", json=wrong, headers=me).status_code == 422
    right = {"current_password": PASSWORD, "new_password": "Brand-new-pass-1"}
    assert anon.post(f"{API}/me/password", json=right, headers=me).status_code == 429  # locked now
    client_as("admin").post(f"{API}/users/he/unlock")
    weak = {"current_password": PASSWORD, "new_password": "short"}
    assert anon.post(f"{API}/me/password", json=weak, headers=me).status_code == 422
    assert anon.post(f"{API}/me/password", json=right, headers=me).status_code == 204
    assert (
        anon.post(f"{API}/auth/token", json={"username": "he", "password": "Brand-new-pass-1"}).status_code
        == 200
    )


def test_a_new_password_revokes_the_users_tokens(
    client_as: ClientAs, session: Session, client: TestClient
) -> None:
    add_user(session, "wei", "auditor")
    anon = client_as(None)

    def token() -> dict[str, str]:
        got = anon.post(f"{API}/auth/token", json={"username": "wei", "password": PASSWORD})
        return bearer(got.json()["access_token"])

    changer, other = token(), token()
    made = anon.post(f"{API}/me/tokens", json={"name": "脚本", "days": 365}, headers=changer).json()
    script = bearer(made["token"])
    assert anon.get(f"{API}/me", headers=script).status_code == 200
    change = {"current_password": PASSWORD, "new_password": "Brand-new-pass-1"}
    assert anon.post(f"{API}/me/password", json=change, headers=changer).status_code == 204
    assert anon.get(f"{API}/me", headers=changer).status_code == 200  # the token making the change stays
    assert anon.get(f"{API}/me", headers=other).status_code == 401
    assert anon.get(f"{API}/me", headers=script).status_code == 401
    # an admin's reset revokes them all, the one that changed the password included
    assert client.put(f"{API}/users/wei/password", json={"password": "Another-pass-22"}).status_code == 204
    assert anon.get(f"{API}/me", headers=changer).status_code == 401
    entry = session.exec(select(AuditLog).where(AuditLog.action == "user.set_password")).all()
    assert [e.detail for e in entry] == [
        "password changed, 2 tokens and sign-ins revoked",
        "password changed, 1 tokens and sign-ins revoked",
    ]


def test_self_made_tokens_have_a_maximum_lifetime(client_as: ClientAs, settings_env: Any) -> None:
    settings_env(token_max_days=30, token_days=90)
    c = client_as("auditor")
    never = c.post(f"{API}/me/tokens", json={"name": "永久", "days": 0})
    assert never.status_code == 422 and "GONGWU_TOKEN_MAX_DAYS" in never.json()["detail"]
    assert c.post(f"{API}/me/tokens", json={"days": 31}).status_code == 422
    ok = c.post(f"{API}/me/tokens", json={"days": 30}).json()
    default = c.post(f"{API}/me/tokens", json={}).json()  # the default is cut to the cap
    for made in (ok, default):
        from datetime import datetime

        life = datetime.fromisoformat(made["expires_at"]) - datetime.fromisoformat(made["created_at"])
        assert life == timedelta(days=30)
