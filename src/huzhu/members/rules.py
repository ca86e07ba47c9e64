"""Pure rules for organisation codes, phones and card numbers (no ORM)."""

from __future__ import annotations

import re

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
        return f"not a mainland mobile number: {raw}"
    return None


def code_problem(code: str) -> str | None:
    if not CODE_RE.match(code):
        return f"code must be letters, digits, '.', '_' or '-' (at most 64): {code}"
    return None


def parent_kind_problem(kind: str, parent_kind: str | None) -> str | None:
    """A city is the root; a district sits under a city, a town under a district; a workplace
    union under any of them."""
    if kind not in PARENT_KINDS:
        return f"unknown kind {kind!r} (city, district, town, unit)"
    allowed = PARENT_KINDS[kind]
    if parent_kind is None:
        return None if kind == "city" else f"a {kind} needs a parent"
    if parent_kind not in allowed:
        return f"a {kind} cannot be placed under a {parent_kind}"
    return None
