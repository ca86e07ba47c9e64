"""Pages of long lists by position (keyset pagination) and their totals, for lists of millions
of rows (the roster, claims, a payment run's transfers, the audit log).

A page after `?offset=3000000` makes the database read and throw away three million rows; a page
after a position (the last row's ordering values) reads only its own rows, through the index
the ordering uses. The position travels as an opaque, signed `cursor`: a client cannot forge
one (a changed cursor is a 400 naming `cursor`), and one list's cursor is refused by another
(the signature covers the model and the ordering). Rows added or removed between pages neither
repeat nor skip a row of what remains, since a position is a value, not a count.

The ordering must be total: the primary key is added as the last key when the ordering lacks
it, so ties in earlier keys (two claims filed in the same microsecond, two members of one name)
are broken the same way on every page.

A list's total is exact where counting is cheap: when the page holds the whole list (no
query at all), on SQLite (a single file, nothing to estimate from), and when PostgreSQL's
planner expects at most EXACT_UP_TO rows for at most EXACT_COST of work. Otherwise the planner's
estimate of the rows (EXPLAIN, which for an unfiltered table is pg_class.reltuples scaled to
the table's current size) is the total, marked as estimated: a page says "about 4,000,000",
never counts four million rows to say it, nor joins a million members to count a district's
thirty thousand claims.
"""

from __future__ import annotations

import functools
import json
import operator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from django.core import signing
from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import connections
from django.db.models import Field, Model, Q, QuerySet
from django.utils.translation import gettext as _

from huzhu.core.errors import DomainError

T = TypeVar("T", bound=Model)

# A list the planner expects to hold at most EXACT_UP_TO rows, read at a cost of at most
# EXACT_COST (its units: about one page read in sequence; some 10 µs each here), is counted.
EXACT_UP_TO = 50_000
EXACT_COST = 5_000

FORWARD, BACKWARD = "n", "p"


