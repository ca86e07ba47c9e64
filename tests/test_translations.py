"""The English catalogue is complete: every message translated, none left fuzzy, placeholders
kept, and the committed .mo compiled from the .po as it stands. Every message a person reads of a
refusal or a file report goes through gettext, so that it is Chinese by default and English when
the reader asks for English.

The .po is read with a small parser (no polib dependency); the .mo with the standard library's
gettext, as Django reads it. Strings added to the code only show up here once
`makemessages -l en` has been run (see the README), which is when they need translating.
"""

from __future__ import annotations

import ast
import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.utils import translation

import huzhu
from huzhu.core.idnumber import check_char
from huzhu.core.tabular import TableError
from huzhu.members.roster import members_import
from tests.conftest import new_id_number

LC_MESSAGES = Path(huzhu.__file__).parent / "locale" / "en" / "LC_MESSAGES"
PO = LC_MESSAGES / "django.po"
MO = LC_MESSAGES / "django.mo"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w*\}")


@dataclass
class Entry:
    line: int
    flags: set[str] = field(default_factory=set)
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"django.po:{self.line}: {self.msgid!r}"


def parse_po(text: str) -> list[Entry]:
    """The active entries of a PO file (obsolete `#~` entries and the header left out)."""
    entries: list[Entry] = []
    entry: Entry | None = None
    flags: set[str] = set()
    target: tuple[str, int] | None = None  # the field that continuation lines extend

    def finish() -> None:
        if entry is not None and entry.msgid:  # msgid "" is the header
            entries.append(entry)

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            continue
        if line.startswith("#,"):
            flags |= {f.strip() for f in line[2:].split(",")}
            continue
        if line.startswith("#"):
            continue
        if line.startswith('"'):
            assert entry is not None and target is not None, f"line {number}: stray string"
            value = ast.literal_eval(line)
            name, index = target
            if name == "msgstr":
                entry.msgstr[index] += value
            else:
                setattr(entry, name, (getattr(entry, name) or "") + value)
            continue
        keyword, _, rest = line.partition(" ")
        value = ast.literal_eval(rest)
        if keyword in ("msgctxt", "msgid") and (entry is None or entry.msgstr):
            finish()
            entry, flags = Entry(line=number, flags=flags), set()
        assert entry is not None, f"line {number}: {keyword} before msgid"
        if keyword.startswith("msgstr"):
            index = int(keyword[7:-1]) if keyword.startswith("msgstr[") else 0
            entry.msgstr[index] = value
            target = ("msgstr", index)
        elif keyword in ("msgctxt", "msgid", "msgid_plural"):
            setattr(entry, keyword, value)
            target = (keyword, 0)
        else:
            raise AssertionError(f"line {number}: unknown keyword {keyword}")
    finish()
    return entries


ENTRIES = parse_po(PO.read_text(encoding="utf-8"))


def test_the_parser_reads_the_catalogue() -> None:
    assert len(ENTRIES) > 500
    plural = [e for e in ENTRIES if e.msgid_plural]
    assert plural and all(len(e.msgstr) == 2 for e in plural)  # nplurals=2 in English


def test_every_message_is_translated() -> None:
    missing = [e.label for e in ENTRIES if not all(e.msgstr.values())]
    assert not missing, "untranslated in the English catalogue:\n" + "\n".join(missing)


def test_no_message_is_fuzzy() -> None:
    fuzzy = [e.label for e in ENTRIES if "fuzzy" in e.flags]
    message = "fuzzy in the English catalogue (review each, then drop the flag):\n"
    assert not fuzzy, message + "\n".join(fuzzy)


def test_placeholders_are_kept() -> None:
    wrong = []
    for e in ENTRIES:
        wanted = set(PLACEHOLDER.findall(e.msgid))
        if e.msgid_plural is not None:
            wanted |= set(PLACEHOLDER.findall(e.msgid_plural))
        for text in e.msgstr.values():
            found = set(PLACEHOLDER.findall(text))
            # A singular form may leave out the count; it may not bring in a new name.
            if found - wanted or (e.msgid_plural is None and found != wanted):
                wrong.append(f"{e.label} -> {text!r}")
    assert not wrong, "placeholders changed:\n" + "\n".join(wrong)


