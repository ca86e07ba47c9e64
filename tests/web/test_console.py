"""The staff console through Django's test client: scoping, reveal with reason, Excel export,
live activity counters, settlement imports in the background, the audit log."""

from __future__ import annotations

import io
import threading
import time

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from huzhu.accounts.models import Role
from huzhu.audit.models import AuditEvent
from huzhu.protection.models import LedgerEntry
from huzhu.web.models import JobStatus, SettlementJob
from huzhu.web.services import settlement_job_create, settlement_job_file, settlement_job_run
from tests.benefits.conftest import make_activity
from tests.conftest import new_id_number
from tests.settlement.test_import import file, row


def test_console_needs_staff(member_client, db):
    assert member_client.get("/console/").status_code == 403
    from django.test import Client

    r = Client().get("/console/members/")
    assert r.status_code == 302 and r["Location"].startswith("/login/?next=")


def test_members_are_scoped_to_the_subtree(tree, make_member, staff, staff_client):
    make_member(tree.u1, name="西城甲")
    make_member(tree.u3, name="怀柔乙")
    html = staff_client(staff()).get("/console/members/").content.decode()
    assert "西城甲" in html and "怀柔乙" not in html


def test_member_search_by_full_id_number_and_phone(tree, make_member, staff, staff_client):
    number = new_id_number()
    make_member(tree.u1, name="找到我", id_number=number, phone="13712345678")
    make_member(tree.u1, name="别的人")
    client = staff_client(staff())
    for q in (number, "137 1234 5678", "找到"):
        html = client.get("/console/members/", {"q": q}).content.decode()
        assert "找到我" in html and "别的人" not in html, q


def test_reveal_needs_a_reason_and_is_logged(tree, make_member, staff, staff_client):
    number = new_id_number()
    member = make_member(tree.u1, id_number=number)
    user = staff()
    client = staff_client(user)
    html = client.get(f"/console/members/{member.pk}/").content.decode()
    assert number not in html and member.id_masked in html
    r = client.post(f"/console/members/{member.pk}/", {"reason": " "})
    assert r.status_code == 400 and number not in r.content.decode()
    r = client.post(f"/console/members/{member.pk}/", {"reason": "核对理赔材料"})
    assert number in r.content.decode() and r["Cache-Control"] == "no-store"
    event = AuditEvent.objects.get(action="member.reveal_id")
    assert (event.actor_id, event.reason) == (user.pk, "核对理赔材料")


def test_gate_staff_may_not_reveal(tree, make_member, staff, staff_client):
    number = new_id_number()
    member = make_member(tree.u1, id_number=number)
    client = staff_client(staff(Role.GATE))
    r = client.post(f"/console/members/{member.pk}/", {"reason": "看看"})
    assert r.status_code == 403 and number not in r.content.decode()


def test_member_of_another_district_is_not_found(tree, make_member, staff, staff_client):
    member = make_member(tree.u3)
    assert staff_client(staff()).get(f"/console/members/{member.pk}/").status_code == 404


def test_export_to_excel_is_scoped_and_logged(tree, make_member, staff, staff_client):
    number = new_id_number()
    make_member(tree.u1, name="西城甲", id_number=number)
    make_member(tree.u3, name="怀柔乙")
    client = staff_client(staff())
    assert client.post("/console/members/export/", {"reason": ""}).status_code == 400
    r = client.post("/console/members/export/", {"reason": "年度核对"})
    assert r.status_code == 200 and "attachment" in r["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(b"".join(r.streaming_content)))
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0][0] == "id_number" and [r[1] for r in rows[1:]] == ["西城甲"]
    assert rows[1][0] == number
    assert AuditEvent.objects.filter(action="members.export", reason="年度核对").exists()


def test_activity_counters_follow_bookings(tree, staff, staff_client, make_member):
    from huzhu.benefits.bookings import booking_create
    from huzhu.members.logins import member_login
    from huzhu.members.services import card_issue

    activity = make_activity(tree.xicheng, quota=5)
    client = staff_client(staff())
    html = client.get(f"/console/activities/{activity.pk}/counters/").content.decode()
    assert 'data-counter="remaining">5<' in html
    m = make_member(tree.u1)
    card_issue(member=m, card_no="HZ10000001")
    booking_create(activity=activity, member=m, actor=member_login(member=m))
    html = client.get(f"/console/activities/{activity.pk}/counters/").content.decode()
    assert 'data-counter="remaining">4<' in html and 'data-counter="booked">1<' in html
    assert activity.title in client.get("/console/activities/").content.decode()


