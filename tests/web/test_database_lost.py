"""A page whose database connection is lost mid-request says "try again" (503), not a 500."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from huzhu.benefits import selectors as benefit_selectors
from huzhu.core.middleware import DatabaseLostMiddleware
from tests.faults import cut_before


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_page_whose_connection_is_cut_answers_503_and_the_next_one_works(member_client):
    with cut_before(benefit_selectors, "with_total_quota"):
        r = member_client.get("/m/benefits/")
    assert r.status_code == 503, r.content[:300]
    assert r["Retry-After"] == "5"
    assert "服务暂时不可用" in r.content.decode() and "5 秒后重试" in r.content.decode()
    # Django opens a new connection for the next request.
    assert member_client.get("/m/benefits/").status_code == 200


@pytest.mark.django_db
def test_other_database_errors_stay_errors(rf):
    """A failing query on a healthy connection is a bug: the 500 handler sees it."""
    middleware = DatabaseLostMiddleware(lambda request: None)  # type: ignore[arg-type,return-value]
    assert middleware.process_exception(rf.get("/"), OperationalError("no such column")) is None
    assert middleware.process_exception(rf.get("/"), ValueError("bug")) is None


def test_the_page_is_english_too():
    from django.template.loader import render_to_string
    from django.utils import translation

    with translation.override("en"):
        page = render_to_string("web/unavailable.html", {"retry": 5})
    assert "temporarily unavailable" in page.lower() and "5 seconds" in page
