"""Roster files: `import orgs`, `import members`, `export members` (INTERFACES.md "Files").

The whole file is read and validated as columns first; nothing is written unless every row is
good, or the caller asked to keep the valid rows. Writes are one bulk statement per table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypedDict

import polars as pl
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from huzhu.accounts.models import User
from huzhu.accounts.policy import ROSTER_ROLES, in_subtree
from huzhu.accounts.selectors import staff_scope_path
from huzhu.audit.actions import Action
from huzhu.audit.services import audit_record
from huzhu.core import idnumber, names
from huzhu.core import tabular as tb
from huzhu.core.bulk import bulk_insert, bulk_update, lookup_many
from huzhu.core.errors import Forbidden
from huzhu.core.pii import mask_id_number, mask_phone, vault
from huzhu.members import rules
from huzhu.members.models import Card, CardStatus, Member, Organisation, OrgKind
from huzhu.members.new_units import ensure_units, plan_new_units
from huzhu.members.roster_columns import MEMBER_COLUMNS, ORG_COLUMNS
from huzhu.members.services import org_insert

Progress = Callable[[str, int], None]


class CreatedOrg(TypedDict):
    """An organisation an import created, as its report lists it."""

    code: str
    name: str
    kind: str
    parent_code: str | None


@dataclass
class ImportReport:
    """What an import did, and every row it refused."""

    file: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: list[tb.RowError] = field(default_factory=list)
    created_orgs: list[CreatedOrg] = field(default_factory=list)

    @property
    def orgs_created(self) -> int:
        return len(self.created_orgs)

    def org_created(self, org: Organisation, *, actor: User | None) -> None:
        """List `org` in the report, and audit its creation as the file's (one event each)."""
        parent = org.parent
        self.created_orgs.append(
            {
                "code": org.code,
                "name": org.name,
                "kind": org.kind,
                "parent_code": parent.code if parent is not None else None,
            }
        )
        audit_record(
            actor=actor, action=Action.ORG_CREATE, obj=org, org_path=org.path, file=self.file[:200]
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "orgs_created": self.orgs_created,
            "created_orgs": self.created_orgs,
            "errors": [e.as_dict() for e in self.errors],
        }

    def audit(self, *, actor: User | None, action: Action, scope: str) -> None:
        """One audit event for the whole file: who imported it, where, and what it did."""
        audit_record(
            actor=actor,
            action=action,
            object_type="file",
            object_id=self.file[:64],
            org_path=scope,
            rows=self.rows,
            created=self.created,
            updated=self.updated,
            skipped=self.skipped,
            orgs_created=self.orgs_created,
        )


def _duplicates(df: pl.DataFrame, column: str, label: str) -> pl.Expr:
    """Reason for every row whose value appeared on an earlier row."""
    first_row = pl.col(tb.ROW).first().over(column)
    return (
        pl.when(pl.col(column).is_not_null() & (pl.col(tb.ROW) != first_row))
        .then(
            pl.format(
                _("%(label)s 重复（首次出现在第 %(row)s 行）") % {"label": label, "row": "{}"},
                first_row,
            )
        )
        .otherwise(None)
    )


def outside_reason(code: str) -> str:
    """Why a row naming an organisation outside the importer's own is refused."""
    return _("%(code)s 不在您的组织范围内") % {"code": code}


def _actor_scope(actor: User | None) -> str:
    if actor is None:
        return "/"
    if actor.role not in ROSTER_ROLES:
        raise Forbidden("forbidden", _("您的角色不能导入名册"))
    return staff_scope_path(actor)


def _raise_or_keep(errors: list[tb.RowError], keep_valid: bool, df: pl.DataFrame) -> pl.DataFrame:
    if errors and not keep_valid:
        raise tb.TableError(errors)
    bad_rows = {e.row for e in errors}
    return df.filter(~pl.col(tb.ROW).is_in(list(bad_rows))) if bad_rows else df


# -- organisations --------------------------------------------------------------------------------