def test_the_mo_is_compiled_from_the_po() -> None:
    with MO.open("rb") as f:
        mo = gettext.GNUTranslations(f)
    stale = []
    for e in ENTRIES:
        if "fuzzy" in e.flags or not all(e.msgstr.values()):
            continue  # reported by the tests above
        if e.msgid_plural is None:
            got = mo.pgettext(e.msgctxt, e.msgid) if e.msgctxt else mo.gettext(e.msgid)
            if got != e.msgstr[0]:
                stale.append(e.label)
            continue
        for n, form in ((1, 0), (2, 1)):
            args = (e.msgid, e.msgid_plural, n)
            got = mo.npgettext(e.msgctxt, *args) if e.msgctxt else mo.ngettext(*args)
            if got != e.msgstr[form]:
                stale.append(f"{e.label} (n={n})")
    assert not stale, "django.mo is out of date (run compilemessages):\n" + "\n".join(stale)


SAMPLE = r"""# A comment.
#, fuzzy
msgid ""
msgstr ""
"Language: en\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\n"

#: a.py:1
msgid "一"
msgstr "One"

#: b.py:2
#, fuzzy, python-format
#| msgid "旧的 %(n)s"
msgid ""
"两行"
"的 %(n)s"
msgstr ""

msgctxt "菜单"
msgid "%(n)s 项"
msgid_plural "%(n)s 项"
msgstr[0] "%(n)s item"
msgstr[1] ""

#~ msgid "过时"
#~ msgstr ""
"""


def test_the_parser_on_a_sample() -> None:
    one, two, three = parse_po(SAMPLE)  # the header (fuzzy or not) and obsolete entries left out
    assert (one.msgid, one.msgstr, one.flags) == ("一", {0: "One"}, set())
    assert (two.msgid, two.msgstr, two.flags) == (
        "两行的 %(n)s",
        {0: ""},
        {"fuzzy", "python-format"},
    )
    assert (three.msgctxt, three.msgid_plural) == ("菜单", "%(n)s 项")
    assert three.msgstr == {0: "%(n)s item", 1: ""}


# -- messages people read: through gettext, in the reader's language ------------------------------

SRC = Path(huzhu.__file__).parent
# Where each kind of refusal or report takes the words a person reads: (position, keyword).
MESSAGE_ARGUMENTS: dict[str, tuple[tuple[int, str], ...]] = {
    "DomainError": ((1, "message"),),
    "Conflict": ((1, "message"),),
    "Forbidden": ((1, "message"),),
    "NotFound": ((0, "what"),),
    "Busy": ((0, "message"),),
    "RowError": ((2, "reason"),),
    "InvalidValue": ((0, "reason"), (1, "message")),
}


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else ""


def _subclasses(trees: list[ast.Module]) -> dict[str, tuple[tuple[int, str], ...]]:
    """MESSAGE_ARGUMENTS with every subclass of those classes defined in `trees`, which takes
    its message where its base does."""
    known = dict(MESSAGE_ARGUMENTS)
    grew = True
    while grew:
        grew = False
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in known:
                    base = next((_name(b) for b in node.bases if _name(b) in known), None)
                    if base is not None:
                        known[node.name] = known[base]
                        grew = True
    return known


def _bare(node: ast.expr) -> bool:
    """Words typed into the code as they are: a string or f-string, or one formatted, which no
    catalogue can translate."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(node.value.strip())
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return _bare(node.left) or (isinstance(node.op, ast.Add) and _bare(node.right))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "format" and _bare(node.func.value)
    return False


def untranslated(sources: dict[str, str]) -> list[str]:
    """`file:line: call` of every refusal or report in `sources` (name → Python text) whose
    message is bare words rather than a gettext call or something built from one."""
    trees = {name: ast.parse(text, name) for name, text in sources.items()}
    arguments = _subclasses(list(trees.values()))
    found: list[tuple[str, int, str]] = []
    for name, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or _name(node.func) not in arguments:
                continue
            keywords = {k.arg: k.value for k in node.keywords}
            for position, keyword in arguments[_name(node.func)]:
                given = node.args[position] if len(node.args) > position else keywords.get(keyword)
                if given is not None and _bare(given):
                    found.append((name, node.lineno, ast.unparse(node)[:120]))
    return [f"{name}:{line}: {call}" for name, line, call in sorted(found)]


def test_every_refusal_and_file_report_is_worded_through_gettext() -> None:
    sources = {
        str(path.relative_to(SRC.parent)): path.read_text(encoding="utf-8")
        for path in sorted(SRC.rglob("*.py"))
        if "migrations" not in path.parts
    }
    found = untranslated(sources)
    message = 'messages typed as bare words (wrap them in gettext: `_("中文……") % {...}`):\n'
    assert not found, message + "\n".join(found)


def test_the_check_finds_bare_words_wherever_they_are_given() -> None:
    sample = """
