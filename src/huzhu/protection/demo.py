"""Demo plans for last year and this one: the four benefit types, with the demo members enrolled
in both (so that this year's enrolment is a renewal, covered from the first day)."""

from __future__ import annotations

from importlib import resources


def demo_load() -> dict[str, int]:
    from django.utils import timezone

    from huzhu.members.models import Member
    from huzhu.protection.models import Enrollment, PlanVersion
    from huzhu.protection.plans import plan_load_toml

    this_year = timezone.localdate().year
    folder = resources.files("huzhu.protection").joinpath("demo_plans")
    versions = []
    for year in (this_year - 1, this_year):
        for item in sorted(folder.iterdir(), key=lambda p: p.name):
            text = item.read_text("utf-8").replace("YEAR", str(year))
            version, _ = plan_load_toml(text.encode(), file=item.name)
            versions.append(version)
    created = 0
    for version in versions:
        have = set(Enrollment.objects.filter(version=version).values_list("member_id", flat=True))
        new = [
            Enrollment(
                member_id=m,
                unit_id=u,
                version=version,
                amount=version.contribution,
                payer=version.payer,
                paid_on=version.period_start,
            )
            for m, u in Member.objects.values_list("id", "unit_id")
            if m not in have
        ]
        Enrollment.objects.bulk_create(new, batch_size=1000)
        created += len(new)
    return {"plan versions": PlanVersion.objects.count(), "enrolments created": created}