def orgs_import(
    data: bytes, *, file: str, actor: User | None = None, keep_valid: bool = False
) -> ImportReport:
    """The organisation tree. Rows may come in any order; a parent is in the file or known."""
    scope = _actor_scope(actor)
    table = tb.read_table(data, file=file, columns=ORG_COLUMNS)
    org_names, name_problems = names.name_series(table.df["name"])
    df = table.df.with_columns(
        pl.col("kind").str.to_lowercase(), org_names, name_problems.alias("_name_problem")
    )
    table.df = df
    errors = tb.collect_errors(table, _org_checks(df))
    known = {o.code: o for o in Organisation.objects.all()}
    bad = {e.row for e in errors}
    pending = {r["code"]: r for r in df.iter_rows(named=True) if r[tb.ROW] not in bad}
    parent_header, kind_header = table.header_of("parent_code"), table.header_of("kind")

    def refuse(row: dict[str, object], column: str, reason: str) -> None:
        errors.append(tb.RowError(int(row[tb.ROW]), column, reason, file))  # type: ignore[call-overload]

    placed = _parents_first(
        pending, known, scope=scope, refuse=refuse, headers=(parent_header, kind_header)
    )
    errors = sorted(set(errors))
    report = ImportReport(file=file, rows=df.height, errors=errors)
    if errors and not keep_valid:
        raise tb.TableError(errors)
    refused = {e.row for e in errors}
    with transaction.atomic():
        _write_orgs(placed, refused, known, report, actor=actor)
        report.skipped = len(refused)
        report.audit(actor=actor, action=Action.ORGS_IMPORT, scope=scope)
    return report


def _org_checks(df: pl.DataFrame) -> dict[str, list[pl.Expr]]:
    return {
        "code": [tb.required("code"), _code_check("code"), _duplicates(df, "code", "code")],
        "name": [tb.required("name"), pl.col("_name_problem")],
        "kind": [
            tb.required("kind"),
            pl.when(~pl.col("kind").is_in(list(OrgKind.values)))
            .then(pl.format(rules.unknown_kind("{}"), pl.col("kind")))
            .otherwise(None),
        ],
        "parent_code": [_code_check("parent_code")],
    }


def _parents_first(
    pending: dict[str, dict[str, Any]],
    known: dict[str, Organisation],
    *,
    scope: str,
    refuse: Callable[[dict[str, Any], str, str], None],
    headers: tuple[str, str],
) -> list[dict[str, Any]]:
    """The rows in an order that places every parent before its children (a row is placed once
    its parent is known or placed); refuses an unknown parent, a second root, a kind changed, a
    kind that cannot sit under its parent, a parent outside the importer's, and cycles."""
    parent_header, kind_header = headers
    root = next((o for o in known.values() if o.parent_id is None), None)
    # Place rows parents-first: a row is placed once its parent is known or placed.
    placed: list[dict[str, Any]] = []
    kinds = {code: o.kind for code, o in known.items()}
    progress = True
    while pending and progress:
        progress = False
        for code, row in list(pending.items()):
            parent = row["parent_code"]
            if parent and parent not in kinds:
                if parent in pending:
                    continue
                refuse(row, parent_header, _("未知的上级 %(parent)s") % {"parent": parent})
            elif not parent and root is not None and root.code != code:
                refuse(row, parent_header, _("组织树已有根组织（%(root)s）") % {"root": root.code})
            elif code in known and known[code].kind != row["kind"]:
                reason = _("%(code)s 是 %(kind)s 类组织；类型不能更改") % {
                    "code": code,
                    "kind": known[code].kind,
                }
                refuse(row, kind_header, reason)
            elif problem := rules.parent_kind_problem(
                row["kind"], kinds.get(parent) if parent else None
            ):
                refuse(row, parent_header if parent else kind_header, problem)
            elif parent in known and not in_subtree(known[parent].path, scope):
                refuse(row, parent_header, outside_reason(parent))
            else:
                kinds[code] = row["kind"]
                placed.append(row)
            del pending[code]
            progress = True
    for row in pending.values():
        refuse(row, parent_header, _("上级关系形成了循环"))

    return placed


