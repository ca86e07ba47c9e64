"""The statistics page's ranking of workplace unions (基层工会排名): a page of 20 units, largest
amount first, searched by name or code, with links to the pages next to it and to the whole
ranking as Excel. Drawn by the server, so it works without JavaScript (huzhu.reports.ranking)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from huzhu.accounts.models import User
from huzhu.core.errors import DomainError
from huzhu.reports.ranking import (
    MAX_SEARCH,
    UNIT_PAGE,
    Ranking,
    contributions_by_unit,
    payouts_by_unit,
)

MEASURES = {
    "payouts": (_("互助金给付"), payouts_by_unit),
    "contributions": (_("缴费"), contributions_by_unit),
}
MAX_PLACE = 10**6  # no city has a million unions: an offset beyond is the last page's business


@dataclass(frozen=True)
class RankedRow:
    place: int
    code: str
    name: str
    figures: list[tuple[str, Any]]  # (column label, value) after code and name, in order


def _offset(text: str) -> int:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 7 else 0


def unit_ranking(request: HttpRequest, user: User, year: int) -> dict[str, Any]:
    """The ranking's part of the statistics page's context, from `rank` (payouts or
    contributions), `q` and `offset` in the query string (anything else: the first page)."""
    measure = request.GET.get("rank", "")
    if measure not in MEASURES:
        measure = "payouts"
    q = request.GET.get("q", "").strip()[:MAX_SEARCH]
    offset = min(_offset(request.GET.get("offset", "")), MAX_PLACE)
    build = MEASURES[measure][1]
    try:
        ranking: Ranking = build(user=user, year=year, q=q, limit=UNIT_PAGE, offset=offset)
    except DomainError:  # refused by the figures (none expected): the first page instead
        ranking = build(user=user, year=year, q=q, limit=UNIT_PAGE)
    kept = {"year": year, "rank": measure, **({"q": q} if q else {})}

    def link(to: int) -> str:
        return "?" + urlencode({**kept, "offset": to}) + "#ranking"

    end = ranking.offset + len(ranking.rows)
    labels = [str(c.label) for c in ranking.columns[2:]]
    export = {"group_by": "unit", "year": year, **({"q": q} if q else {})}
    return {
        "ranking": {
            "measure": measure,
            "measures": [(key, title) for key, (title, _build) in MEASURES.items()],
            "q": q,
            "columns": ranking.columns[2:],
            "rows": [
                RankedRow(
                    ranking.offset + i + 1, code, name, list(zip(labels, figures, strict=True))
                )
                for i, (code, name, *figures) in enumerate(ranking.rows)
            ],
            "first": ranking.offset + 1,
            "last": end,
            "total": ranking.total,
            "prev_url": link(max(0, ranking.offset - UNIT_PAGE)) if ranking.offset else None,
            "next_url": link(end) if end < ranking.total else None,
            "export_url": f"/api/v1/stats/{measure}.xlsx?{urlencode(export)}",
        }
    }
