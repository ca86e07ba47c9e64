"""Audit actions are one enum with the words the log shows; no call names an action by a bare
string (a typo would be a new action nobody filters for)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from django.utils import translation

from huzhu.audit.actions import Action

SRC = Path(__file__).resolve().parents[2] / "src" / "huzhu"


def _bare_actions() -> list[str]:
    found = []
    for path in SRC.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            values = [k.value for k in node.keywords if k.arg == "action"]
            if name in ("_audit", "audit") and node.args:
                values.append(node.args[0])
            for value in values:
                found += [
                    f"{path.relative_to(SRC)}:{node.lineno} {part.value}"
                    for part in ast.walk(value)
                    if isinstance(part, ast.Constant)
                    and isinstance(part.value, str)
                    and re.fullmatch(r"[a-z_]+\.[a-z_]+", part.value)
                ]
    return found


def test_no_call_names_an_action_by_a_bare_string():
    assert _bare_actions() == []


def test_every_action_is_a_domain_and_a_verb_with_chinese_words_and_english_ones():
    for action in Action:
        assert re.fullmatch(r"[a-z_]+\.[a-z_]+", action.value), action
        with translation.override("zh-hans"):
            words = str(action.label)
        assert re.search(r"[\u4e00-\u9fff]", words), action
        with translation.override("en"):
            english = str(action.label)
        assert english != words and english.isascii(), (action, english)


def test_a_claim_step_is_an_action_for_every_state():
    from huzhu.protection.models import ClaimState

    for state in ClaimState.values:
        assert Action(f"claim.{state}")
