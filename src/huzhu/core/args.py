"""Types for the command line's options (argparse), shared by `huzhu.cli` and the apps' own
commands (`<app>/commands.py`), which the command line collects."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """An option's type: a whole number in ASCII digits from `low` to `high` (INTERFACES
    "Bounds"). argparse's `int` takes any script's digits and any size; this refuses them
    with exit 2 and a message naming the option."""

    def parse(text: str) -> int:
        if not re.fullmatch(r"-?[0-9]{1,19}", text.strip(), re.ASCII):
            raise argparse.ArgumentTypeError(f"not a whole number in digits 0-9: {text!r}")
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low:,} to {high:,}, not {text}")
        return value

    return parse
