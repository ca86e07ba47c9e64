from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProtectionConfig(AppConfig):
    name = "huzhu.protection"
    label = "protection"
    verbose_name = _("互助保障")

    def ready(self) -> None:
        from huzhu.protection import demo  # noqa: F401  (registers the demo plans)
