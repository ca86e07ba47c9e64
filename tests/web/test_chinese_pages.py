"""Every page a worker or staff member opens reads in Chinese: rendered in zh-hans, no page shows a
sentence the English catalogue holds (which would mean a text reached the page untranslated or
in English)."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest

from huzhu.accounts.models import Role
from tests.benefits.conftest import make_activity
from tests.stations.factories import make_station
from tests.web.conftest import make_care_campaign, make_plan_with_claims

MO = Path(__file__).resolve().parents[2] / "src/huzhu/locale/en/LC_MESSAGES/django.mo"


def english_sentences() -> set[str]:
    """The catalogue's English texts long enough to be unmistakable (three words or more)."""
    found = set()
    with MO.open("rb") as fh:
        catalog = gettext.GNUTranslations(fh)._catalog  # type: ignore[attr-defined]
    for text in catalog.values():
        plain = re.sub(r"%\([a-z_]+\)s|%%|<[^>]+>", " ", text)
        for part in re.split(r"[.;:,()“”]", plain):
            words = part.split()
            if len(words) >= 3 and all(re.fullmatch(r"[A-Za-z'’-]+", w) for w in words):
                found.add(" ".join(words))
    return found


def visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r'<button[^>]*name="language"[^>]*>.*?</button>', " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def pages(tree, member, member_user, make_staff, staff_client, member_client):
    make_plan_with_claims(member)
    make_activity(tree.xicheng, quota=20, title="冬季游园", group="冬季")
    station = make_station(tree.u1, name="西城邮政暖心驿站", lat=39.91, lng=116.37)
    campaign = make_care_campaign(tree)
    city = staff_client(make_staff(Role.CITY_ADMIN, tree.city))
    member_pages = ["/m/", "/m/plans/", "/m/payouts/", "/m/benefits/", "/m/stations/",
                    "/m/stations/search/?place=邮政"]  # fmt: skip
    console_pages = [
        "/console/", "/console/orgs/", "/console/members/", "/console/import/members/",
        "/console/plans/", "/console/activities/", "/console/activities/new/",
        "/console/gate/", "/console/claims/", "/console/approvals/", "/console/payments/",
        "/console/settlements/", "/console/audit/", "/console/stats/", "/console/labour-models/",
        "/console/care/", f"/console/care/{campaign.code}/", f"/console/members/{member.pk}/",
        "/console/stations/", "/console/stations/new/", f"/console/stations/{station.code}/",
    ]  # fmt: skip
    return [(member_client, p) for p in member_pages] + [(city, p) for p in console_pages]


def test_no_page_shows_an_english_sentence_of_the_catalogue(pages):
    english = english_sentences()
    assert len(english) > 200  # the catalogue is read
    problems = []
    for client, path in pages:
        response = client.get(path, HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert response.status_code == 200, path
        text = visible_text(response.content.decode())
        problems += [f"{path}: {s!r}" for s in english if s in text]
    assert problems == []
