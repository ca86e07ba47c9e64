"""Synthetic, realistic people (`huzhu generate`, the demo, benchmarks): the organisation tree,
and members with valid ID numbers, names and phones. `huzhu.synth.generate_dataset` adds the
protection files (plans, enrolments, settlements) from `huzhu.settlement.synth`.

Deterministic for a seed, so benchmarks and demos are reproducible.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from pathlib import Path

from huzhu.core.idnumber import check_char

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉建国红梅鑫宇浩然子涵欣怡思远佳琪晨阳志文海燕"
    "雪晓东丹凤云飞俊博宁婷雅琳颖斌亮新春立波峰晶慧莉宏伟永健"
)
UNIT_WORDS = (
    "首钢",
    "环卫",
    "邮政",
    "城建",
    "公交",
    "地铁",
    "热力",
    "燃气",
    "自来水",
    "电力",
    "建工",
    "住总",
    "城乡",
    "京能",
    "金隅",
    "同仁堂",
    "物美",
    "燕京",
    "北辰",
    "首汽",
    "祥龙",
    "华联",
    "京东方",
    "医药",
)
UNIT_KINDS = ("有限公司", "集团", "分公司", "服务中心", "股份有限公司", "项目部", "支行", "医院")
STREETS = ("街道", "镇", "地区", "乡")


@dataclass(frozen=True)
class District:
    code: str
    name: str
    lat: float
    lng: float


def beijing_districts() -> list[District]:
    text = resources.files("huzhu.core").joinpath("data/beijing_districts.csv").read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    return [
        District(r["code"], r["name"], float(r["approx_lat_wgs84"]), float(r["approx_lng_wgs84"]))
        for r in rows
    ]


def make_id_number(rng: random.Random, area: str, born: date) -> str:
    """A valid 18-character ID number for an area code and birth date."""
    first17 = f"{area}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + check_char(first17)


def make_name(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


def make_phone(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"


@dataclass
class OrgRow:
    code: str
    name: str
    parent_code: str
    kind: str
    district: str = ""


def generate_orgs(rng: random.Random, *, units: int) -> list[OrgRow]:
    """City → 16 districts → a few towns each → workplace unions spread over them."""
    orgs = [OrgRow("BJ", "北京市总工会", "", "city")]
    towns: list[OrgRow] = []
    for d in beijing_districts():
        dcode = f"BJ{d.code[-2:]}"
        orgs.append(OrgRow(dcode, f"{d.name}总工会", "BJ", "district", d.name))
        for t in range(1, 4):
            town = OrgRow(
                f"{dcode}T{t:02d}",
                f"{d.name}第{t}{rng.choice(STREETS)}总工会",
                dcode,
                "town",
                d.name,
            )
            towns.append(town)
            orgs.append(town)
    for u in range(units):
        town = towns[u % len(towns)]
        name = (
            f"北京{rng.choice(UNIT_WORDS)}{town.district[:-1]}{rng.choice(UNIT_KINDS)}{u:05d}工会"
        )
        orgs.append(OrgRow(f"U{u:06d}", name, town.code, "unit", town.district))
    return orgs


Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class People:
    """What `generate_people` wrote: rows per file, and the members' ID numbers in order."""

    files: dict[str, int]
    member_ids: list[str]


def generate_people(*, out: Path, members: int, rng: random.Random, say: Progress) -> People:
    """Write orgs.csv and members.csv to `out`, drawing from `rng`."""
    out.mkdir(parents=True, exist_ok=True)
    units = max(30, min(20_000, members // 200))
    orgs = generate_orgs(rng, units=units)
    with (out / "orgs.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["code", "name", "parent_code", "kind"])
        w.writerows((o.code, o.name, o.parent_code, o.kind) for o in orgs)
    unit_rows = [o for o in orgs if o.kind == "unit"]
    area_of = {d.name: d.code for d in beijing_districts()}
    start, span = date(1966, 1, 1).toordinal(), (date(2004, 12, 31) - date(1966, 1, 1)).days
    seen: set[str] = set()
    member_ids: list[str] = []
    with (out / "members.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "id_number",
                "name",
                "unit_code",
                "unit_name",
                "district",
                "phone",
                "card_no",
                "joined_on",
            ]
        )
        n = 0
        while n < members:
            unit = unit_rows[rng.randrange(len(unit_rows))]
            born = date.fromordinal(start + rng.randrange(span))
            id_number = make_id_number(rng, area_of[unit.district], born)
            if id_number in seen:
                continue
            seen.add(id_number)
            member_ids.append(id_number)
            joined = born + timedelta(days=365 * 18 + rng.randrange(365 * 10))
            w.writerow(
                (
                    id_number,
                    make_name(rng),
                    unit.code,
                    unit.name,
                    unit.district,
                    make_phone(rng),
                    f"62{n + 10**13:014d}" if rng.random() < 0.95 else "",
                    min(joined, date(2025, 12, 31)).isoformat(),
                )
            )
            n += 1
            if n % 100_000 == 0:
                say("members", n)
    return People({"orgs.csv": len(orgs), "members.csv": members}, member_ids)
