from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _figures_of_nothing_cleared(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """With no enrolment left, no enrolment figure either. A flush of every table (between
    tests; on SQLite one DELETE per table, in any order) may delete the figures before the
    enrolments, whose delete trigger then counts them out again; Django sends post_migrate
    after a flush, and the leftovers go here."""
    from django.db import connections

    from huzhu.protection.models import Enrollment, EnrollmentFigures

    connection = connections[using]
    if EnrollmentFigures._meta.db_table not in connection.introspection.table_names():
        return
    if not Enrollment.objects.using(using).exists():
        EnrollmentFigures.objects.using(using).all().delete()


class ProtectionConfig(AppConfig):
    name = "huzhu.protection"
    label = "protection"
    verbose_name = _("互助保障")

    def ready(self) -> None:
        post_migrate.connect(_figures_of_nothing_cleared, sender=self)
