"""Demo care data from the seed page: 西城's 寒冬送暖 campaign with 300,000 yuan allocated
for vaccination and testing staff, the six labour models of 北京环卫集团, and a 两节慰问 visit
to them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from huzhu.members.models import Organisation

LABOUR_MODELS = (
    ("蔡凤辉", "national"),
    ("李国栋", "national"),
    ("李文玲", "national"),
    ("温莹莹", "provincial"),
    ("马永民", "provincial"),
    ("梁明爱", "provincial"),
)
SANITATION_GROUP = "北京环卫集团"


def demo_load() -> dict[str, int]:
    from huzhu.care.models import CareCampaign, LabourModel

    orgs = {o.code: o for o in Organisation.objects.filter(code__in=("BJ", "BJ02"))}
    if len(orgs) < 2 or CareCampaign.objects.filter(code="XC-HDSN").exists():
        return {"care campaigns created": 0, "labour models created": 0}
    _winter_warmth(orgs["BJ02"])
    _festival_visits(orgs["BJ"])
    return {"care campaigns created": 2, "labour models created": LabourModel.objects.count()}


def _winter_warmth(xicheng: Organisation) -> None:
    """寒冬送暖: 300,000 yuan for Xicheng's vaccination and testing staff, two visits."""
    from huzhu.care.models import BeneficiaryKind
    from huzhu.care.services import (
        BeneficiaryIn,
        care_allocation_create,
        care_campaign_create,
        care_visit_record,
    )

    winter = care_campaign_create(
        actor=None,
        code="XC-HDSN",
        title="寒冬送暖",
        org=xicheng,
        budget=Decimal("300000.00"),
        starts_on=date(2021, 1, 1),
        ends_on=date(2021, 2, 28),
        description="慰问西城区各疫苗接种点、核酸检测点的医护人员",
    )
    care_allocation_create(
        campaign=winter,
        org=xicheng,
        amount=Decimal("300000.00"),
        on=date(2021, 1, 8),
        actor=None,
        payee="西城区卫生健康委员会",
        memo="专项慰问金",
    )
    for place, headcount, value in (
        ("西城区工人文化宫", 40, "12000.00"),
        ("广安体育馆", 30, "9000.00"),
    ):
        care_visit_record(
            campaign=winter,
            org=xicheng,
            visited_on=date(2021, 1, 8),
            place=place,
            visitors="西城区总工会",
            actor=None,
            beneficiaries=[
                BeneficiaryIn(
                    kind=BeneficiaryKind.FRONTLINE,
                    name="新冠疫苗接种一线医护人员",
                    unit_name="西城区卫生健康委员会",
                    headcount=headcount,
                    goods="冬季保暖物资",
                    goods_quantity=headcount,
                    goods_value=Decimal(value),
                )
            ],
        )


def _festival_visits(city: Organisation) -> None:
    """两节慰问: the six labour models of the sanitation group, visited by the city union."""
    from huzhu.care.models import BeneficiaryKind
    from huzhu.care.services import (
        BeneficiaryIn,
        care_allocation_create,
        care_campaign_create,
        care_visit_record,
        labour_model_create,
    )

    models = [
        labour_model_create(
            actor=None,
            name=name,
            level=level,
            unit_name=SANITATION_GROUP,
            org=city,
            year=2015 if level == "national" else 2019,
        )
        for name, level in LABOUR_MODELS
    ]
    festival = care_campaign_create(
        actor=None,
        code="BJ-LJWW",
        title="两节慰问",
        org=city,
        budget=Decimal("60000.00"),
        starts_on=date(2021, 1, 15),
        ends_on=date(2021, 2, 26),
        description="走访慰问劳模",
    )
    care_allocation_create(
        campaign=festival,
        org=city,
        amount=Decimal("30000.00"),
        on=date(2021, 1, 15),
        actor=None,
        memo="劳模慰问",
    )
    care_visit_record(
        campaign=festival,
        org=city,
        visited_on=date(2021, 1, 20),
        place=SANITATION_GROUP,
        visitors="市总工会",
        actor=None,
        beneficiaries=[
            BeneficiaryIn(
                kind=BeneficiaryKind.LABOUR_MODEL,
                labour_model=lm,
                cash=Decimal("1000.00"),
                goods="生活日用品",
                goods_quantity=1,
                goods_value=Decimal("300.00"),
            )
            for lm in models
        ],
    )
