"""Demo stations: the 31 warm stations of 西城 post-office branches (as the seed page reports),
and a few in every other district, placed around the district seats (WGS-84)."""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from huzhu.accounts.models import User
from huzhu.members.models import Organisation
from huzhu.members.synth import beijing_districts

XICHENG_BRANCHES = (
    "白塔寺",
    "西单",
    "新街口",
    "德胜门",
    "月坛",
    "广安门",
    "金融街",
    "展览路",
    "什刹海",
    "陶然亭",
    "椿树",
    "大栅栏",
    "天桥",
    "牛街",
    "白纸坊",
    "菜市口",
    "西直门",
    "阜成门",
    "复兴门",
    "宣武门",
    "和平门",
    "虎坊桥",
    "马连道",
    "广内",
    "车公庄",
    "官园",
    "百万庄",
    "三里河",
    "西四",
    "平安里",
    "护国寺",
)
POST_OFFICE_HOURS = "Mo-Fr 08:30-17:30; Sa,Su 09:00-16:00"
HOLIDAYS_2026 = "2026-01-01 off; 2026-02-16..2026-02-18 off"
OTHER_HOSTS = (
    ("环卫工人休息站", "24/7", ("rest", "hot_water", "charging", "microwave", "toilet")),
    ("银行网点", "Mo-Su 09:00-17:00", ("rest", "hot_water", "wifi", "charging")),
    (
        "社区便利店",
        "Mo-Su 07:00-23:00; Fr,Sa 07:00-02:00",
        ("rest", "hot_water", "charging", "microwave"),
    ),
)


def _near(rng: random.Random, lat: float, lng: float, spread: float) -> tuple[float, float]:
    return lat + rng.uniform(-spread, spread), lng + rng.uniform(-spread * 1.3, spread * 1.3)


def demo_load() -> dict[str, int]:
    from huzhu.stations.models import Station
    from huzhu.stations.services import station_create, station_operator_add

    rng = random.Random(2021)
    orgs = {o.code: o for o in Organisation.objects.filter(kind="district")}
    existing = set(Station.objects.values_list("code", flat=True))
    created = 0
    districts = {f"BJ{d.code[-2:]}": d for d in beijing_districts()}
    xicheng = districts["BJ02"]
    for i, place in enumerate(XICHENG_BRANCHES, start=1):
        code = f"XC-YZ-{i:02d}"
        lat, lng = _near(rng, xicheng.lat, xicheng.lng, 0.02)
        if code in existing or "BJ02" not in orgs:
            continue
        station_create(
            actor=None,
            code=code,
            name=f"{place}邮政支行职工暖心驿站",
            host=f"中国邮政储蓄银行北京西城区{place}支行",
            org=orgs["BJ02"],
            address=f"北京市西城区{place}邮政支行营业厅",
            district="西城区",
            lat=lat,
            lng=lng,
            crs="wgs84",
            hours=POST_OFFICE_HOURS,
            hours_exceptions=HOLIDAYS_2026,
            services=("rest", "hot_water", "wifi", "charging"),
            capacity=rng.choice((6, 8, 10)),
            contact_phone=f"010-66{rng.randrange(100000, 999999)}",
        )
        created += 1
    for org_code, district in districts.items():
        if org_code == "BJ02" or org_code not in orgs:
            continue
        for j, (kind, hours, services) in enumerate(OTHER_HOSTS, start=1):
            code = f"{org_code}-ST-{j:02d}"
            if code in existing:
                continue
            lat, lng = _near(rng, district.lat, district.lng, 0.03)
            station_create(
                actor=None,
                code=code,
                name=f"{district.name}{kind}职工暖心驿站",
                host=kind,
                org=orgs[org_code],
                address=f"北京市{district.name}",
                district=district.name,
                lat=lat,
                lng=lng,
                crs="wgs84",
                hours=hours,
                services=services,
                capacity=rng.choice((4, 6, 12)),
            )
            created += 1
    operator = User.objects.filter(username="station").first()
    first = Station.objects.filter(code="XC-YZ-01").select_related("org").first()
    if operator is not None and first is not None:
        station_operator_add(station=first, user=operator, actor=None)
    if created:
        _demo_visits(rng)
    return {"stations created": created}


def _demo_visits(rng: random.Random) -> None:
    from huzhu.stations.models import Station
    from huzhu.stations.services import station_visit_tally

    today = timezone.localdate()
    for station in Station.objects.filter(code__startswith="XC-YZ-").select_related("org"):
        for back in range(1, 8):
            station_visit_tally(
                station=station,
                actor=None,
                on=today - timedelta(days=back),
                people=rng.randrange(3, 40),
            )
