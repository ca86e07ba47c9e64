"""Colour contrast of the stylesheet's text/background pairs: WCAG AA, at least 4.5:1."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).resolve().parents[2] / "src/huzhu/web/static/web/site.css"


def _palette() -> dict[str, str]:
    root = re.search(r":root\s*\{([^}]*)\}", CSS.read_text())
    assert root
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", root.group(1)))


def _luminance(hex_colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


P = _palette()
LINK = re.search(r"\ba \{ color: (#[0-9a-f]{6})", CSS.read_text())
WHITE = "#ffffff"

PAIRS = [
    ("text", P["fg"], P["bg"]),
    ("muted text", P["muted"], P["bg"]),
    ("muted text on soft", P["muted"], P["soft"]),
    ("text on soft tiles and tags", P["fg"], P["soft"]),
    ("header and buttons", WHITE, P["accent"]),
    ("button hover", WHITE, P["accent-dark"]),
    ("secondary button", P["accent-dark"], P["bg"]),
    ("success message", P["ok"], P["bg"]),
    ("error message", P["bad"], P["bg"]),
    ("gate: redeemed", WHITE, P["ok"]),
    ("gate: refused", WHITE, P["bad"]),
    ("links", LINK.group(1) if LINK else "", P["bg"]),
    ("open tag", P["ok"], "#e3f1e4"),
    ("closed tag", P["bad"], "#f3e3e2"),
]


@pytest.mark.parametrize(("what", "fg", "bg"), PAIRS, ids=[p[0] for p in PAIRS])
def test_contrast_is_at_least_4_5(what: str, fg: str, bg: str) -> None:
    assert contrast(fg, bg) >= 4.5, f"{what}: {fg} on {bg} is {contrast(fg, bg):.2f}:1"


def test_the_formula_agrees_with_known_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
