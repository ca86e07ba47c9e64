"""The demo's mutual-aid money, made the way the real one is: the bureau's settlement file for this
year imported through the console's job (payouts with their reasons, charts that are not empty),
a payment run made, released by a second city admin and confirmed by the bank, and claims filed
by a union still in the review queue. The member logins `member1` and `member2` are enrolled and
have stays of their own: a long stay paid in bands with an allowance, a short one later in the
year paid in the next band, an accident, and a critical illness."""

from __future__ import annotations

import csv
import io
import logging
import random
from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from huzhu.settlement.synth import HOSPITALS, SETTLEMENT_HEADER

DEMO_FILE = "医保结算数据（演示）.csv"
OTHERS = 160  # members of the demo with a stay this year besides member1 and member2


def _stay(
    sid: str,
    id_number: str,
    name: str,
    hospital: str,
    admitted: date,
    days: int,
    in_scope: str,
    *,
    out: str = "0.00",
    diagnosis: str = "I10",
    accident: bool = False,
    reverses: str = "",
) -> list[str]:
    discharged = admitted + timedelta(days=days)
    settled = min(discharged + timedelta(days=3), timezone.localdate())
    fund = Decimal(in_scope) * 2
    total = fund + Decimal(in_scope) + Decimal(out)
    return [
        sid,
        id_number,
        name,
        hospital,
        admitted.isoformat(),
        discharged.isoformat(),
        settled.isoformat(),
        f"{total:.2f}",
        f"{fund:.2f}",
        in_scope,
        out,
        diagnosis,
        "1" if accident else "0",
        reverses,
    ]


def _file(today: date) -> bytes:
    """This year's settlements: member1's and member2's stays, then a stay of each of OTHERS
    demo members, a reversal and a person the federation does not know."""
    from huzhu.accounts.models import User
    from huzhu.core.idnumber import check_char
    from huzhu.core.pii import vault
    from huzhu.members.models import Member

    pii = vault()
    year = today.year
    rows = []
    logins = {
        u.username: u.member for u in User.objects.filter(username__in=("member1", "member2"))
    }
    day = lambda back: max(date(year, 1, 2), today - timedelta(days=back))  # noqa: E731
    if m := logins.get("member1"):
        number = pii.decrypt(m.id_cipher)
        rows.append(_stay("DEMO-0001", number, m.name, "北京协和医院", day(150), 12, "12000.00",
                          out="1500.00"))  # fmt: skip
        rows.append(_stay("DEMO-0002", number, m.name, "北京大学第一医院", day(40), 2, "600.00"))
    if m := logins.get("member2"):
        number = pii.decrypt(m.id_cipher)
        rows.append(_stay("DEMO-0003", number, m.name, "北京积水潭医院", day(120), 5, "3000.00",
                          out="800.00", diagnosis="S82.2", accident=True))  # fmt: skip
        rows.append(_stay("DEMO-0004", number, m.name, "中国医学科学院肿瘤医院", day(60), 21,
                          "40000.00", out="6000.00", diagnosis="C34.1"))  # fmt: skip
    rng = random.Random(year)
    others = list(
        Member.objects.exclude(pk__in=[m.pk for m in logins.values() if m])
        .order_by("pk")
        .values_list("name", "id_cipher")[:OTHERS]
    )
    for n, (name, cipher) in enumerate(others, start=1):
        in_scope = f"{Decimal(int(rng.lognormvariate(12.6, 1.0))) / 100:.2f}"
        accident = rng.random() < 0.05
        rows.append(
            _stay(
                f"DEMO-1{n:04d}",
                pii.decrypt(cipher),
                name,
                rng.choice(HOSPITALS),
                day(rng.randrange(10, 330)),
                min(40, int(rng.expovariate(1 / 7))),
                in_scope,
                out=f"{Decimal(in_scope) * Decimal(rng.random() * 0.2):.2f}",
                diagnosis="S52.5" if accident else rng.choice(("I10", "J18.9", "K35.8", "E11.9")),
                accident=accident,
            )
        )
    if len(rows) > 5:  # the bureau takes one settlement back
        rows.append([f"DEMO-9{1:04d}", *rows[5][1:13], rows[5][0]])
    stranger = "11010119500101001"  # on no roster: NOT_MEMBER
    stranger += check_char(stranger)
    rows.append(_stay("DEMO-9999", stranger, "赵外人", "北京朝阳医院", day(90), 3, "2000.00"))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(SETTLEMENT_HEADER)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _enrol_member_logins() -> None:
    """member1 and member2 (made by the benefits demo) in every demo plan version."""
    from huzhu.accounts.models import User
    from huzhu.protection.models import Enrollment, PlanVersion

    for user in User.objects.filter(username__in=("member1", "member2")).select_related("member"):
        member = user.member
        if member is None:
            continue
        for version in PlanVersion.objects.exclude(enrollments__member=member):
            Enrollment.objects.create(
                member=member,
                unit=member.unit,
                version=version,
                amount=version.contribution,
                payer=version.payer,
                paid_on=version.period_start,
            )


