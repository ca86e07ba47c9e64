from django.contrib.auth import views as auth_views
from django.urls import path

from huzhu.web import (
    activity_views,
    campaign_views,
    card_views,
    care_views,
    health_views,
    station_views,
    views,
)
from huzhu.web import claim_views as claims
from huzhu.web import console_views as console
from huzhu.web import member_views as m
from huzhu.web import plan_views as plans

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health_views.healthz, name="healthz"),
    path("readyz", health_views.readyz, name="readyz"),
    path("metrics", health_views.metrics, name="metrics"),
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="/"), name="logout"),
    # member pages
    path("m/login/", m.sign_in, name="m_login"),
    path("m/", m.home, name="m_home"),
    path("m/plans/", m.plans, name="m_plans"),
    path("m/payouts/", m.payouts, name="m_payouts"),
    path("m/benefits/", m.benefit_list, name="m_benefits"),
    path("m/benefits/remaining/", m.benefit_remaining, name="m_benefits_remaining"),
    path("m/benefits/<int:activity_id>/book/", m.benefit_book, name="m_book"),
    path("m/bookings/<int:booking_id>/cancel/", m.booking_cancel, name="m_cancel"),
    path("m/bookings/<int:booking_id>/voucher/", m.voucher, name="m_voucher"),
    path("m/stations/", m.station_page, name="m_stations"),
    path("m/stations/near/", m.station_near, name="m_stations_near"),
    path("m/stations/search/", m.station_search, name="m_stations_search"),
    # staff console
    path("console/", console.dashboard, name="console"),
    path("console/orgs/", console.orgs, name="console_orgs"),
    path("console/members/", console.members, name="console_members"),
    path("console/members/export/", console.members_export_xlsx, name="console_members_export"),
    path("console/members/<int:member_id>/", console.member_detail, name="console_member"),
    path(
        "console/members/<int:member_id>/cards/",
        card_views.member_card,
        name="console_member_card",
    ),
    path("console/import/members/", console.import_members, name="console_import_members"),
    path(
        "console/import/members/template.xlsx",
        console.roster_template,
        name="console_roster_template",
    ),
    path("console/activities/", console.activities, name="console_activities"),
    path("console/activities/new/", activity_views.activity_new, name="console_activity_new"),
    path("console/stations/", station_views.stations, name="console_stations"),
    path("console/stations/new/", station_views.station_new, name="console_station_new"),
    path("console/stations/<str:code>/", station_views.station_detail, name="console_station"),
    path("console/labour-models/", care_views.labour_models, name="console_labour_models"),
    path("console/care/", campaign_views.campaigns, name="console_care"),
    path(
        "console/care/<str:code>/",
        campaign_views.campaign_page,
        name="console_care_campaign",
    ),
    path(
        "console/activities/<int:activity_id>/",
        console.activity_detail,
        name="console_activity",
    ),
    path(
        "console/activities/<int:activity_id>/counters/",
        console.activity_counters,
        name="console_activity_counters",
    ),
    path("console/gate/", console.gate, name="console_gate"),
    path("console/settlements/", console.settlements, name="console_settlements"),
    path(
        "console/settlements/<int:job_id>/",
        console.settlement_job,
        name="console_settlement_job",
    ),
    path(
        "console/settlements/<int:job_id>/report.csv",
        console.settlement_job_csv,
        name="console_settlement_csv",
    ),
    path("console/audit/", console.audit_log, name="console_audit"),
    path("console/stats/", console.stats, name="console_stats"),
    path("console/plans/", plans.plans, name="console_plans"),
    path("console/plans/<int:version_id>/", plans.plan_version, name="console_plan_version"),
    path("console/contributions/", plans.contributions, name="console_contributions"),
    path("console/claims/", claims.claims, name="console_claims"),
    path("console/claims/new/", claims.claim_new, name="console_claim_new"),
    path("console/claims/<int:claim_id>/", claims.claim_detail, name="console_claim"),
    path(
        "console/claims/<int:claim_id>/documents/<int:doc_id>/",
        claims.claim_document,
        name="console_claim_document",
    ),
    path("console/approvals/", claims.approvals, name="console_approvals"),
    path("console/payments/", claims.payment_runs, name="console_payments"),
    path("console/payments/<str:reference>/", claims.payment_run, name="console_payment_run"),
    path(
        "console/payments/<str:reference>/bank.csv",
        claims.payment_run_file,
        name="console_payment_file",
    ),
]
