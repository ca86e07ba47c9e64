from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SettlementConfig(AppConfig):
    name = "huzhu.settlement"
    label = "settlement"
    verbose_name = _("医保数据共享")
