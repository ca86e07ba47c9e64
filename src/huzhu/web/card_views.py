"""Member cards in the console (互助服务卡): issue, report lost (挂失), replace (补换卡), from the
member's page. Thin: members.services decides and audits."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_POST

from huzhu.accounts.models import User
from huzhu.accounts.policy import ROSTER_ROLES
from huzhu.core.errors import DomainError
from huzhu.members.models import Card
from huzhu.members.services import card_issue, card_replace, card_report_lost
from huzhu.web.access import staff_required
from huzhu.web.console_views import member_page, visible_member


@require_POST
@staff_required(ROSTER_ROLES)
def member_card(request: HttpRequest, user: User, member_id: int) -> HttpResponse:
    """`action`: issue (a new card number), lost (the active card), replace (the active or lost
    card, by a new number). Done: back to the member's page; refused: the page says why."""
    member = visible_member(user, member_id)
    action = request.POST.get("action", "")
    number = request.POST.get("card_no", "").strip().upper()
    card = Card.objects.filter(member=member, pk=request.POST.get("card") or 0).first()
    try:
        if action == "issue":
            card_issue(member=member, card_no=number, actor=user)
        elif action == "lost" and card is not None:
            card_report_lost(card=card, actor=user)
        elif action == "replace" and card is not None:
            card_replace(card=card, new_card_no=number, actor=user)
        else:
            raise Http404
    except DomainError as exc:
        return member_page(request, user, member, status=exc.status, card_error=exc.message)
    return HttpResponseRedirect(f"/console/members/{member.pk}/?card={action}")
