"""Pages by position (huzhu.core.keyset): walking the pages forward or back, from the start or
from an offset, gives every row exactly once and in the list's order, ties included; a cursor
changed by hand, or taken from another list, is refused naming `cursor`; totals are exact on
SQLite, for a page that holds the whole list, and for a list PostgreSQL expects short and cheap
to count; the planner's estimate (and said to be one) otherwise."""

from __future__ import annotations

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huzhu.core import keyset
from huzhu.core.errors import DomainError
from huzhu.core.keyset import keyset_page, list_total
from huzhu.members.models import Organisation, OrgKind

ORDERINGS = [("name",), ("-name",), ("name", "-code"), ("-name", "id"), ("id",), ("-id",)]


def _orgs(names: list[str]) -> None:
    Organisation.objects.bulk_create(
        Organisation(code=f"K{i:04d}", name=name, kind=OrgKind.UNIT) for i, name in enumerate(names)
    )


def _listed() -> object:
    return Organisation.objects.filter(code__startswith="K")


def _walk_forward(qs, limit: int, offset: int = 0) -> list[int]:
    page = keyset_page(qs, limit=limit, offset=offset)
    seen = [o.pk for o in page.rows]
    while page.next_cursor:
        assert len(page.rows) == limit  # only the last page is short
        assert len(seen) <= qs.count()  # a page that gave a row again never ends
        page = keyset_page(qs, limit=limit, cursor=page.next_cursor)
        seen += [o.pk for o in page.rows]
    return seen


def _last_page_cursor(qs, limit: int) -> tuple[list[int], str | None]:
    page = keyset_page(qs, limit=limit)
    while page.next_cursor:
        page = keyset_page(qs, limit=limit, cursor=page.next_cursor)
    return [o.pk for o in page.rows], page.prev_cursor


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    names=st.lists(st.sampled_from(["甲", "乙", "丙", "丁"]), max_size=23),
    ordering=st.sampled_from(ORDERINGS),
    limit=st.integers(1, 6),
    offset=st.integers(0, 8),
)
def test_pages_cover_every_row_once_in_order_with_ties(db, names, ordering, limit, offset):
    sid = transaction.savepoint()
    try:
        _orgs(names)
        qs = _listed().order_by(*ordering)
        # Ties are broken by the primary key, in the direction of the last key.
        tie = (
            [] if ordering[-1].lstrip("-") == "id" else ["-id" if ordering[-1][0] == "-" else "id"]
        )
        expected = list(qs.order_by(*ordering, *tie).values_list("pk", flat=True))
        assert _walk_forward(qs, limit) == expected
        assert _walk_forward(qs, limit, offset) == expected[offset:]
        # Back from the last page to the first: the same rows, the same order.
        back, cursor = _last_page_cursor(qs, limit)
        while cursor:
            assert len(back) <= len(expected)
            page = keyset_page(qs, limit=limit, cursor=cursor)
            assert len(page.rows) == limit and page.next_cursor
            back = [o.pk for o in page.rows] + back
            cursor = page.prev_cursor
        assert back == expected
    finally:
        transaction.savepoint_rollback(sid)


def test_rows_added_or_removed_between_pages_neither_repeat_nor_skip_the_others(db):
    _orgs(["甲"] * 6)
    qs = _listed().order_by("name")
    rows = list(qs.order_by("name", "id"))
    first = keyset_page(qs, limit=3)
    Organisation.objects.filter(pk=rows[0].pk).delete()  # before the position
    late = Organisation.objects.create(code="K9999", name="甲", kind=OrgKind.UNIT)
    second = keyset_page(qs, limit=3, cursor=first.next_cursor)
    third = keyset_page(qs, limit=3, cursor=second.next_cursor)
    seen = [o.pk for o in first.rows + second.rows + third.rows]
    assert seen == [o.pk for o in rows] + [late.pk]


def test_the_first_page_has_no_previous_and_the_last_no_next(db):
    _orgs(["甲", "乙", "丙"])
    qs = _listed().order_by("name")
    first = keyset_page(qs, limit=3)
    assert first.prev_cursor is None and first.next_cursor is None
    assert keyset_page(qs, limit=2, offset=1).prev_cursor is not None
    empty = keyset_page(Organisation.objects.none().order_by("name"), limit=5)
    assert (empty.rows, empty.next_cursor, empty.prev_cursor) == ([], None, None)


def _refused(qs, cursor: str, field: str = "cursor", **kw: int) -> bool:
    with pytest.raises(DomainError) as refused:
        keyset_page(qs, limit=2, cursor=cursor, **kw)
    return refused.value.status == 400 and refused.value.details == {"field": field}


def test_a_changed_cursor_or_another_lists_cursor_is_refused_naming_it(db):
    _orgs(["甲", "乙", "丙", "丁"])
    by_name = _listed().order_by("name")
    cursor = keyset_page(by_name, limit=2).next_cursor
    assert cursor
    payload, signature = cursor.split(":", 1)
    changed = ("x" if payload[0] != "x" else "y") + payload[1:]
    for bad in (f"{changed}:{signature}", cursor[:-1], "not-a-cursor", "::", "é"):
        assert _refused(by_name, bad)
    assert _refused(_listed().order_by("-name"), cursor)  # another ordering
    assert _refused(by_name, cursor, field="offset", offset=1)  # one or the other


def test_totals_are_exact_on_sqlite_and_small_lists(db):
    _orgs(["甲"] * 7)
    assert list_total(_listed()) == keyset.Total(7, estimated=False)
    assert list_total(Organisation.objects.none()) == keyset.Total(0, estimated=False)


def test_a_page_that_holds_the_whole_list_knows_its_total(db, monkeypatch):
    _orgs(["甲"] * 7)
    monkeypatch.setattr(keyset, "EXACT_UP_TO", 0)  # nothing would be counted on PostgreSQL
    qs = _listed().order_by("name")
    for limit, offset, known in ((7, 0, 7), (10, 0, 7), (3, 5, 7), (3, 0, None), (3, 9, None)):
        page = keyset_page(qs, limit=limit, offset=offset)
        assert page.known_total == known
        if known is not None:
            assert list_total(qs, page) == keyset.Total(7, estimated=False)
    after = keyset_page(qs, limit=3, cursor=keyset_page(qs, limit=3).next_cursor)
    assert after.known_total is None  # a page after a cursor cannot tell what came before


@pytest.mark.postgres
def test_postgresql_estimates_a_long_or_costly_list_and_says_so(db, monkeypatch):
    _orgs(["甲"] * 7)
    rows, cost = keyset.planner_estimate(_listed())
    assert rows >= 1 and cost > 0
    monkeypatch.setattr(keyset, "EXACT_UP_TO", 0)
    assert list_total(_listed()) == keyset.Total(rows, estimated=True)
    monkeypatch.setattr(keyset, "EXACT_UP_TO", 10**9)
    assert list_total(_listed()) == keyset.Total(7, estimated=False)
    monkeypatch.setattr(keyset, "EXACT_COST", 0)
    assert list_total(_listed()) == keyset.Total(rows, estimated=True)


def test_an_estimate_is_shown_to_three_figures_a_count_exactly():
    assert keyset.Total(4_012_345, estimated=True).shown == "4,010,000"
    assert keyset.Total(4_012_345).shown == "4,012,345"
    assert keyset.Total(987, estimated=True).shown == "987"
