"""Care campaigns in the console (关爱慰问): the campaigns of the user's subtree with what each
allocated and spent, a form to start one, and a campaign's page where a union clerk changes the
budget, allocates it (拨付) to organisations, records visits with the people they reached, and
cancels a visit recorded by mistake. Thin: care.services decides (and audits), care.selectors
reads; a refusal (DomainError) is shown beside its form with its status, the values kept."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from huzhu.accounts.models import User
from huzhu.care import selectors, services
from huzhu.care.models import BeneficiaryKind, CareCampaign, CareVisit, LabourModel
from huzhu.core import bounds, idnumber
from huzhu.core.errors import DomainError, NotFound
from huzhu.members.models import Member, Organisation
from huzhu.members.selectors import member_visible_by_id_number, orgs_visible_to
from huzhu.web.access import staff_required

CAMPAIGN_FIELDS = ("code", "title", "org", "budget", "starts_on", "ends_on", "description")
ACTIONS = ("budget", "allocate", "visit", "cancel_visit")
VISIT_ROWS = 5
LINE_FIELDS = (
    "kind",
    "name",
    "id_number",
    "labour_model",
    "unit_name",
    "headcount",
    "cash",
    "goods",
    "goods_quantity",
    "goods_value",
)
# A row of the visit form counts when one of these is filled in; its kind and headcount alone
# (which have defaults) do not make it a beneficiary.
LINE_CONTENT = tuple(f for f in LINE_FIELDS if f not in ("kind", "headcount"))
KINDS = (BeneficiaryKind.FRONTLINE, BeneficiaryKind.MEMBER, BeneficiaryKind.LABOUR_MODEL)
SHOWN = 200  # ledger entries and visits listed on a campaign's page, newest first
# How the service names a line of a visit: its place in the list of lines it was given.
_LINE = re.compile(r"beneficiaries\[([0-9]+)\]")


# -- form values: core.bounds decides what an amount, a date or a count is -----------------------


def _money(raw: str, field: str, label: str, *, allow_zero: bool = False) -> Decimal:
    """Yuan as typed (ASCII digits, at most two decimals; never a float), or a refusal naming
    the field as the form labels it."""
    if (problem := bounds.money_problem(raw, allow_zero=allow_zero)) is not None:
        raise DomainError("invalid_amount", bounds.field_problem(label, problem), field=field)
    return bounds.parse_money(raw, field, allow_zero=allow_zero)


def _day(raw: str, field: str, label: str) -> date:
    if (problem := bounds.date_problem(raw)) is not None:
        raise DomainError("invalid_date", bounds.field_problem(label, problem), field=field)
    return bounds.parse_date(raw, field)


def _count(raw: str, field: str, label: str, *, minimum: int = 0) -> int:
    if (problem := bounds.quota_problem(raw, minimum=minimum)) is not None:
        raise DomainError("invalid_quota", bounds.field_problem(label, problem), field=field)
    return bounds.parse_quota(raw, field, minimum=minimum)


def _text(raw: str, field: str, label: str, limit: int) -> str:
    """A text as long as its column holds (a longer one would fail in the database)."""
    if len(raw) > limit:
        problem = _("最多 %(limit)s 个字") % {"limit": limit}
        raise DomainError("too_long", bounds.field_problem(label, problem), field=field)
    return raw


def _org(user: User, code: str, field: str) -> Organisation:
    org = orgs_visible_to(user).filter(code=code.strip()).first()
    if org is None:
        raise DomainError("invalid_org", _("请选择组织"), field=field)
    return org


def _campaign_url(code: str, done: str) -> str:
    return f"{reverse('web:console_care_campaign', args=[code])}?done={done}"


# -- the campaigns --------------------------------------------------------------------------------


def _campaign_create(user: User, posted: dict[str, str]) -> CareCampaign:
    return services.care_campaign_create(
        actor=user,
        code=posted["code"],
        title=_text(posted["title"], "title", _("活动名称"), 200),
        org=_org(user, posted["org"], "org"),
        budget=_money(posted["budget"], "budget", _("预算"), allow_zero=True),
        starts_on=_day(posted["starts_on"], "starts_on", _("开始日期")),
        ends_on=_day(posted["ends_on"], "ends_on", _("结束日期")) if posted["ends_on"] else None,
        description=posted["description"],
    )


@staff_required(selectors.CARE_ROLES)
def campaigns(request: HttpRequest, user: User) -> HttpResponse:
    """The care campaigns of the user's subtree (and those that funded it), with what each
    allocated and spent there, and 新建关爱活动."""
    posted = {f: request.POST.get(f, "").strip() for f in CAMPAIGN_FIELDS}
    qs = selectors.campaigns_visible_to(user).select_related("org").order_by("-starts_on", "code")
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    context: dict[str, Any] = {
        "page": page,
        "rows": [
            {"campaign": c, "summary": selectors.campaign_summary(campaign=c, user=user)}
            for c in page
        ],
        "orgs": orgs_visible_to(user).order_by("path")[:500],
        "posted": posted,
        "today": timezone.localdate(),
    }
    if request.method == "POST":
        try:
            campaign = _campaign_create(user, posted)
        except DomainError as exc:
            context["error"], context["error_field"] = exc.message, exc.details.get("field")
            return render(request, "web/console/care.html", context, status=exc.status)
        return HttpResponseRedirect(_campaign_url(campaign.code, "created"))
    return render(request, "web/console/care.html", context)


# -- one campaign ---------------------------------------------------------------------------------


def _row_label(row: int) -> str:
    return _("第 %(n)s 位慰问对象") % {"n": row + 1}


def _member(user: User, raw: str, field: str, label: str) -> Member:
    """The member of the user's subtree holding this ID number. Outside the subtree a member
    does not exist: the same refusal as for a number nobody holds."""
    if (invalid := idnumber.id_number_invalid(raw)) is not None:
        raise DomainError(
            "invalid_id_number", bounds.field_problem(label, invalid.message), field=field
        )
    member = member_visible_by_id_number(user, idnumber.normalize(raw))
    if member is None:
        problem = _("本组织范围内没有这个身份证号的会员")
        raise DomainError(
            "member_not_found", bounds.field_problem(label, problem), field=field, status=404
        )
    return member


def _labour_model(user: User, raw: str, field: str, label: str) -> LabourModel:
    found = (
        selectors.labour_models_visible_to(user).select_related("org").filter(pk=int(raw)).first()
        if raw.isascii() and raw.isdigit() and len(raw) <= 18
        else None
    )
    if found is None:
        raise DomainError("required", bounds.field_problem(label, _("请选择劳模")), field=field)
    return found


def _line(user: User, row: int, v: dict[str, str]) -> services.BeneficiaryIn:
    """One row of the visit form as a line of the visit."""
    who = _row_label(row)

    def name(f: str) -> str:
        return f"b{row}_{f}"

    def label(what: str) -> str:
        return _("%(who)s的%(what)s") % {"who": who, "what": what}

    kind = v["kind"] or BeneficiaryKind.FRONTLINE
    if kind not in BeneficiaryKind.values:
        raise DomainError(
            "invalid_kind", bounds.field_problem(who, _("请选择类别")), field=name("kind")
        )
    member = labour_model = None
    if kind == BeneficiaryKind.MEMBER:
        member = _member(user, v["id_number"], name("id_number"), label(_("身份证号")))
    elif kind == BeneficiaryKind.LABOUR_MODEL:
        labour_model = _labour_model(user, v["labour_model"], name("labour_model"), who)
    unit_name = _text(v["unit_name"], name("unit_name"), label(_("单位")), 200)
    # A member or labour model goes by the name on record; only frontline staff are typed in.
    typed = _text(v["name"], name("name"), label(_("姓名")), 200)
    return services.BeneficiaryIn(
        kind=kind,
        name=typed if kind == BeneficiaryKind.FRONTLINE else "",
        member=member,
        labour_model=labour_model,
        unit_name=unit_name or (member.unit.name if member is not None else ""),
        headcount=_count(v["headcount"] or "1", name("headcount"), label(_("人数")), minimum=1),
        cash=_money(v["cash"] or "0", name("cash"), label(_("慰问金")), allow_zero=True),
        goods=_text(v["goods"], name("goods"), label(_("慰问品")), 200),
        goods_quantity=_count(v["goods_quantity"] or "0", name("goods_quantity"), label(_("数量"))),
        goods_value=_money(
            v["goods_value"] or "0", name("goods_value"), label(_("慰问品金额")), allow_zero=True
        ),
    )


def _line_values(post: QueryDict, row: int) -> dict[str, str]:
    return {f: post.get(f"b{row}_{f}", "").strip() for f in LINE_FIELDS}


def _visit_record(user: User, campaign: CareCampaign, post: QueryDict) -> None:
    rows = [r for r in range(VISIT_ROWS) if any(_line_values(post, r)[f] for f in LINE_CONTENT)]
    lines = [_line(user, r, _line_values(post, r)) for r in rows]
    try:
        services.care_visit_record(
            campaign=campaign,
            org=_org(user, post.get("org", ""), "org"),
            visited_on=_day(post.get("visited_on", "").strip(), "visited_on", _("慰问日期")),
            place=_text(post.get("place", ""), "place", _("地点"), 200),
            beneficiaries=lines,
            actor=user,
            visitors=_text(post.get("visitors", "").strip(), "visitors", _("慰问人"), 300),
            note=post.get("note", "").strip(),
        )
    except DomainError as exc:
        found = _LINE.search(exc.message)
        if found is None:
            raise
        # The service counts the lines it was given; the clerk, the rows of the form.
        message = exc.message.replace(found[0], _row_label(rows[int(found[1])]), 1)
        raise DomainError(exc.code, message, status=exc.status) from None


def _visit_for(user: User, campaign: CareCampaign, raw: str) -> CareVisit:
    visit = (
        selectors.visits_visible_to(user)
        .select_related("org", "campaign__org")
        .filter(campaign=campaign, pk=int(raw))
        .first()
        if raw.isascii() and raw.isdigit() and len(raw) <= 18
        else None
    )
    if visit is None:
        raise NotFound(pgettext("未找到", "慰问记录"), field="visit")
    return visit


def _act(user: User, campaign: CareCampaign, action: str, post: QueryDict) -> None:
    if action == "budget":
        services.care_campaign_budget_set(
            campaign=campaign,
            budget=_money(post.get("budget", "").strip(), "budget", _("新预算"), allow_zero=True),
            actor=user,
            reason=post.get("reason", ""),
        )
    elif action == "allocate":
        services.care_allocation_create(
            campaign=campaign,
            org=_org(user, post.get("org", ""), "org"),
            amount=_money(post.get("amount", "").strip(), "amount", _("拨付金额")),
            on=_day(post.get("date", "").strip(), "date", _("拨付日期")),
            actor=user,
            payee=_text(post.get("payee", "").strip(), "payee", _("收款方"), 200),
            memo=_text(post.get("memo", "").strip(), "memo", _("摘要"), 300),
        )
    elif action == "visit":
        _visit_record(user, campaign, post)
    elif action == "cancel_visit":
        services.care_visit_cancel(
            visit=_visit_for(user, campaign, post.get("visit", "")),
            actor=user,
            reason=post.get("reason", ""),
        )
    else:
        raise DomainError("unknown_action", _("未知操作"))


def _campaign_context(
    user: User, campaign: CareCampaign, post: QueryDict, invalid: str
) -> dict[str, Any]:
    """What the page shows; `post` and `invalid` (the field refused) refill the visit rows."""
    summary = selectors.campaign_summary(campaign=campaign, user=user)
    entries = list(selectors.campaign_entries(campaign=campaign, user=user).order_by("-id")[:SHOWN])
    visits = list(selectors.campaign_visits(campaign=campaign, user=user)[:SHOWN])
    return {
        "campaign": campaign,
        "summary": summary,
        "entries": entries,
        "visits": [
            {
                "visit": v,
                "lines": list(v.beneficiaries.all()),
                "total": sum((b.cash + b.goods_value for b in v.beneficiaries.all()), Decimal(0)),
            }
            for v in visits
        ],
        "open_visits": [v for v in visits if v.cancelled_at is None],
        # A visit is paid from an allocation: the form starts on the first organisation with money.
        "visit_org": next((line.org.code for line in summary.orgs if line.funds.balance > 0), ""),
        "shown": SHOWN,
        # Organisations of the campaign's subtree the user sees: those it may fund or visit.
        "orgs": orgs_visible_to(user)
        .filter(path__startswith=campaign.org.path)
        .order_by("path")[:500],
        "labour_models": selectors.labour_models_visible_to(user).order_by("name")[:500],
        "kinds": [(k.value, k.label) for k in KINDS],
        "rows": [
            {
                "p": f"b{r}",
                "n": r + 1,
                "v": _line_values(post, r),
                "bad": invalid.removeprefix(f"b{r}_") if invalid.startswith(f"b{r}_") else "",
            }
            for r in range(VISIT_ROWS)
        ],
        # Rows 2 to 5 are folded away unless the clerk filled one in.
        "more_rows": any(
            _line_values(post, r)[f] for r in range(1, VISIT_ROWS) for f in LINE_CONTENT
        ),
        "today": timezone.localdate(),
    }


@staff_required(selectors.CARE_ROLES)
def campaign_page(request: HttpRequest, user: User, code: str) -> HttpResponse:
    """One campaign: its money against the budget, per organisation, its ledger and visits, and
    the forms that change them. Outside the user's subtree the campaign does not exist (404)."""
    try:
        campaign = selectors.campaign_get_visible(user=user, code=code)
    except NotFound:
        raise Http404 from None
    done = request.GET.get("done", "")
    context: dict[str, Any] = {"done": done if done in (*ACTIONS, "created") else ""}
    post = request.POST if request.method == "POST" else QueryDict()
    status, field = 200, ""
    if request.method == "POST":
        action = post.get("action", "")
        try:
            _act(user, campaign, action, post)
        except DomainError as exc:
            status, field = exc.status, str(exc.details.get("field") or "")
            # The refusal shows beside the form that was sent (at the top for an unknown one).
            action = action if action in ACTIONS else ""
            context.update(error=exc.message, action=action, invalid=f"{action}:{field}")
            context["posted"] = post
            campaign.refresh_from_db()
        else:
            return HttpResponseRedirect(_campaign_url(campaign.code, action))
    context.update(_campaign_context(user, campaign, post, field))
    return render(request, "web/console/care_campaign.html", context, status=status)
