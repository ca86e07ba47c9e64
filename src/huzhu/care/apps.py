from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CareConfig(AppConfig):
    name = "huzhu.care"
    label = "care"
    verbose_name = _("慰问与劳模")
