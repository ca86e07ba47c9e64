from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebConfig(AppConfig):
    name = "huzhu.web"
    label = "web"
    verbose_name = _("页面")

    def ready(self) -> None:
        from huzhu.web import tasks  # noqa: F401  (registers the jobs, for the local runner too)