def _write_orgs(
    placed: list[dict[str, Any]],
    refused: set[int],
    known: dict[str, Organisation],
    report: ImportReport,
    *,
    actor: User | None,
) -> None:
    """Each placed row created or updated, parents first; counted in `report`."""
    from huzhu.members.services import org_update

    for row in placed:
        if row[tb.ROW] in refused:  # a row refused after being placed (none today) stays out
            continue
        parent_org = (
            Organisation.objects.get(code=row["parent_code"]) if row["parent_code"] else None
        )
        existing = known.get(str(row["code"]))
        if existing is None:
            org = org_insert(
                code=str(row["code"]),
                name=str(row["name"]),
                kind=str(row["kind"]),
                parent=parent_org,
            )
            report.created += 1
            report.org_created(org, actor=actor)
        elif existing.name != row["name"] or (
            parent_org is not None and existing.parent_id != parent_org.pk
        ):
            org_update(org=existing, name=str(row["name"]), parent=parent_org, actor=actor)
            report.updated += 1
        else:
            report.unchanged += 1


def _code_check(column: str) -> pl.Expr:
    c = pl.col(column)
    return (
        pl.when(c.is_not_null() & ~c.str.contains(rules.CODE_PATTERN))
        .then(pl.format(_("编码只能由字母、数字和 . _ - 组成：%(code)s") % {"code": "{}"}, c))
        .otherwise(None)
    )


# -- members --------------------------------------------------------------------------------------


def _member_checks(df: pl.DataFrame, today: date) -> dict[str, list[pl.Expr]]:
    return {
        "id_number": [
            tb.required("id_number"),
            idnumber.problems_expr("id_number", today=today),
            _duplicates(df, "id_number", "id_number"),
        ],
        "name": [tb.required("name"), pl.col("_name_problem")],
        "unit_code": [tb.required("unit_code"), _code_check("unit_code")],
        "phone": [
            pl.when(
                pl.col("phone").is_not_null() & ~pl.col("phone").str.contains(rules.PHONE_PATTERN)
            )
            .then(pl.format(rules.phone_problem_text("{}"), pl.col("phone")))
            .otherwise(None)
        ],
        "card_no": [
            pl.when(
                pl.col("card_no").is_not_null()
                & ~pl.col("card_no").str.contains(rules.CARD_PATTERN)
            )
            .then(
                pl.format(
                    _("卡号应为 4–32 位字母或数字：%(card)s") % {"card": "{}"}, pl.col("card_no")
                )
            )
            .otherwise(None),
            _duplicates(df, "card_no", "card_no"),
        ],
        "joined_on": [tb.date_problem("joined_on")],
    }


