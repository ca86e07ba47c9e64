"""Pages of the console's long lists (the roster, claims, the audit log, a payment run's
transfers) by position, with next and previous links that keep the page's filters and a total
that is "about N" where PostgreSQL estimates it (huzhu.core.keyset)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.db.models import QuerySet
from django.http import HttpRequest

from huzhu.core.errors import DomainError
from huzhu.core.keyset import Total, keyset_page, list_total

PER_PAGE = 50


@dataclass(frozen=True)
class CursorPage:
    """What _cursor_pager.html shows: the rows, the total (`estimated`: about so many), links
    to the pages next to this one, and why a cursor was refused (the first page is shown)."""

    rows: list[Any]
    total: int
    estimated: bool
    first_url: str
    next_url: str | None
    prev_url: str | None
    error: str | None = None

    def __iter__(self) -> Any:
        return iter(self.rows)

    @property
    def shown_total(self) -> str:
        return Total(self.total, self.estimated).shown


def cursor_page(request: HttpRequest, qs: QuerySet[Any], filters: dict[str, str]) -> CursorPage:
    """The page of `qs` (ordered) that the request's `cursor` points at, the first without
    one; `filters` are the query parameters every link keeps."""
    kept = {k: v for k, v in filters.items() if v}
    error = None
    try:
        page = keyset_page(qs, limit=PER_PAGE, cursor=request.GET.get("cursor") or None)
    except DomainError as exc:
        error = exc.message
        page = keyset_page(qs, limit=PER_PAGE)
    total = list_total(qs, page)

    def link(cursor: str | None) -> str | None:
        return None if cursor is None else "?" + urlencode({**kept, "cursor": cursor})

    return CursorPage(
        rows=page.rows,
        total=total.count,
        estimated=total.estimated,
        first_url="?" + urlencode(kept),
        next_url=link(page.next_cursor),
        prev_url=link(page.prev_cursor),
        error=error,
    )
