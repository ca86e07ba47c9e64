"""The care fund figures (CareFundFigures) kept by the database's triggers: what they count, and
the recount from the care ledger that checks and rebuilds them (huzhu.core.figures)."""

from __future__ import annotations

from huzhu.core.figures import KeptFigures

_FEN = "CAST(ROUND({r}.amount * 100) AS BIGINT)"  # exact: the amounts have two places

FUND_FIGURES = KeptFigures(
    name="care_fund_figures",
    table="care_carefundfigures",
    source="care_careledgerentry",
    keys={"campaign_id": "{r}.campaign_id", "org_id": "{r}.org_id"},
    # As care.rules.funds_by_org adds them: a reversal carries its kind with the other sign.
    sums={
        "allocated_fen": f"CASE WHEN {{r}}.kind = 'allocation' THEN {_FEN} ELSE 0 END",
        "spent_fen": f"CASE WHEN {{r}}.kind = 'allocation' THEN 0 ELSE {_FEN} END",
        "entries": "1",
    },
    reads=("campaign_id", "org_id", "kind", "amount"),
)
