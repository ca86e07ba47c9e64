"""The roster written out (`huzhu export members`, the console's download): the import's columns,
through the one spreadsheet writer (`core.sheets`)."""

from __future__ import annotations

from pathlib import Path

from django.utils.translation import gettext as _

from huzhu.accounts.models import User
from huzhu.accounts.policy import ROSTER_ROLES
from huzhu.accounts.selectors import staff_scope_path
from huzhu.audit.actions import Action
from huzhu.audit.services import audit_record
from huzhu.core import sheets
from huzhu.core.errors import Forbidden
from huzhu.core.files import atomic_write
from huzhu.core.pii import vault
from huzhu.members.models import Card, CardStatus, Member, Organisation, OrgKind
from huzhu.members.roster import MEMBER_COLUMNS

# -- export ---------------------------------------------------------------------------------------


def members_export(out: Path, *, actor: User | None = None, reason: str = "roster export") -> int:
    """The roster with the import's columns (full ID numbers: the export is itself logged)."""
    scope = "/" if actor is None else staff_scope_path(actor)
    if actor is not None and actor.role not in ROSTER_ROLES:
        raise Forbidden("forbidden", _("您的角色不能导出名册"))
    v = vault()
    orgs = {o.pk: o for o in Organisation.objects.all()}

    def district_of(org: Organisation) -> str:
        cur: Organisation | None = org
        while cur is not None and cur.kind != OrgKind.DISTRICT:
            cur = orgs.get(cur.parent_id) if cur.parent_id else None
        return cur.name if cur else ""

    cards = dict(Card.objects.filter(status=CardStatus.ACTIVE).values_list("member_id", "card_no"))
    header = [c.name for c in MEMBER_COLUMNS]
    rows: list[list[object]] = []
    qs = (
        Member.objects.filter(unit__path__startswith=scope)
        .order_by("id")
        .values_list("id", "id_cipher", "name", "unit_id", "phone_cipher", "joined_on")
    )
    for member_id, id_cipher, name, unit_id, phone_cipher, joined in qs.iterator(chunk_size=20_000):
        unit = orgs[unit_id]
        rows.append(
            [
                v.decrypt(id_cipher),
                name,
                unit.code,
                unit.name,
                district_of(unit),
                v.decrypt(phone_cipher) if phone_cipher else "",
                cards.get(member_id, ""),
                joined.isoformat() if joined else "",
            ]
        )
    audit_record(
        actor=actor,
        action=Action.MEMBERS_EXPORT,
        object_type="file",
        object_id=out.name[:64],
        org_path=scope,
        reason=reason,
        rows=len(rows),
    )
    write_rows(out, header, rows)
    return len(rows)


def write_rows(out: Path, header: list[str], rows: list[list[object]]) -> None:
    """Write a table as .xlsx (first sheet, text cells for codes) or UTF-8 CSV with BOM, all or
    nothing (core.files.atomic_write: a full disk leaves the earlier file at `out` as it was).
    Cells go through core.sheets: no name can become a formula."""
    if out.suffix.lower() == ".xlsx":
        # Built in memory (compressed, far smaller than `rows`): openpyxl cannot clean up after
        # a write that fails half-way into a file.
        data = sheets.xlsx_bytes(
            header, ([str(c) if c is not None else None for c in row] for row in rows)
        )
        with atomic_write(out, binary=True) as fh:
            fh.write(data)
    else:
        with atomic_write(out, encoding="utf-8-sig") as fh:
            writer = sheets.csv_writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