@dataclass(frozen=True)
class Total:
    """How many rows a list has: `count`, exact unless `estimated`."""

    count: int
    estimated: bool = False

    @property
    def shown(self) -> str:
        """The total as a page writes it: exact, or an estimate to three figures."""
        n = self.count
        if self.estimated and n >= 1000:
            step = 10 ** (len(str(n)) - 3)
            n = (n + step // 2) // step * step
        return f"{n:,}"


@dataclass(frozen=True)
class KeysetPage(Generic[T]):
    """A page of rows in the list's order, with the cursors of the pages next to it (None where
    there is none)."""

    rows: list[T]
    next_cursor: str | None
    prev_cursor: str | None
    known_total: int | None = None  # when the pages up to this one are the whole list


@dataclass(frozen=True)
class _Key:
    field: Field[Any, Any]
    descending: bool

    @property
    def name(self) -> str:
        return str(self.field.name)

    def ordering(self, backwards: bool) -> str:
        return f"-{self.name}" if self.descending != backwards else self.name


def invalid_cursor() -> DomainError:
    return DomainError(
        "invalid_cursor",
        _("翻页参数 cursor 无效（可能被改动过），请从第一页重新开始"),
        field="cursor",
    )


def _keys(qs: QuerySet[Any]) -> list[_Key]:
    """The list's ordering as keys of the model's own fields, the primary key last."""
    meta = qs.model._meta
    ordering = list(qs.query.order_by) or list(meta.ordering)
    if not ordering:
        raise ValueError(f"a keyset page of {meta.label} needs an ordering")
    keys = []
    for item in ordering:
        if not isinstance(item, str) or "__" in item or item.lstrip("-") == "?":
            raise ValueError(f"a keyset page orders by fields of the model, not {item!r}")
        name = item.lstrip("-")
        field = meta.pk if name == "pk" else meta.get_field(name)
        if field.null or not field.concrete:
            raise ValueError(f"a keyset key must be a column that is never null: {name}")
        keys.append(_Key(field, item.startswith("-")))
    if all(k.field is not meta.pk for k in keys):
        keys.append(_Key(meta.pk, keys[-1].descending))
    return keys


def _salt(qs: QuerySet[Any], keys: list[_Key]) -> str:
    order = ",".join(k.ordering(backwards=False) for k in keys)
    return f"huzhu.keyset:{qs.model._meta.label_lower}:{order}"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _encode(salt: str, direction: str, keys: list[_Key], row: Model) -> str:
    values = [_plain(getattr(row, k.field.attname)) for k in keys]
    return signing.dumps([direction, values], salt=salt, compress=False)


def _decode(salt: str, keys: list[_Key], cursor: str) -> tuple[str, list[Any]]:
    try:
        direction, plain = signing.loads(cursor, salt=salt)
        if direction not in (FORWARD, BACKWARD) or len(plain) != len(keys):
            raise ValueError(direction)
        values = [k.field.to_python(v) for k, v in zip(keys, plain, strict=True)]
    except (signing.BadSignature, ValidationError, ValueError, TypeError, json.JSONDecodeError):
        raise invalid_cursor() from None
    if any(v is None for v in values):
        raise invalid_cursor()
    return direction, values


def _beyond(keys: list[_Key], values: list[Any], backwards: bool) -> Q:
    """Rows strictly after the position in the list's order (before it, going backwards):
    (k1 > v1) or (k1 = v1 and k2 > v2) or …, with `>` read per key's direction; led by k1 >= v1
    so that the database walks the first key's index from the position."""

    def op(key: _Key, strict: bool) -> str:
        later = "gt" if key.descending == backwards else "lt"
        return later if strict else later + "e"

    terms = []
    for i, key in enumerate(keys):
        equal = {keys[j].name: values[j] for j in range(i)}
        terms.append(Q(**equal, **{f"{key.name}__{op(key, True)}": values[i]}))
    lead = Q(**{f"{keys[0].name}__{op(keys[0], False)}": values[0]})
    return lead & functools.reduce(operator.or_, terms)


def keyset_page(
    qs: QuerySet[T], *, limit: int, cursor: str | None = None, offset: int = 0
) -> KeysetPage[T]:
    """The page of `limit` rows of `qs` (ordered; see the module's docstring) after `cursor`,
    or from `offset` without one (pages by count, kept for the clients that use them; the
    cursors given back work from there). A cursor and an offset together are refused."""
    keys = _keys(qs)
    salt = _salt(qs, keys)
    direction, values = FORWARD, None
    if cursor:
        if offset:
            raise DomainError(
                "invalid_request",
                _("offset 不能与 cursor 同时使用"),
                field="offset",
            )
        direction, values = _decode(salt, keys, cursor)
    backwards = direction == BACKWARD
    ordered = qs.order_by(*(k.ordering(backwards) for k in keys))
    if values is not None:
        ordered = ordered.filter(_beyond(keys, values, backwards))
    start = offset if values is None else 0
    rows = list(ordered[start : start + limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
        before, after = more, True
    else:
        before, after = values is not None or offset > 0, more
    whole = values is None and not more and (rows or not offset)
    return KeysetPage(
        rows=rows,
        next_cursor=_encode(salt, FORWARD, keys, rows[-1]) if after and rows else None,
        prev_cursor=_encode(salt, BACKWARD, keys, rows[0]) if before and rows else None,
        known_total=offset + len(rows) if whole else None,
    )


def planner_estimate(qs: QuerySet[Any]) -> tuple[int, float]:
    """PostgreSQL's estimate of how many rows `qs` holds and of the cost of reading them all,
    from EXPLAIN (no rows are read)."""
    try:
        sql, params = qs.order_by().query.sql_with_params()
    except EmptyResultSet:  # `qs.none()`, or a filter on an empty list of values
        return 0, 0.0
    with connections[qs.db].cursor() as cur:
        cur.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cur.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    top = plan[0]["Plan"]
    return int(top["Plan Rows"]), float(top["Total Cost"])


def list_total(qs: QuerySet[Any], page: KeysetPage[Any] | None = None) -> Total:
    """How many rows `qs` holds: exact where counting is cheap, else PostgreSQL's estimate
    (see the module's docstring). `page`, a page of `qs`, may already know."""
    if page is not None and page.known_total is not None:
        return Total(page.known_total)
    if connections[qs.db].vendor == "postgresql":
        rows, cost = planner_estimate(qs)
        if rows > EXACT_UP_TO or cost > EXACT_COST:
            return Total(rows, estimated=True)
    return Total(qs.count())
