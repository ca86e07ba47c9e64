"""Units a roster creates (新建单位): only those a row names (`unit_name`), under the district a
row names or the importer's own organisation; every other unknown `unit_code` is a bad row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl
from django.utils.translation import gettext as _

from huzhu.accounts.models import User
from huzhu.accounts.policy import in_subtree
from huzhu.core import names
from huzhu.core import tabular as tb
from huzhu.members import rules
from huzhu.members.models import Organisation, OrgKind
from huzhu.members.services import org_insert, org_root

if TYPE_CHECKING:
    from huzhu.members.roster import ImportReport


@dataclass(frozen=True)
class _NewUnit:
    """A unit the file creates: its name, and the district named for it (None: the actor's own
    organisation, the root for the command line)."""

    code: str
    name: str
    district: str | None


def _districts_by_name(orgs: dict[str, Organisation]) -> dict[str, Organisation]:
    districts: dict[str, Organisation] = {}
    for o in orgs.values():
        if o.kind == OrgKind.DISTRICT:
            # A row may name the district as 西城区, 西城区总工会 or by its code.
            districts.update({o.name: o, o.name.removesuffix("总工会"): o, o.code: o})
    return districts


def _scope_org(orgs: dict[str, Organisation], scope: str) -> Organisation | None:
    """The organisation at `scope` (the root for "/"; None when the tree has no root yet)."""
    for o in orgs.values():
        if (o.path == scope) if scope != "/" else (o.parent_id is None):
            return o
    return None


def _named_and_placed_once(
    code: str,
    lines: list[tuple[Any, ...]],
    named: list[tuple[int, str]],
    placed: list[tuple[int, str]],
    headers: tuple[str, str, str],
    file: str,
) -> list[tb.RowError]:
    """The rows of one new unit: named by some row, with one name and one district, each a
    valid name."""
    unit_header, name_header, district_header = headers
    found: list[tb.RowError] = []
    if not named:
        reason = _("未知的单位编码 %(code)s（没有哪一行写明它的单位名称）") % {"code": code}
        found += [tb.RowError(row, unit_header, reason, file) for row, *_ in lines]
    for row, name, name_problem, district, district_problem in lines:
        if name_problem is not None:
            found.append(tb.RowError(row, name_header, name_problem, file))
        elif name is not None and name != named[0][1]:
            reason = _("单位 %(code)s 在第 %(row)s 行的名称是 %(name)s") % {
                "code": code,
                "name": named[0][1],
                "row": named[0][0],
            }
            found.append(tb.RowError(row, name_header, reason, file))
        if district_problem is not None:
            found.append(tb.RowError(row, district_header, district_problem, file))
        elif district is not None and district != placed[0][1]:
            reason = _("单位 %(code)s 在第 %(row)s 行所属的区是 %(district)s") % {
                "code": code,
                "district": placed[0][1],
                "row": placed[0][0],
            }
            found.append(tb.RowError(row, district_header, reason, file))
    return found


def plan_new_units(
    table: tb.Table, orgs: dict[str, Organisation], scope: str
) -> tuple[dict[str, _NewUnit], list[tb.RowError]]:
    """The units the file creates (by code), and every row that cannot have its unit: an
    unknown `unit_code` that no row names (a typo must not create a union), a unit named or
    placed two ways, a bad name, a district outside the actor's organisation, or a new district
    that only the root's staff may create."""
    df, file = table.df, table.file
    unknown = df.filter(
        pl.col("unit_code").str.contains(rules.CODE_PATTERN)  # a malformed code is reported
        & ~pl.col("unit_code").is_in(list(orgs))
    )
    if unknown.height == 0:
        return {}, []
    unit_names, unit_name_problems = names.name_series(unknown["unit_name"])
    district_names, district_problems = names.name_series(unknown["district"])
    unknown = unknown.with_columns(
        unit_names,
        unit_name_problems.alias("_unit_name_problem"),
        district_names,
        district_problems.alias("_district_problem"),
    )
    unit_header, name_header, district_header = (
        table.header_of("unit_code"),
        table.header_of("unit_name"),
        table.header_of("district"),
    )
    districts = _districts_by_name(orgs)
    scope_org = _scope_org(orgs, scope)
    at_root = scope_org is None or scope_org.parent_id is None
    plan: dict[str, _NewUnit] = {}
    errors: list[tb.RowError] = []
    columns = (tb.ROW, "unit_name", "_unit_name_problem", "district", "_district_problem")
    for (code,), rows in unknown.group_by("unit_code", maintain_order=True):
        code = str(code)
        lines = list(rows.select(columns).iter_rows())
        named = [(row, name) for row, name, *_ in lines if name is not None]
        placed = [(row, d) for row, _n, _p, d, _dp in lines if d is not None]
        found = _named_and_placed_once(
            code, lines, named, placed, (unit_header, name_header, district_header), file
        )
        district = placed[0][1] if placed else None
        if district is not None and not found:
            known = districts.get(district)
            if known is not None and not in_subtree(known.path, scope):
                reason = _("%(code)s 不在您的组织范围内") % {"code": district}
                found += [tb.RowError(row, district_header, reason, file) for row, *_ in lines]
            elif known is None and not at_root:
                reason = _("未知的区 %(district)s（只有市总工会可以新建区）") % {
                    "district": district
                }
                found += [tb.RowError(row, district_header, reason, file) for row, *_ in lines]
        elif (
            district is None
            and not found
            and scope_org is not None
            and (problem := rules.parent_kind_problem(OrgKind.UNIT, scope_org.kind))
        ):
            found += [tb.RowError(row, unit_header, problem, file) for row, *_ in lines]
        if found:
            # Every row of a unit that cannot be created is refused, each with a reason.
            first = min(e.row for e in found)
            reported = {e.row for e in found}
            reason = _("单位 %(code)s 无法新建（见第 %(row)s 行）") % {"code": code, "row": first}
            found += [
                tb.RowError(row, unit_header, reason, file)
                for row, *_ in lines
                if row not in reported
            ]
            errors += found
        else:
            plan[code] = _NewUnit(code, named[0][1], district)
    return plan, errors


