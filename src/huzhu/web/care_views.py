"""Labour models in the console (劳模): the list a federation keeps of its model workers, and a
form to add one. Thin: care.services decides (and audits), care.selectors reads."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _

from huzhu.accounts.models import User
from huzhu.care.models import LabourModelLevel
from huzhu.care.selectors import CARE_ROLES, labour_models_visible_to
from huzhu.care.services import labour_model_create
from huzhu.core.errors import DomainError
from huzhu.members.selectors import orgs_visible_to
from huzhu.web.access import staff_required

FIELDS = ("name", "level", "title", "year", "unit_name", "org", "note")


@staff_required(CARE_ROLES)
def labour_models(request: HttpRequest, user: User) -> HttpResponse:
    """The labour models of the user's subtree, and 新增劳模."""
    posted = {f: request.POST.get(f, "").strip() for f in FIELDS}
    context: dict[str, object] = {
        "models": labour_models_visible_to(user).select_related("org").order_by("level", "name"),
        "orgs": orgs_visible_to(user).order_by("path")[:500],
        "levels": LabourModelLevel.choices,
        "posted": posted,
    }
    if request.method == "POST":
        try:
            org = orgs_visible_to(user).filter(code=posted["org"]).first()
            if org is None:
                raise DomainError("invalid_org", _("请选择所属组织"), field="org")
            year = posted["year"]
            if year and not (year.isascii() and year.isdigit() and len(year) == 4):
                raise DomainError("invalid_year", _("授予年份请填 4 位数字"), field="year")
            labour_model_create(
                actor=user,
                name=posted["name"],
                level=posted["level"],
                title=posted["title"],
                year=int(year) if year else None,
                unit_name=posted["unit_name"],
                org=org,
                note=posted["note"],
            )
        except DomainError as exc:
            context["error"], context["error_field"] = exc.message, exc.details.get("field")
            return render(request, "web/console/labour_models.html", context, status=exc.status)
        return HttpResponseRedirect("/console/labour-models/?added=1")
    return render(request, "web/console/labour_models.html", context)
