"""Pages of a list: ninja's limit and offset, bounded (INTERFACES "Bounds": no input may cause a
5xx). Unbounded, `?offset=99999999999999999999` reached the database as a number no column type
holds ("datatype mismatch" on SQLite, "bigint out of range" on PostgreSQL): a 500."""

from __future__ import annotations

from django.conf import settings
from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination

MAX_PAGE = 1_000
MAX_OFFSET = 2**62  # offset + limit stays within a signed 64-bit integer


class Paged(LimitOffsetPagination):
    """At most 1,000 items a page, from an offset a database can hold; a 422 naming `limit` or
    `offset` otherwise."""

    class Input(Schema):
        limit: int = Field(settings.NINJA_PAGINATION_PER_PAGE, ge=1, le=MAX_PAGE)
        offset: int = Field(0, ge=0, le=MAX_OFFSET)
