"""The columns of the two roster files (名册): organisations and members, each with its English
name and the Chinese header a file may use instead."""

from __future__ import annotations

from huzhu.core import tabular as tb

ORG_COLUMNS = (
    tb.Column("code", "编码", required=True),
    tb.Column("name", "名称", required=True),
    tb.Column("parent_code", "上级编码", required=True),
    tb.Column("kind", "类型", required=True),
)

MEMBER_COLUMNS = (
    tb.Column("id_number", "身份证号", required=True),
    tb.Column("name", "姓名", required=True),
    tb.Column("unit_code", "单位编码", required=True),
    tb.Column("unit_name", "单位名称"),
    tb.Column("district", "所属区"),
    tb.Column("phone", "手机号"),
    tb.Column("card_no", "互助服务卡号"),
    tb.Column("joined_on", "入会日期"),
)
