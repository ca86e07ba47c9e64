"""Model field shapes used across the domains: money, and references that bulk imports fill."""

from __future__ import annotations

from typing import Any

from django.db import models

# Yuan with two places: up to 999,999,999,999.99, beyond any sum the fund will hold.
MONEY: dict[str, Any] = {"max_digits": 14, "decimal_places": 2}

# A reference that the bulk imports fill from their own joins, a million rows at a time: no
# database foreign key, whose check would lock every referenced row at commit (FOR KEY SHARE) a
# million times, and no index of its own (the model's own indexes serve it). The services that
# write it check it.
UNCHECKED_REFERENCE: dict[str, Any] = {
    "db_constraint": False,
    "db_index": False,
    "on_delete": models.PROTECT,
}
