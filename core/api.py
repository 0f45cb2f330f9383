"""What every domain's routes share: the session dependency, pagination and the list envelope."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func
from sqlmodel import Session, select

from core.db import unit_of_work

T = TypeVar("T")


def get_session(request: Request) -> Iterator[Session]:
    """One request, one transaction: committed when the handler returns, rolled back on error."""
    with unit_of_work(request.app.state.engine) as session:
        yield session


# scope="function": the transaction commits when the handler returns, before the answer is sent, so a
# client that acts on an answer (a token just issued, a job just queued) finds what it announced.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


class Body(BaseModel):
    """A request body: a field it does not have is refused (422), so a misspelt or invented field is an
    error, not silently an empty change."""

    model_config = ConfigDict(extra="forbid")


class PageParams(BaseModel):
    limit: int = 50
    offset: int = 0


def page_params(
    limit: Annotated[int, Query(ge=1, le=1000, description="rows per page")] = 50,
    offset: Annotated[int, Query(ge=0, description="rows to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]


class ListOut(BaseModel, Generic[T]):
    data: list[T]
    count: int


def paginate(session: Session, stmt: Any, page: PageParams) -> tuple[list[Any], int]:
    """Rows of one page and the total count of the filtered query."""
    count = session.exec(select(func.count()).select_from(stmt.order_by(None).subquery())).one()
    rows = list(session.exec(stmt.limit(page.limit).offset(page.offset)).all())
    return rows, int(count)


M = TypeVar("M", bound=BaseModel)


def listing(schema: type[M], session: Session, stmt: Any, page: PageParams) -> ListOut[M]:
    """One page of a query, each row shown as ``schema``: the body of every plain list route."""
    rows, count = paginate(session, stmt, page)
    return ListOut[M](data=[schema.model_validate(r) for r in rows], count=count)
