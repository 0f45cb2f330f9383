"""Alembic environment: the database comes from the caller's connection (`gongwu init`) or from settings."""

from __future__ import annotations

from typing import Any

from alembic import context

from core.db import get_engine
from gongwu.migrate import include_object
from gongwu.models import metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    if type_ == "type" and type(obj).__name__ == "UtcDateTime":
        autogen_context.imports.add("import core.models")
        return "core.models.UtcDateTime()"
    if type_ == "type" and type(obj).__name__ == "ScaledInt":
        autogen_context.imports.add("import core.models")
        return f"core.models.ScaledInt({obj.scale})"
    return False


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        with get_engine().connect() as conn:
            _configure_and_run(conn)
            conn.commit()
    else:
        _configure_and_run(connection)


def _configure_and_run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=include_object,
        render_item=render_item,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
