"""Schemathesis fuzzes every operation of /api/v1/openapi.json, signed in as each role and as
nobody: no 5xx ever, and every response matches the schema (the error shape included).

HUZHU_FUZZ_EXAMPLES raises the examples per operation and role (default 2, so the suite stays
fast; CI's nightly-style runs can ask for more).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from huzhu.accounts.models import Role
from huzhu.wsgi import application
from tests.conftest import new_id_number

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
EXAMPLES = int(os.environ.get("HUZHU_FUZZ_EXAMPLES", "2"))
ROLES = [None, *[r.value for r in Role if r != Role.MEMBER], Role.MEMBER.value]


@pytest.fixture(params=ROLES, ids=lambda r: r or "anonymous")
def auth_headers(request, tree, make_staff, make_member, api_as):
    from huzhu.accounts.models import User
    from huzhu.accounts.services import token_issue
    from huzhu.members.services import card_issue
    from tests.conftest import PASSWORD

    role = request.param
    if role is None:
        return {}
    if role == Role.MEMBER:
        member = make_member(tree.u1, id_number=new_id_number())
        card_issue(member=member, card_no="62990099")
        user = User(username="fuzz-member", role=Role.MEMBER, member=member)
        user.set_password(PASSWORD)
        user.save()
    else:
        user = make_staff(role, tree.xicheng)
    return {"Authorization": f"Bearer {token_issue(username=user.username, password=PASSWORD)}"}


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Django's test client stops request signals from closing the test's database connection;
    Schemathesis calls the WSGI app directly, so do the same here (it matters on PostgreSQL)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
def test_no_5xx_and_every_response_matches_the_schema(case, auth_headers):
    # Schemathesis calls the WSGI app without decoding what it answers: ask for the body as it
    # is (browsers and apps get it gzipped, tests/core/test_serve.py).
    auth_headers = {**auth_headers, "Accept-Encoding": "identity"}
    response = case.call(headers=auth_headers)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    # Business rules may refuse schema-valid data with a documented 4xx (a bad ID number, an
    # unknown unit): that is not a defect, so the "positive data acceptance" check is off.
    case.validate_response(
        response, headers=auth_headers, excluded_checks=[positive_data_acceptance]
    )
