"""Fixtures for the hostile-input tests: the benefits and protection factories, reused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.benefits.conftest import card_holder, member_api
from tests.protection.conftest import (
    approved_claim,
    enrol,
    file_claim,
    insured,
    reviewer,
    sms_outbox,
    unit_admin,
    zy,
)

__all__ = [
    "approved_claim",
    "card_holder",
    "enrol",
    "file_claim",
    "insured",
    "member_api",
    "reviewer",
    "sms_outbox",
    "unit_admin",
    "zy",
]


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    """Uploads go to a folder of the test's own."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)
