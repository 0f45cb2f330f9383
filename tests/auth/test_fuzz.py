"""A bounded schemathesis run over the whole OpenAPI schema, in-process (ASGI), as an admin: no 500 and no
answer that breaks its own documented schema; with invalid data (negative mode), still no 500.

On a database of its own where every request commits as in production (thousands of requests inside one
test transaction would each be a savepoint, and PostgreSQL slows to a crawl past 64 of them). Driven
through Hypothesis directly rather than schemathesis' pytest plugin (its lazy fixtures do not work with
pytest 9)."""

from __future__ import annotations

import time
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.generation import GenerationMode
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col

from accounts.models import ApiToken, User
from core.db import unit_of_work
from core.settings import Settings
from gongwu.app import create_app
from tests.conftest import make_token

EXAMPLES = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 15}  # per operation: ~2,800 cases, ~45 s


def _restore_admin(engine: Engine) -> None:
    # A fuzzed call may revoke the admin's own token or demote it; every example starts as admin again.
    with unit_of_work(engine) as session:
        session.execute(
            update(User).where(col(User.username) == "fuzz_admin").values(role="admin", is_active=True)
        )
        session.execute(update(ApiToken).values(revoked_at=None, expires_at=None))


def _fuzz(operation: Any, mode: GenerationMode, engine: Engine, headers: dict[str, str]) -> int:
    checks = [not_a_server_error, response_schema_conformance]
    if mode is GenerationMode.NEGATIVE:
        checks = [not_a_server_error]  # invalid input answers 4xx; its shape is checked in positive mode

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the failure as found is reported
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        _restore_admin(engine)
        calls.append(1)
        case.call_and_validate(headers=headers, checks=checks)

    calls: list[int] = []
    run()
    return len(calls)


def test_api_fuzz(fresh_engine: Engine) -> None:
    with unit_of_work(fresh_engine) as session:
        headers = {"Authorization": f"Bearer {make_token(session, 'admin', username='fuzz_admin')}"}
    app = create_app(
        Settings(database_url=fresh_engine.url.render_as_string(hide_password=False)), engine=fresh_engine
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = cases = 0
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in EXAMPLES:
            try:
                cases += _fuzz(operation, mode, fresh_engine, headers)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to make invalid (no parameter, no body)
            except (
                Exception,
                BaseExceptionGroup,
            ) as exc:  # collect every operation's failure, then fail once
                failures.append(f"{operation.method.upper()} {operation.path} [{mode.value}]: {exc}"[:2000])
    print(f"schemathesis: {operations} operations, {cases} cases, {time.monotonic() - started:.0f} s")
    assert operations > 50 and cases > 5 * operations
    assert not failures, "\n\n".join(failures)
