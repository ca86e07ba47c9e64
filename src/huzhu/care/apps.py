from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _figures_of_nothing_cleared(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """After a flush, no figure of rows that are gone (huzhu.core.figures.leftovers_cleared)."""
    from huzhu.care.figures import FUND_FIGURES

    FUND_FIGURES.leftovers_cleared(using)


class CareConfig(AppConfig):
    name = "huzhu.care"
    label = "care"
    verbose_name = _("慰问与劳模")

    def ready(self) -> None:
        post_migrate.connect(_figures_of_nothing_cleared, sender=self)