def ensure_units(
    df: pl.DataFrame,
    orgs: dict[str, Organisation],
    plan: dict[str, _NewUnit],
    scope: str,
    report: ImportReport,
    actor: User | None,
) -> dict[str, int]:
    """unit_code -> id, creating the planned units still in `df` (and their new districts)."""
    unit_ids = {code: o.pk for code, o in orgs.items() if o.kind == OrgKind.UNIT}
    districts = _districts_by_name(orgs)
    wanted = [plan[c] for c in df["unit_code"].unique(maintain_order=True).to_list() if c in plan]
    if not wanted:
        return unit_ids
    root = org_root()
    if root is None:
        root = org_insert(code="city", name="市总工会", kind=OrgKind.CITY, parent=None)
        report.org_created(root, actor=actor)
    parent_default = _scope_org(orgs, scope) or root
    for new in wanted:
        parent = parent_default
        if new.district is not None:
            district = districts.get(new.district)
            if district is None:
                district = org_insert(
                    code=_free_code(f"D-{new.district}"),
                    name=new.district,
                    kind=OrgKind.DISTRICT,
                    parent=root,
                )
                districts[new.district] = district
                report.org_created(district, actor=actor)
            parent = district
        unit = org_insert(code=new.code, name=new.name, kind=OrgKind.UNIT, parent=parent)
        unit_ids[new.code] = unit.pk
        report.org_created(unit, actor=actor)
    return unit_ids


def _free_code(base: str) -> str:
    code, n = base[:60], 1
    while Organisation.objects.filter(code=code).exists():
        n += 1
        code = f"{base[:56]}-{n}"
    return code
