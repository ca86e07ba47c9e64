"""Synthetic, realistic data sets (`huzhu generate`, the demo, benchmarks): the organisation tree
and members (`huzhu.members.synth`), then the plans, enrolments and settlements of the mutual-aid
protection (`huzhu.settlement.synth`), all drawn from one seeded random stream, so that a seed
always gives the same files."""

from __future__ import annotations

import random
from pathlib import Path

from huzhu.members.synth import Progress, generate_people
from huzhu.settlement.synth import generate_protection


def generate_dataset(
    *,
    out: Path,
    members: int,
    settlements: int = 0,
    seed: int = 1,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Write orgs.csv, members.csv, plans/*.toml, enrollments.csv (and settlements.csv when
    `settlements`) to `out`; returns rows per file."""
    say = progress or (lambda _s, _n: None)
    rng = random.Random(seed)
    people = generate_people(out=out, members=members, rng=rng, say=say)
    protection = generate_protection(
        out=out, rng=rng, member_ids=people.member_ids, settlements=settlements, progress=say
    )
    return {**people.files, **protection}