from django.utils.translation import gettext as _, pgettext

class Refused(Conflict):
    pass

raise DomainError("a", "plain English")
raise DomainError("a", f"{x} is wrong", field="x")
raise Conflict(code="b", message="the run is %s" % state)
raise Refused("c", "also {}".format(y))
raise NotFound(f"member {pk}")
raise NotFound(what="claim")
errors.append(tb.RowError(2, "id_number", "required", file))
raise InvalidValue(_("必填"), "请填写")
raise DomainError("ok", _("已翻译：%(x)s") % {"x": x})
raise NotFound(pgettext("未找到", "会员"))
raise Forbidden()
raise DomainError("ok", exc.message)
raise Busy(str(BUSY))
"""
    lines = [entry.split(": ", 1)[0] for entry in untranslated({"m.py": sample})]
    assert lines == [f"m.py:{n}" for n in (7, 8, 9, 10, 11, 12, 13, 14)]


def _roster_refusal(data: bytes) -> tuple[str, str]:
    with pytest.raises(TableError) as refused:
        members_import(data, file="名册.csv")
    [error] = refused.value.errors
    assert (error.row, error.column) == (2, "id_number")
    return error.reason, str(error)


def test_a_roster_row_with_a_wrong_check_character_says_why_in_the_readers_language(tree):
    first17 = new_id_number()[:17]
    wrong = "0" if check_char(first17) != "0" else "1"
    data = f"id_number,name,unit_code\n{first17}{wrong},张三,U1\n".encode()
    assert _roster_refusal(data) == ("校验位不对", "名册.csv：第 2 行：id_number 列：校验位不对")
    with translation.override("en"):
        assert _roster_refusal(data) == (
            "check character is wrong",
            "名册.csv: row 2: column id_number: check character is wrong",
        )


def test_an_api_refusal_is_in_chinese_unless_the_client_asks_for_english(
    tree, xicheng_admin, api_as
):
    api = api_as(xicheng_admin)
    body = {"id_number": new_id_number(), "name": "王五", "unit_code": "BJ02T01"}  # a town
    zh = api.post("/members", body)
    en = api.post("/members", body, HTTP_ACCEPT_LANGUAGE="en")
    error = {"code": "invalid_unit", "details": {"field": "unit_code"}}
    assert (zh.status_code, zh.json()["error"]) == (
        400,
        {**error, "message": "BJ02T01 不是基层工会"},
    )
    assert (en.status_code, en.json()["error"]) == (
        400,
        {**error, "message": "BJ02T01 is not a workplace union"},
    )
    missing = {"code": "not_found", "details": {}}
    assert api.get("/members/999999").json()["error"] == {**missing, "message": "未找到：会员"}
    english = api.get("/members/999999", HTTP_ACCEPT_LANGUAGE="en").json()["error"]
    assert english == {**missing, "message": "member not found"}


def test_a_request_in_english_does_not_leave_english_active_for_the_next_test(api_as, city_admin):
    """The first half: an API call with Accept-Language: en activates English in this thread."""
    from django.utils import translation

    api_as(city_admin).get("/members/999999", HTTP_ACCEPT_LANGUAGE="en")
    assert translation.get_language() == "en"


def test_the_next_test_starts_in_chinese():
    """The second half (tests/conftest.py, _default_language): whatever ran before, a test
    starts in zh-hans, so a message it reads does not depend on the order tests run in."""
    from django.utils import translation

    assert translation.get_language() == "zh-hans"
