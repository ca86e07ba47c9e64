from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _figures_of_nothing_cleared(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """After a flush, no figure of rows that are gone (huzhu.core.figures.leftovers_cleared)."""
    from huzhu.stations.figures import VISIT_FIGURES

    VISIT_FIGURES.leftovers_cleared(using)


class StationsConfig(AppConfig):
    name = "huzhu.stations"
    label = "stations"
    verbose_name = _("职工暖心驿站")

    def ready(self) -> None:
        post_migrate.connect(_figures_of_nothing_cleared, sender=self)