def members_import(
    data: bytes,
    *,
    file: str,
    actor: User | None = None,
    keep_valid: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a roster. A known `id_number` updates the member. An unknown `unit_code` is created
    when the file names the unit (`unit_name`), under the district named in `district` (itself
    created under the root if new) or else under the actor's organisation; without a name it is
    a bad row. The report lists every organisation created, each one also audited."""
    say = progress or (lambda _stage, _n: None)
    scope = _actor_scope(actor)
    table = tb.read_table(data, file=file, columns=MEMBER_COLUMNS)
    say("read", table.df.height)
    member_names, name_problems = names.name_series(table.df["name"])
    df = table.df.with_columns(
        idnumber.normalize_series(table.df["id_number"]),
        member_names,
        name_problems.alias("_name_problem"),
        pl.col("phone").str.replace_all(r"[\s-]", "").str.replace(r"^\+?86(1\d{10})$", "$1"),
    )
    table.df = df
    errors = tb.collect_errors(table, _member_checks(df, timezone.localdate()))
    report = ImportReport(file=file, rows=df.height)

    orgs = {o.code: o for o in Organisation.objects.all()}
    errors += _known_unit_refusals(table, orgs, scope)
    new_units, unit_errors = plan_new_units(table, orgs, scope)
    errors += unit_errors

    # Keyed hashes of every ID number, then which members and cards already exist.
    v = vault()
    df = df.with_columns(
        pl.Series("id_hash", [v.lookup_hash(i) if i else "" for i in df["id_number"].to_list()])
    )
    say("hashed", df.height)
    existing = _existing_members(df["id_hash"].to_list())
    card_owner = _existing_card_owners(df["card_no"].drop_nulls().unique().to_list())
    errors += _card_refusals(table, df, existing, card_owner)
    if actor is not None:
        errors += _outside_refusals(table, df, existing, scope)

    report.errors = sorted(set(errors))
    df = _raise_or_keep(report.errors, keep_valid, df)
    report.skipped = report.rows - df.height
    say("validated", df.height)

    with transaction.atomic():
        unit_ids = ensure_units(df, orgs, new_units, scope, report, actor)
        now = connection.ops.adapt_datetimefield_value(timezone.now())  # once, not per row
        is_new = ~pl.col("id_hash").is_in(list(existing))
        report.created = _insert_members(df.filter(is_new), unit_ids, now)
        say("inserted", report.created)
        report.updated, report.unchanged = _update_members(
            df.filter(~is_new), existing, unit_ids, now
        )
        say("updated", report.updated)
        _apply_cards(df.filter(pl.col("card_no").is_not_null()), card_owner, now)
        report.audit(actor=actor, action=Action.MEMBERS_IMPORT, scope=scope)
    return report


def _known_unit_refusals(
    table: tb.Table, orgs: dict[str, Organisation], scope: str
) -> list[tb.RowError]:
    """Known units must be workplace unions inside the actor's subtree; every row of a refused
    unit is reported."""
    df, file = table.df, table.file
    unit_header = table.header_of("unit_code")
    refused_units: dict[str, str] = {}
    for code in df["unit_code"].drop_nulls().unique().to_list():
        org = orgs.get(code)
        if org is not None and org.kind != OrgKind.UNIT:
            refused_units[code] = _("%(code)s 是 %(kind)s 类组织，不是基层工会") % {
                "code": code,
                "kind": org.kind,
            }
        elif org is not None and not in_subtree(org.path, scope):
            refused_units[code] = outside_reason(code)
    return [
        tb.RowError(row, unit_header, refused_units[code], file)
        for row, code in df.filter(pl.col("unit_code").is_in(list(refused_units)))
        .select(tb.ROW, "unit_code")
        .iter_rows()
    ]


def _card_refusals(
    table: tb.Table, df: pl.DataFrame, existing: dict[str, _Known], card_owner: dict[str, int]
) -> list[tb.RowError]:
    """A card number that another member holds."""
    card_header = table.header_of("card_no")
    errors = []
    for row, card_no, h in (
        df.filter(pl.col("card_no").is_not_null()).select(tb.ROW, "card_no", "id_hash").iter_rows()
    ):
        owner = card_owner.get(card_no)
        if owner is not None and (h not in existing or existing[h].id != owner):
            errors.append(
                tb.RowError(
                    row,
                    card_header,
                    _("卡号 %(card)s 属于另一名会员") % {"card": card_no},
                    table.file,
                )
            )
    return errors


def _outside_refusals(
    table: tb.Table, df: pl.DataFrame, existing: dict[str, _Known], scope: str
) -> list[tb.RowError]:
    """A member who belongs to a unit outside the importer's organisation."""
    id_header = table.header_of("id_number")
    outside = [h for h, m in existing.items() if not in_subtree(m.unit_path, scope)]
    reason = _("该会员属于您组织范围以外的单位")
    return [
        tb.RowError(row, id_header, reason, table.file)
        for (row,) in df.filter(pl.col("id_hash").is_in(outside)).select(tb.ROW).iter_rows()
    ]


def _insert_members(new_rows: pl.DataFrame, unit_ids: dict[str, int], now: object) -> int:
    """New members in one bulk insert, their ID numbers and phones sealed and masked."""
    v = vault()

    def member_rows():  # type: ignore[no-untyped-def]
        for h, value, name, unit_code, phone, joined in new_rows.select(
            "id_hash", "id_number", "name", "unit_code", "phone", "joined_on"
        ).iter_rows():
            yield (
                h,
                v.encrypt(value),
                mask_id_number(value),
                name,
                f"{value[6:10]}-{value[10:12]}-{value[12:14]}",
                v.encrypt(phone) if phone else "",
                mask_phone(phone) if phone else "",
                v.lookup_hash(phone) if phone else "",
                unit_ids[unit_code],
                joined,
                True,
                now,
                now,
            )

    return bulk_insert(
        Member._meta.db_table,
        [
            "id_hash",
            "id_cipher",
            "id_masked",
            "name",
            "birth_date",
            "phone_cipher",
            "phone_masked",
            "phone_hash",
            "unit_id",
            "joined_on",
            "is_active",
            "created_at",
            "updated_at",
        ],
        member_rows(),
    )


@dataclass(frozen=True)
class _Known:
    id: int
    unit_path: str
    name: str
    unit_id: int
    joined_on: date | None
    phone_masked: str
    phone_hash: str


def _existing_members(hashes: list[str]) -> dict[str, _Known]:
    """id_hash -> what is stored, for the hashes already known."""
    unit_paths = dict(Organisation.objects.values_list("id", "path"))
    rows = lookup_many(
        Member._meta.db_table,
        "id_hash",
        ["id", "unit_id", "name", "joined_on", "phone_masked", "phone_hash"],
        hashes,
    )
    found: dict[str, _Known] = {}
    for h, (member_id, unit_id, name, joined, phone_masked, phone_hash) in rows.items():
        if isinstance(joined, str):  # SQLite raw rows return dates as text
            joined = date.fromisoformat(joined)
        found[h] = _Known(
            member_id, unit_paths[unit_id], name, unit_id, joined, phone_masked, phone_hash
        )
    return found


def _existing_card_owners(card_nos: list[str]) -> dict[str, int]:
    return lookup_many(Card._meta.db_table, "card_no", "member_id", card_nos)


def _update_members(
    rows: pl.DataFrame, existing: dict[str, _Known], unit_ids: dict[str, int], now: object
) -> tuple[int, int]:
    """Rewrite changed members in bulk; returns (updated, unchanged)."""
    v = vault()
    changed: list[tuple[object, ...]] = []
    phones: list[tuple[object, ...]] = []
    unchanged = 0
    for h, name, unit_code, phone, joined in rows.select(
        "id_hash", "name", "unit_code", "phone", "joined_on"
    ).iter_rows():
        known = existing[h]
        joined_on = date.fromisoformat(joined) if joined else known.joined_on
        # Compared by keyed hash: two numbers can share a mask (same first 3 and last 4 digits).
        phone_hash = v.lookup_hash(phone) if phone else known.phone_hash
        unit_id = unit_ids[unit_code]
        if (name, unit_id, joined_on, phone_hash) == (
            known.name,
            known.unit_id,
            known.joined_on,
            known.phone_hash,
        ):
            unchanged += 1
            continue
        changed.append((name, unit_id, joined_on, now, known.id))
        if phone and phone_hash != known.phone_hash:
            phones.append((v.encrypt(phone), mask_phone(phone), phone_hash, known.id))
    table = Member._meta.db_table
    bulk_update(table, "id", ["name", "unit_id", "joined_on", "updated_at"], changed)
    bulk_update(table, "id", ["phone_cipher", "phone_masked", "phone_hash"], phones)
    return len(changed), unchanged


def _apply_cards(rows: pl.DataFrame, card_owner: dict[str, int], now: object) -> None:
    """A row's card becomes the member's active card; a different active card is replaced."""
    if rows.height == 0:
        return
    member_ids = _member_ids(rows["id_hash"].to_list())
    active = lookup_many(
        Card._meta.db_table, "member_id", "id", member_ids.values(), where="status = 'active'"
    )
    new_cards: list[tuple[object, ...]] = []
    ended: list[tuple[object, ...]] = []
    replaces: dict[str, int] = {}
    for h, card_no in rows.select("id_hash", "card_no").iter_rows():
        member_id = member_ids[h]
        if card_owner.get(card_no) == member_id:
            continue  # already this member's card
        old = active.get(member_id)
        if old is not None:
            ended.append((CardStatus.REPLACED.value, now, old))
            replaces[card_no] = old
        new_cards.append((member_id, card_no, CardStatus.ACTIVE.value, now, replaces.get(card_no)))
    bulk_update(Card._meta.db_table, "id", ["status", "ended_at"], ended)
    bulk_insert(
        Card._meta.db_table,
        ["member_id", "card_no", "status", "issued_at", "replaces_id"],
        new_cards,
    )


def _member_ids(hashes: list[str]) -> dict[str, int]:
    return lookup_many(Member._meta.db_table, "id_hash", "id", hashes)
