"""Pure rules for organisation codes, phones and card numbers (no ORM; reasons in the active
language)."""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
CARD_RE = re.compile(r"^[A-Za-z0-9]{4,32}$")
CODE_PATTERN = CODE_RE.pattern
PHONE_PATTERN = PHONE_RE.pattern
CARD_PATTERN = CARD_RE.pattern

PARENT_KINDS = {
    "city": (),
    "district": ("city",),
    "town": ("district",),
    "unit": ("city", "district", "town"),
}


def normalize_phone(raw: str) -> str:
    """Strip spaces, dashes and a +86 / 86 country prefix."""
    value = re.sub(r"[\s-]", "", raw)
    if value.startswith("+86"):
        value = value[3:]
    elif value.startswith("86") and len(value) == 13:
        value = value[2:]
    return value


def phone_problem(raw: str) -> str | None:
    if not PHONE_RE.match(normalize_phone(raw)):
        return phone_problem_text(raw)
    return None


def phone_problem_text(raw: str) -> str:
    return _("不是中国大陆手机号：%(phone)s") % {"phone": raw}


def code_problem(code: str) -> str | None:
    if not CODE_RE.match(code):
        return _("编码只能由字母、数字和 . _ - 组成（最多 64 个字符）：%(code)s") % {"code": code}
    return None


def parent_kind_problem(kind: str, parent_kind: str | None) -> str | None:
    """A city is the root; a district sits under a city, a town under a district; a workplace
    union under any of them."""
    if kind not in PARENT_KINDS:
        return unknown_kind(repr(kind))
    allowed = PARENT_KINDS[kind]
    if parent_kind is None:
        return None if kind == "city" else _("%(kind)s 类组织需要上级") % {"kind": kind}
    if parent_kind not in allowed:
        return _("%(kind)s 类组织不能放在 %(parent)s 类组织之下") % {
            "kind": kind,
            "parent": parent_kind,
        }
    return None


def unknown_kind(kind: str) -> str:
    return _("未知的类型 %(kind)s（可用 city、district、town、unit）") % {"kind": kind}