def _pay(admin: object, finance: object) -> int:
    """A payment run of everything approved, released by the second admin, paid by the bank."""
    from huzhu.protection import payments
    from huzhu.protection.models import PaymentItem

    result = payments.payment_run_create(actor=admin)  # type: ignore[arg-type]
    run = payments.payment_run_release(actor=finance, run=result.run)  # type: ignore[arg-type]
    sms = logging.getLogger("huzhu.sms")
    level = sms.level
    sms.setLevel(logging.WARNING)  # each member is told by SMS: not a line each at start-up
    try:
        for item in PaymentItem.objects.filter(run=run):
            payments.payment_item_confirm(actor=finance, item=item)  # type: ignore[arg-type]
    finally:
        sms.setLevel(level)
    return run.items.count()


def _claims_in_review(unit_admin: object, reviewer: object) -> int:
    """Three claims a union filed by hand: two waiting to be accepted, one accepted."""
    from huzhu.protection.filing import StayFigures, claim_file
    from huzhu.protection.models import PlanVersion
    from huzhu.protection.services import claim_accept

    today = timezone.localdate()
    version = PlanVersion.objects.filter(
        plan__code="ZY", period_start__lte=today, period_end__gte=today
    ).first()
    unit = getattr(unit_admin, "org", None)
    if version is None or unit is None:
        return 0
    members = list(version.enrollments.filter(unit=unit).select_related("member")[:3])
    filed = 0
    for n, enrolment in enumerate(members):
        admitted = max(version.period_start, today - timedelta(days=20 + 9 * n))
        stay = StayFigures(
            admitted_on=admitted,
            discharged_on=admitted + timedelta(days=4),
            settled_on=min(today, admitted + timedelta(days=6)),
            in_scope_self_pay=Decimal(("8600.00", "3200.00", "15800.00")[n]),
            hospital=("北京天坛医院", "首都医科大学附属北京友谊医院", "北京安贞医院")[n],
            diagnosis_code=("I63.9", "J18.9", "I21.4")[n],
            stay_ref=f"DEMO-H{n + 1:03d}",
        )
        claim = claim_file(
            actor=unit_admin,  # type: ignore[arg-type]
            member=enrolment.member,
            version=version,
            stay=stay,
            requested=stay.in_scope_self_pay,
            description="单位代为申报：医保结算单已附，医院尚未上传医保数据。",
        )
        if n == 0:
            claim_accept(actor=reviewer, claim=claim)  # type: ignore[arg-type]
        filed += 1
    return filed


def demo_load() -> dict[str, int]:
    from django.conf import settings

    from huzhu.accounts.models import User
    from huzhu.settlement.models import SettlementImport
    from huzhu.web.models import JobStatus
    from huzhu.web.services import settlement_job_create, settlement_job_run

    staff = {u.username: u for u in User.objects.filter(username__in=("admin", "finance", "unit",
                                                                        "reviewer"))}  # fmt: skip
    if SettlementImport.objects.exists() or len(staff) < 4 or not settings.MEDIA_ROOT:
        return {}
    _enrol_member_logins()
    job = settlement_job_create(
        data=_file(timezone.localdate()), file_name=DEMO_FILE, actor=staff["admin"]
    )
    job = settlement_job_run(job.pk)
    if job.status != JobStatus.DONE:
        raise RuntimeError(f"the demo's settlement file did not import: {job.error} {job.report}")
    transfers = _pay(staff["admin"], staff["finance"])
    claims = _claims_in_review(staff["unit"], staff["reviewer"])
    return {
        "settlements imported": int((job.report or {}).get("rows", 0)),
        "transfers paid": transfers,
        "claims waiting for review": claims,
    }
