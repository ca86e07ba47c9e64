"""The demo data set (`huzhu demo`, and `huzhu serve` on an empty database): the city and its 16
districts, towns and workplace unions, a few hundred members with cards, and one login per role.

The apps add their part (plans, stations, care campaigns, activities): each module named in
APP_DEMOS has a `demo_load()` that this one calls, in that order, after the people.
"""

from __future__ import annotations

import importlib
import random
import tempfile
from pathlib import Path

from django.db import transaction

from huzhu.accounts.models import Role, User
from huzhu.core.config import DEMO_PASSWORD
from huzhu.members.models import Organisation

__all__ = ["DEMO_PASSWORD", "demo_is_loaded", "demo_load", "demo_load_if_empty"]
DEMO_MEMBERS = 600
DEMO_SEED = 2021

# (username, role, organisation code)
DEMO_STAFF = (
    ("admin", Role.CITY_ADMIN, "BJ"),
    ("finance", Role.CITY_ADMIN, "BJ"),  # the second signature on payment runs
    ("xicheng", Role.DISTRICT_ADMIN, "BJ02"),
    ("huairou", Role.DISTRICT_ADMIN, "BJ16"),
    ("reviewer", Role.REVIEWER, "BJ"),
    ("gate", Role.GATE, "BJ16"),
    ("station", Role.STATION_OPERATOR, "BJ02"),
)

APP_DEMOS = (
    "huzhu.protection.demo",
    "huzhu.stations.demo",
    "huzhu.care.demo",
    "huzhu.benefits.demo",
    "huzhu.web.demo",  # last: the money, for the members made above
)


def demo_is_loaded() -> bool:
    return Organisation.objects.filter(code="BJ").exists()


def demo_load_if_empty() -> bool:
    if Organisation.objects.exists():
        return False
    demo_load()
    return True


def demo_load() -> dict[str, int]:
    """Load the demo data set; running it again changes nothing that is already there."""
    from huzhu.members.logins import staff_create
    from huzhu.members.roster import members_import, orgs_import
    from huzhu.synth import generate_dataset

    summary: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp, transaction.atomic():
        out = Path(tmp)
        generate_dataset(out=out, members=DEMO_MEMBERS, seed=DEMO_SEED)
        orgs = orgs_import((out / "orgs.csv").read_bytes(), file="orgs.csv")
        members = members_import((out / "members.csv").read_bytes(), file="members.csv")
        summary["organisations created"] = orgs.created
        summary["members created"] = members.created
        unit = Organisation.objects.filter(kind="unit").order_by("code").first()
        staff = [*DEMO_STAFF, ("unit", Role.UNIT_ADMIN, unit.code if unit else "BJ")]
        created = 0
        for username, role, org_code in staff:
            if not User.objects.filter(username=username).exists():
                staff_create(
                    username=username,
                    password=DEMO_PASSWORD,
                    org_code=org_code,
                    role=role,
                    check_password=False,
                )
                created += 1
        summary["staff logins created"] = created
        random.seed(DEMO_SEED)
        for name in APP_DEMOS:
            summary.update(importlib.import_module(name).demo_load())
    return summary
