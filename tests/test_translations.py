"""The English catalogue is complete: every message translated, none left fuzzy, placeholders
kept, and the committed .mo compiled from the .po as it stands.

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

import huzhu

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
