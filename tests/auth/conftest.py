from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import Session

from accounts import service as auth
from accounts.models import User
from core.models import Unit
from tests.factories import make_unit

PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _fresh_throttle() -> Iterator[None]:
    auth.reset_throttle()
    yield
    auth.reset_throttle()


@pytest.fixture
def unit_a(session: Session) -> Unit:
    return make_unit(session, name="城关镇", kind="township")


@pytest.fixture
def unit_b(session: Session) -> Unit:
    return make_unit(session, name="东关镇", kind="township")


def add_user(
    session: Session, username: str, role: str = "vehicle_manager", *, password: str = PASSWORD,
    unit_id: int | None = None,
) -> User:  # fmt: skip
    return auth.create_user(
        session, username=username, password=password, role=role, unit_id=unit_id, actor="test"
    )
