"""`gongwu user add|list|disable|enable|unlock|set-password` and `gongwu user token create|list|revoke`.

There is no default user and no default password: the first admin is created explicitly
(`gongwu user add admin --role admin`). Passwords are prompted twice on a terminal (hidden) or read from
stdin with `--password-stdin`; never from an option, which would land in the shell history and `ps`.
Changes are audit-logged as `cli:<os user>`.
"""

from __future__ import annotations

import getpass
import sys
from contextlib import AbstractContextManager
from typing import Annotated

import typer
from sqlmodel import Session, col, select

from accounts.models import ROLES, User
from core.errors import UsageError
from core.i18n import tr
from core.models import Unit
from gongwu.cli_base import app
from gongwu.output import Format, emit

user_app = typer.Typer(help="Users, their roles and their API tokens.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens of a user (shown once when created).", no_args_is_help=True)
app.add_typer(user_app, name="user")
user_app.add_typer(token_app, name="token")

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from stdin (one line) instead of a prompt")
]


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in some containers
        return "cli"


def _read_password(from_stdin: bool) -> str:
    from accounts.rules import password_problem

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UsageError("--password-stdin: stdin gave no password")
        return password
    if not sys.stdin.isatty():
        raise UsageError("no terminal to prompt on: pipe the password with --password-stdin")
    while True:
        password = typer.prompt(tr("密码", "password"), hide_input=True, confirmation_prompt=True)
        problem = password_problem(password)
        if not problem:
            return str(password)
        typer.echo(problem, err=True)


def _session() -> AbstractContextManager[Session]:
    """One command, one transaction on the ready database (checked at once: before a password prompt)."""
    from core.db import unit_of_work
    from gongwu import cli_db

    return unit_of_work(cli_db.database())


@user_app.command("add")
def add(
    username: str,
    role: Annotated[str, typer.Option(help=f"one of {', '.join(ROLES)}")],
    unit: Annotated[str | None, typer.Option(help="the unit (name or id) of a unit role")] = None,
    display_name: Annotated[
        str, typer.Option(help="full name, e.g. 张三; a driver's: as the unit's driver record has it")
    ] = "",
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a user (at least 10 characters of password; the first admin: `user add admin --role admin`).
    A driver's account is linked to the unit's driver of the same name (`gongwu import drivers`)."""
    from accounts import service as auth
    from fleet import service as fleet

    if role not in ROLES:
        raise UsageError(f"--role {role!r}: one of {', '.join(ROLES)}")
    if role == "driver" and not display_name.strip():
        raise UsageError(
            tr(
                "驾驶员账号须用 --display-name 给出驾驶员姓名（与驾驶员登记一致）",
                "a driver's account needs --display-name: the driver's name as registered",
            )
        )
    transaction = _session()  # a database that is not ready is said before a password is asked for
    password = _read_password(password_stdin)
    with transaction as session:
        unit_id = auth.resolve_unit(session, unit)
        user = auth.create_user(
            session, username=username, password=password, role=role, unit_id=unit_id,
            display_name=display_name, actor=cli_actor(),
        )  # fmt: skip
        if role == "driver":
            fleet.link_driver(
                session, user_id=user.id or 0, unit_id=unit_id or 0, name=display_name.strip(),
                actor=cli_actor(),
            )  # fmt: skip
    typer.echo(f"user {user.username} created ({role}{f', unit {unit}' if unit else ''})")


@user_app.command("list")
def list_users(fmt: Annotated[Format, typer.Option("--format")] = Format.table) -> None:
    """Every user with role, unit, state and last sign-in (never a password or token)."""
    with _session() as session:
        units = {u.id: u.name for u in session.exec(select(Unit)).all()}
        rows = [
            {
                "username": u.username,
                "display_name": u.display_name,
                "role": u.role,
                "unit": units.get(u.unit_id) if u.unit_id is not None else None,
                "active": u.is_active,
                "locked_until": u.locked_until,
                "last_login_at": u.last_login_at,
                "created_at": u.created_at,
            }
            for u in session.exec(select(User).order_by(col(User.username))).all()
        ]
    emit(rows, rows, fmt, title=tr("用户", "users"))


def _set_active(username: str, active: bool) -> None:
    from accounts import service as auth

    with _session() as session:
        auth.update_user(session, username, is_active=active, actor=cli_actor())


@user_app.command("disable")
def disable(username: str) -> None:
    """Disable a user: they can no longer sign in, and every token and web sign-in of theirs is revoked."""
    _set_active(username, False)
    typer.echo(f"user {username} disabled; their tokens are revoked")


@user_app.command("enable")
def enable(username: str) -> None:
    """Enable a disabled user again (their old tokens stay revoked)."""
    _set_active(username, True)
    typer.echo(f"user {username} enabled")


@user_app.command("unlock")
def unlock(username: str) -> None:
    """Lift a lock from repeated failed sign-ins."""
    from accounts import service as auth

    with _session() as session:
        auth.unlock_user(session, username, actor=cli_actor())
    typer.echo(f"user {username} unlocked")


@user_app.command("set-password")
def set_password(username: str, password_stdin: PasswordStdin = False) -> None:
    """Set a user's password (also unlocks them and ends their web sign-ins)."""
    from accounts import service as auth

    with _session() as session:
        auth.get_user(session, username)  # fail before prompting
        password = _read_password(password_stdin)
        auth.set_password(session, username, password, actor=cli_actor())
    typer.echo(f"password of {username} changed")


@token_app.command("create")
def token_create(
    username: str,
    name: Annotated[str, typer.Option(help="what the token is for, e.g. 'nightly export'")] = "",
    days: Annotated[
        int | None, typer.Option(min=0, help="lifetime in days, 0: no expiry (default GONGWU_TOKEN_DAYS)")
    ] = None,
) -> None:
    """Create an API token for a user and print it — the only time it is shown."""
    from accounts import service as auth

    with _session() as session:
        user = auth.get_user(session, username)
        row, clear = auth.create_token(session, user, actor=cli_actor(), name=name, days=days)
    expiry = row.expires_at.date().isoformat() if row.expires_at else "never"
    typer.echo(f"token {row.id} for {username} (expires {expiry}); shown once, keep it safe:", err=True)
    typer.echo(clear)


@token_app.command("list")
def token_list(
    username: str,
    all_: Annotated[bool, typer.Option("--all", help="also revoked and expired tokens")] = False,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """A user's tokens (id, name, kind, dates; never the token)."""
    from accounts import service as auth

    with _session() as session:
        user = auth.get_user(session, username)
        assert user.id is not None
        rows = [auth.token_state(t, username) for t in auth.list_tokens(session, user.id, include_dead=all_)]
    emit(rows, rows, fmt, title=tr(f"{username} 的令牌", f"tokens of {username}"))


@token_app.command("revoke")
def token_revoke(token_id: int) -> None:
    """Revoke a token by its id (see `gongwu user token list USERNAME`)."""
    from accounts import service as auth

    with _session() as session:
        auth.revoke_token(session, token_id, actor=cli_actor())
    typer.echo(f"token {token_id} revoked")


def first_admin_hint(session: Session) -> str | None:
    """What `gongwu init` says while no active admin exists (it never creates one itself)."""
    admin = session.exec(select(User.id).where(User.role == "admin", col(User.is_active))).first()
    if admin is not None:
        return None
    return "no admin user yet: create one with `gongwu user add admin --role admin` (there is no default)"