def test_gate_page_is_for_gate_roles(tree, staff, staff_client):
    assert staff_client(staff(Role.GATE)).get("/console/gate/").status_code == 200
    assert staff_client(staff(Role.REVIEWER)).get("/console/gate/").status_code == 403


def test_settlement_import_runs_as_a_job_with_a_report(
    tree, enrolled, staff, staff_client, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path
    client = staff_client(staff(Role.CITY_ADMIN, tree.city))
    data = file(row("S1", enrolled, "2026-03-01", "12000.00"))
    r = client.post("/console/settlements/", {"file": SimpleUploadedFile("bureau.csv", data)})
    job = SettlementJob.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/console/settlements/{job.pk}/"
    assert job.status == JobStatus.PENDING
    # Kept sealed at rest (the bureau's ID numbers and diagnoses), read back as it was sent.
    at_rest = (tmp_path / job.file_path).read_bytes()
    assert at_rest.startswith(b"HZSEAL1\n") and enrolled.encode() not in at_rest
    assert settlement_job_file(job) == data
    page = client.get(r["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 1s"' in page
    job = settlement_job_run(job.pk)
    assert job.status == JobStatus.DONE and job.report["new"] == 1
    assert sum(e.amount for e in LedgerEntry.objects.all()) == 5600
    page = client.get(f"/console/settlements/{job.pk}/").content.decode()
    assert "every 1s" not in page and "已完成" in page
    csv_text = client.get(f"/console/settlements/{job.pk}/report.csv").content.decode("utf-8-sig")
    assert "rows,1" in csv_text and "paid_by_plan.ZY,5600.00" in csv_text


def test_a_settlement_job_in_its_thread_runs_while_the_console_reads_the_job(
    tree, enrolled, staff, settings, tmp_path, empty_append_only_tables
):
    """The job runs in its own thread and connection while the console's page reads the job:
    a read in progress must never make the job's writes fail (CI once saw 'database table is
    locked: web_settlementjob' on SQLite's shared in-memory test database)."""
    settings.MEDIA_ROOT = tmp_path
    data = file(row("S1", enrolled, "2026-03-01", "12000.00"))
    city = staff(Role.CITY_ADMIN, tree.city)
    job = settlement_job_create(data=data, file_name="bureau.csv", actor=city)
    reading = connection.cursor()
    # A read part-way through its rows (three of them), as a page being rendered has.
    reading.execute(
        "SELECT id FROM web_settlementjob, (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3) AS three"
    )
    reading.fetchone()
    outcome: list[SettlementJob] = []
    worker = threading.Thread(target=lambda: outcome.append(settlement_job_run(job.pk)))
    worker.start()
    # The job's first write (pending → running) happens while the read is open; then the read
    # ends, as a page's does, and the job runs on.
    waited = 0.0
    while (
        worker.is_alive()
        and waited < 30
        and SettlementJob.objects.filter(pk=job.pk, status=JobStatus.PENDING).exists()
    ):
        time.sleep(0.02)
        waited += 0.02
    reading.close()
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert outcome and outcome[0].status == JobStatus.DONE, outcome and outcome[0].error
    assert sum(e.amount for e in LedgerEntry.objects.all()) == 5600


def test_a_bad_settlement_file_fails_with_rows_in_the_report(
    tree, enrolled, staff, staff_client, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    client = staff_client(staff(Role.CITY_ADMIN, tree.city))
    data = file(row("S1", "110101190001011234", "2026-03-01", "100.00"))
    client.post("/console/settlements/", {"file": SimpleUploadedFile("bad.csv", data)})
    job = settlement_job_run(SettlementJob.objects.get().pk)
    assert job.status == JobStatus.FAILED and job.report["errors"][0]["row"] == 2
    csv_text = client.get(f"/console/settlements/{job.pk}/report.csv").content.decode("utf-8-sig")
    assert "id_number" in csv_text and LedgerEntry.objects.count() == 0


def test_only_the_city_imports_settlements(tree, staff, staff_client):
    r = staff_client(staff(Role.DISTRICT_ADMIN)).get("/console/settlements/")
    assert r.status_code == 403
    job = SettlementJob.objects.create(file_path="s/x.csv", file_name="x.csv")
    for url in (f"/console/settlements/{job.pk}/", f"/console/settlements/{job.pk}/report.csv"):
        assert staff_client(staff(Role.DISTRICT_ADMIN)).get(url).status_code == 403, url


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.GATE, Role.STATION_OPERATOR])
def test_audit_log_is_for_the_admins(tree, staff, staff_client, role):
    assert staff_client(staff(role)).get("/console/audit/").status_code == 403
    assert staff_client(staff(Role.UNIT_ADMIN, tree.u1)).get("/console/audit/").status_code == 200


def test_audit_log_is_scoped_and_filtered(tree, make_member, staff, staff_client):
    from huzhu.members.services import member_reveal_id_number

    xicheng, huairou = staff(), staff(Role.DISTRICT_ADMIN, tree.huairou)
    a = make_member(tree.u1)
    b = make_member(tree.u3)
    member_reveal_id_number(member=a, actor=xicheng, reason="西城原因")
    member_reveal_id_number(member=b, actor=huairou, reason="怀柔原因")
    html = staff_client(xicheng).get("/console/audit/").content.decode()
    assert "西城原因" in html and "怀柔原因" not in html
    city = staff_client(staff(Role.CITY_ADMIN, tree.city))
    html = city.get("/console/audit/", {"action": "member.reveal_id"}).content.decode()
    assert "西城原因" in html and "怀柔原因" in html and "<td>新建会员</td>" not in html
    # Actions and objects in words, not codes.
    assert "<td>查看完整身份证号</td>" in html and "member.reveal_id</td>" not in html
    assert "<td>会员 " in html and "members.member" not in html
    html = city.get("/console/audit/", {"actor": huairou.username}).content.decode()
    assert "西城原因" not in html and "怀柔原因" in html


def test_orgs_page_lists_the_subtree(tree, staff, staff_client):
    html = staff_client(staff()).get("/console/orgs/").content.decode()
    assert "西城环卫工会" in html and "怀柔" not in html


def test_dashboard(tree, staff, staff_client):
    html = staff_client(staff()).get("/console/").content.decode()
    assert "西城区总工会" in html


def test_the_member_list_counts_filters_by_unit_and_status_and_shows_cards(
    tree, make_member, staff, staff_client
):
    from huzhu.members.models import Member
    from huzhu.members.services import card_issue

    carded = make_member(tree.u1, name="持卡人")
    card_issue(member=carded, card_no="HZ55550001")
    make_member(tree.u2, name="别的单位")
    Member.objects.filter(pk=make_member(tree.u1, name="已退会").pk).update(is_active=False)
    client = staff_client(staff(Role.DISTRICT_ADMIN, tree.xicheng))
    html = client.get("/console/members/").content.decode()
    assert "共 3 名会员" in html and "HZ55550001" in html
    html = client.get(f"/console/members/?unit={tree.u1.code}").content.decode()
    assert "共 2 名会员" in html and "别的单位" not in html and tree.u1.name in html
    html = client.get(f"/console/members/?unit={tree.u1.code}&status=inactive").content.decode()
    assert "共 1 名会员" in html and "已退会" in html and "持卡人" not in html
    html = client.get("/console/members/?unit=NOPE").content.decode()
    assert "没有编码为 NOPE 的单位" in html and "共 0 名会员" in html


def test_the_roster_template_has_chinese_headers_text_cells_and_the_guide_and_imports(
    tree, staff, staff_client
):
    from huzhu.members.models import Member
    from tests.conftest import new_id_number

    client = staff_client(staff(Role.UNIT_ADMIN, tree.u1))
    page = client.get("/console/import/members/").content.decode()
    assert "下载名册模板" in page and "id_number" in page and "必填" in page
    r = client.get("/console/import/members/template.xlsx")
    assert r.status_code == 200 and "attachment" in r["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    roster, guide = book.worksheets
    headers = [c.value for c in roster[1]]
    assert headers[:3] == ["身份证号", "姓名", "单位编码"]
    assert roster["A2"].number_format == "@" and roster["A1000"].number_format == "@"
    assert [row[1] for row in guide.iter_rows(min_row=2, values_only=True)][:2] == [
        "id_number", "name"
    ]  # fmt: skip
    # Filled in as a clerk would: the template's own headers, one member.
    number = new_id_number()
    roster["A2"], roster["B2"], roster["C2"] = number, "模板会员", tree.u1.code
    filled = io.BytesIO()
    book.save(filled)
    upload = SimpleUploadedFile("名册.xlsx", filled.getvalue())
    r = client.post("/console/import/members/", {"file": upload})
    assert r.status_code == 200 and "新增 1 人" in r.content.decode()
    assert Member.objects.filter(name="模板会员", unit=tree.u1).exists()
    assert (
        staff_client(staff(Role.GATE)).get("/console/import/members/template.xlsx").status_code
        == 403
    )


def test_an_admin_creates_an_activity_in_the_console_and_bad_input_says_which_field(
    tree, staff, staff_client
):
    from huzhu.benefits.models import Activity, Mode

    client = staff_client(staff(Role.DISTRICT_ADMIN, tree.xicheng))
    assert "新建活动" in client.get("/console/activities/").content.decode()
    form = {
        "title": "冬季游园", "venue": "陶然亭公园", "eligible_org": tree.xicheng.code,
        "quota": "200", "opens_at": "2026-01-13T12:00", "closes_at": "2026-01-20T18:00",
        "valid_from": "2026-01-14", "valid_to": "2026-02-28", "mode": "fcfs", "group": "冬季",
    }  # fmt: skip
    bad = client.post("/console/activities/new/", {**form, "quota": "十"})
    assert bad.status_code == 400 and 'id="quota" name="quota"' in bad.content.decode()
    assert 'aria-invalid="true"' in bad.content.decode() and not Activity.objects.exists()
    r = client.post("/console/activities/new/", form)
    activity = Activity.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/console/activities/{activity.pk}/?created=1"
    assert activity.opens_at.isoformat() == "2026-01-13T04:00:00+00:00"  # 12:00 in Beijing
    assert activity.mode == Mode.FCFS and activity.group.name == "冬季"
    assert activity.eligible_org == tree.xicheng and activity.organiser == tree.xicheng
    gate = staff_client(staff(Role.GATE))
    assert gate.get("/console/activities/new/").status_code == 403
    assert "新建活动" not in gate.get("/console/activities/").content.decode()


def test_a_union_issues_reports_lost_and_replaces_a_card_on_the_members_page(
    tree, make_member, staff, staff_client
):
    from huzhu.members.models import Card, CardStatus

    member = make_member(tree.u1, name="办卡人")
    client = staff_client(staff(Role.UNIT_ADMIN, tree.u1))
    url = f"/console/members/{member.pk}/cards/"
    page = client.get(f"/console/members/{member.pk}/").content.decode()
    assert "发放新卡" in page
    bad = client.post(url, {"action": "issue", "card_no": "卡-1"})
    assert bad.status_code == 400 and 'role="alert"' in bad.content.decode()
    r = client.post(url, {"action": "issue", "card_no": "hz66660001"})
    assert r.status_code == 302 and r["Location"].endswith("?card=issue")
    card = Card.objects.get(member=member)
    assert card.card_no == "HZ66660001" and card.status == CardStatus.ACTIVE
    assert client.post(url, {"action": "lost", "card": card.pk}).status_code == 302
    card.refresh_from_db()
    assert card.status == CardStatus.LOST
    r = client.post(url, {"action": "replace", "card": card.pk, "card_no": "HZ66660002"})
    assert r.status_code == 302
    assert Card.objects.get(member=member, status=CardStatus.ACTIVE).card_no == "HZ66660002"
    assert AuditEvent.objects.filter(action="card.replace").exists()
    reviewer = staff_client(staff(Role.REVIEWER))
    assert "发放新卡" not in reviewer.get(f"/console/members/{member.pk}/").content.decode()
    assert reviewer.post(url, {"action": "issue", "card_no": "HZ66660003"}).status_code == 403


def test_a_district_adds_a_labour_model_and_sees_its_list(tree, staff, staff_client):
    from huzhu.care.models import LabourModel

    client = staff_client(staff(Role.DISTRICT_ADMIN, tree.xicheng))
    form = {"name": "蔡凤辉", "level": "national", "title": "全国劳动模范", "year": "2020",
            "unit_name": "北京环卫集团", "org": tree.xicheng.code}  # fmt: skip
    bad = client.post("/console/labour-models/", {**form, "year": "二〇二〇"})
    assert bad.status_code == 400 and "4 位数字" in bad.content.decode()
    r = client.post("/console/labour-models/", form)
    assert r.status_code == 302 and LabourModel.objects.get().org == tree.xicheng
    html = client.get("/console/labour-models/").content.decode()
    assert "蔡凤辉" in html and "全国劳动模范" in html and 'href="/console/labour-models/"' in html
    assert staff_client(staff(Role.GATE)).get("/console/labour-models/").status_code == 403
