"""Pages of a list: ninja's limit and offset, bounded (INTERFACES "Bounds": no input may cause a
5xx). Unbounded, `?offset=99999999999999999999` reached the database as a number no column type
holds ("datatype mismatch" on SQLite, "bigint out of range" on PostgreSQL): a 500.

Every list the API answers is a page of at most MAX_PAGE items (`?limit=1000000` is a 422, not
everything): `@paginate(Paged)` over a queryset, or over `Rendered` where each item is built by
a function, or `PageQuery` where a record carries its rows (a payment run's transfers)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar, overload

from django.conf import settings
from django.db.models import QuerySet
from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination

MAX_PAGE = 1_000
MAX_OFFSET = 2**62  # offset + limit stays within a signed 64-bit integer

T = TypeVar("T")


class PageQuery(Schema):
    """`limit` 1-1,000 (default NINJA_PAGINATION_PER_PAGE) and `offset`, as query parameters."""

    limit: int = Field(settings.NINJA_PAGINATION_PER_PAGE, ge=1, le=MAX_PAGE)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)

    def of(self, rows: Sequence[T] | QuerySet[Any]) -> Any:
        return rows[self.offset : self.offset + self.limit]


class Paged(LimitOffsetPagination):
    """At most 1,000 items a page, from an offset a database can hold; a 422 naming `limit` or
    `offset` otherwise."""

    Input = PageQuery  # type: ignore[assignment]


class Rendered(Generic[T]):
    """A queryset whose items are rendered by `render` (a page of rows to a page of answers),
    for Paged: only the page asked for is fetched and rendered; its length is a COUNT."""

    def __init__(self, rows: QuerySet[Any], render: Callable[[list[Any]], list[T]]):
        self.rows = rows
        self.render = render

    def __len__(self) -> int:
        return self.rows.count()

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return self.render(list(self.rows[index]))
        return self.render([self.rows[index]])[0]
