"""Who may do what, defined once (accounts.policy): the grants read as the product's rules, and
every role set the services, pages and API check is one of them."""

from __future__ import annotations

from huzhu.accounts.models import Role
from huzhu.accounts.policy import GRANTS, Permission, in_subtree, may


def test_the_grants_read_as_the_rules():
    admins = {Role.CITY_ADMIN, Role.DISTRICT_ADMIN, Role.UNIT_ADMIN}
    assert GRANTS[Permission.CLAIM_FILE] == {Role.UNIT_ADMIN}  # a union files for its member
    assert GRANTS[Permission.CLAIM_REVIEW] == {Role.REVIEWER, Role.DISTRICT_ADMIN, Role.CITY_ADMIN}
    assert GRANTS[Permission.CLAIM_CORRECT] == {Role.DISTRICT_ADMIN, Role.CITY_ADMIN}
    assert GRANTS[Permission.PAYMENT_RUN] == {Role.CITY_ADMIN}  # money leaves from the city
    assert GRANTS[Permission.VOUCHER_REDEEM] == admins | {Role.GATE}
    # Gate staff and station operators never see the roster.
    assert not GRANTS[Permission.ROSTER_READ] & {Role.GATE, Role.STATION_OPERATOR}
    assert Role.MEMBER not in set().union(*GRANTS.values())
    assert set(GRANTS) == set(Permission)


def test_every_role_set_in_the_code_is_a_grant():
    from huzhu.benefits.selectors import GATE_ROLES, MANAGER_ROLES
    from huzhu.care.selectors import CARE_ROLES
    from huzhu.protection.services import CORRECT_ROLES, FILE_ROLES, REVIEW_ROLES
    from huzhu.stations.selectors import STATION_ADMIN_ROLES
    from huzhu.web.claim_views import PAYER_ROLES

    grants = set(GRANTS.values())
    for role_set in (GATE_ROLES, MANAGER_ROLES, CARE_ROLES, CORRECT_ROLES, FILE_ROLES,
                     REVIEW_ROLES, STATION_ADMIN_ROLES, PAYER_ROLES):  # fmt: skip
        assert role_set in grants


def test_may_and_the_subtree():
    class Login:
        role = Role.REVIEWER

    assert may(Login(), Permission.CLAIM_REVIEW) and not may(Login(), Permission.CLAIM_FILE)
    assert not may(object(), Permission.STAFF)
    assert in_subtree("/1/2/5/", "/1/2/") and in_subtree("/1/2/", "/1/2/")
    assert not in_subtree("/1/3/", "/1/2/") and not in_subtree("/1/", "/1/2/")
