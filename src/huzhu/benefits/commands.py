"""`huzhu benefits …`: list activities, show an activity's figures, run a lottery draw."""

from __future__ import annotations

import argparse
import json
from typing import Any

from django.utils.translation import pgettext

from huzhu.core.args import whole_number


def cmd_benefits(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from huzhu.benefits import selectors
    from huzhu.benefits.lottery import lottery_draw
    from huzhu.benefits.models import Activity
    from huzhu.core.errors import NotFound

    if args.action == "list":
        remaining = selectors.remaining_by_activity(
            list(Activity.objects.values_list("pk", flat=True))
        )
        for a in Activity.objects.select_related("group").order_by("id"):
            print(f"{a.pk}\t{a.mode}\t{a.group or '-'}\t{remaining.get(a.pk, 0)}\t{a.title}")
        return 0
    activity = Activity.objects.filter(pk=args.activity).first()
    if activity is None:
        raise NotFound(pgettext("未找到", "活动 %(id)s") % {"id": args.activity})
    if args.action == "stats":
        print(
            json.dumps(
                asdict(selectors.activity_stats(activity)),
                ensure_ascii=False,
                default=str,
                indent=2,
            )
        )
        return 0
    result = lottery_draw(activity=activity, seed=args.seed, actor=None)
    print(
        f"seed {result['seed']}: {len(result['winners'])} winner(s), "
        f"{len(result['waiting'])} waiting, {len(result['excluded'])} excluded"
    )
    return 0


def _extend(sub: Any) -> None:
    b = sub.add_parser("benefits", help="member benefits: activities, lottery draws")
    actions = b.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="activities with remaining quota")
    st = actions.add_parser("stats", help="an activity's quota, bookings, redemptions")
    activity_id = whole_number(1, 2**63 - 1)
    st.add_argument("activity", type=activity_id)
    dr = actions.add_parser("draw", help="run a lottery after its window with a published seed")
    dr.add_argument("activity", type=activity_id)
    dr.add_argument("--seed", required=True)
    b.set_defaults(func=cmd_benefits)


COMMANDS = (_extend,)  # collected by huzhu.cli
