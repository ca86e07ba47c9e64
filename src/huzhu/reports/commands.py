"""`huzhu stats check|recount`: whether every summary behind the statistics equals a recount of
the rows it counts, and rebuilding them all from those rows."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_stats(args: argparse.Namespace) -> int:
    from huzhu.reports.services import summaries_differences, summaries_recount

    if args.action == "recount":
        rows = summaries_recount()
        print(f"recounted: {rows:,} payout summary rows, and every figure kept by triggers")
        return 0
    differences = summaries_differences()
    for d in differences[: args.limit]:
        print(f"{d.table}\t{d.key}\tstored {d.stored}\trecounted {d.recounted}")
    if differences:
        print(f"{len(differences):,} difference(s); `huzhu stats recount` rebuilds the summaries")
        return 1
    print("every summary equals a recount of its rows")
    return 0


def _extend(sub: Any) -> None:
    from huzhu.core.args import whole_number

    s = sub.add_parser("stats", help="the summaries behind the statistics")
    actions = s.add_subparsers(dest="action", required=True)
    check = actions.add_parser(
        "check", help="compare every summary with a recount (exit 1 if any differ)"
    )
    check.add_argument("--limit", type=whole_number(1, 1_000_000), default=50)
    actions.add_parser("recount", help="rebuild every summary from the rows it counts")
    s.set_defaults(func=cmd_stats)


COMMANDS = (_extend,)
