"""Small factories for station tests."""

from __future__ import annotations

from typing import Any

from huzhu.members.models import Organisation
from huzhu.stations.models import Station
from huzhu.stations.services import station_create

_counter = iter(range(1, 10**9))


def make_station(org: Organisation, **overrides: Any) -> Station:
    n = next(_counter)
    fields: dict[str, Any] = {
        "code": f"ST{n:05d}",
        "name": f"驿站{n}",
        "org": org,
        "address": "北京市西城区",
        "lat": 39.91,
        "lng": 116.37,
        "crs": "wgs84",
        "hours": "24/7",
        "services": ("rest", "hot_water"),
    }
    fields.update(overrides)
    return station_create(actor=None, **fields)
