"""Pages of a list: ninja's limit and offset, bounded (INTERFACES "Bounds": no input may cause a
5xx). Unbounded, `?offset=99999999999999999999` reached the database as a number no column type
holds ("datatype mismatch" on SQLite, "bigint out of range" on PostgreSQL): a 500.

Every list the API answers is a page of at most MAX_PAGE items (`?limit=1000000` is a 422, not
everything): `@paginate(Paged)` over a queryset, or over `Rendered` where each item is built by
a function, or `PageQuery` where a record carries its rows.

The lists of millions of rows (the roster, claims, a payment run's transfers) page by position
as well (`@paginate(Keyset)`, or `keyset_answer`; huzhu.core.keyset): `cursor` takes the
`next_cursor` or `prev_cursor` of an answer, and `count` is exact unless `total_is_estimate`
(PostgreSQL's estimate for a list too long to count on every page). `limit` and `offset` work
as before, and their answers carry cursors too."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar, overload

from django.conf import settings
from django.db.models import QuerySet
from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination, PaginationBase

from huzhu.core.keyset import keyset_page, list_total

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


class KeysetQuery(PageQuery):
    """`limit` and `offset` as PageQuery, or `cursor` (from an earlier answer) instead of
    `offset`."""

    cursor: str | None = Field(None, max_length=1_000)


class KeysetOut(Schema):
    items: list[Any]
    count: int
    total_is_estimate: bool = False  # `count` is PostgreSQL's estimate, not a count
    next_cursor: str | None = None
    prev_cursor: str | None = None


def keyset_answer(rows: QuerySet[Any] | Rendered[Any], page: KeysetQuery) -> dict[str, Any]:
    """A page of an ordered queryset (or of `Rendered` rows) by `page`, with its total and
    cursors, as KeysetOut."""
    qs = rows.rows if isinstance(rows, Rendered) else rows
    found = keyset_page(qs, limit=page.limit, cursor=page.cursor, offset=page.offset)
    total = list_total(qs, found)
    return {
        "items": rows.render(found.rows) if isinstance(rows, Rendered) else found.rows,
        "count": total.count,
        "total_is_estimate": total.estimated,
        "next_cursor": found.next_cursor,
        "prev_cursor": found.prev_cursor,
    }


class Keyset(PaginationBase):
    """Paged by position or by offset, as KeysetOut (`items` and `count` as Paged)."""

    Input = KeysetQuery  # type: ignore[assignment]
    Output = KeysetOut  # type: ignore[assignment]

    def paginate_queryset(self, queryset: Any, pagination: Any, request: Any, **params: Any) -> Any:
        return keyset_answer(queryset, pagination)
