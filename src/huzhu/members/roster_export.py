"""The roster written out (`huzhu export members`, the console's download): the import's columns,
through the one spreadsheet writer (`core.sheets`)."""

from __future__ import annotations

from pathlib import Path

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

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
from huzhu.members.roster_columns import MEMBER_COLUMNS

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


# What to write in each column of a roster (the console's column guide and the template's second
# sheet). The header may be the Chinese one or the English name.
MEMBER_COLUMN_GUIDE = {
    "id_number": gettext_lazy(
        "18 位居民身份证号，最后一位可以是 X；请把这一列设为“文本”格式，以免 Excel 改写数字"
    ),
    "name": gettext_lazy("会员姓名"),
    "unit_code": gettext_lazy(
        "会员所在基层工会的编码；名册里的新单位会自动建立（须同时填写单位名称）"
    ),
    "unit_name": gettext_lazy("基层工会名称：单位编码是新的时必填，已有单位可不填"),
    "district": gettext_lazy("新单位所属的区总工会编码；不填则建在您所在的组织下"),
    "phone": gettext_lazy("中国大陆手机号（11 位），会员用它接收验证码登录"),
    "card_no": gettext_lazy("互助服务卡号：4–32 位字母或数字"),
    "joined_on": gettext_lazy("入会日期，格式 2026-01-31"),
}

TEMPLATE_ROWS = 1000  # rows whose cells are text already, for ID and card numbers typed in Excel


def roster_template_xlsx() -> bytes:
    """The roster template (名册模板): the Chinese headers of a roster on the first sheet, its
    first 1,000 rows formatted as text (Excel keeps an 18-digit ID number as typed), and the
    column guide on the second (填写说明)."""
    from io import BytesIO

    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = _("会员名册")
    for index, column in enumerate(MEMBER_COLUMNS, start=1):
        head = sheet.cell(row=1, column=index, value=column.zh)
        head.font = Font(bold=True)
        head.number_format = "@"
        sheet.column_dimensions[head.column_letter].width = 24 if index == 1 else 16
        for row in range(2, TEMPLATE_ROWS + 2):
            sheet.cell(row=row, column=index).number_format = "@"
    sheet.freeze_panes = "A2"
    guide = book.create_sheet(_("填写说明"))
    guide.append([_("列名"), _("英文列名"), _("是否必填"), _("填写说明")])
    for column in MEMBER_COLUMNS:
        required = _("必填") if column.required else _("选填")
        guide.append([column.zh, column.name, required, str(MEMBER_COLUMN_GUIDE[column.name])])
    for letter, width in zip("ABCD", (14, 14, 10, 70), strict=True):
        guide.column_dimensions[letter].width = width
    out = BytesIO()
    book.save(out)
    return out.getvalue()
