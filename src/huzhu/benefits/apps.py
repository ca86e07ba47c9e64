from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BenefitsConfig(AppConfig):
    name = "huzhu.benefits"
    label = "benefits"
    verbose_name = _("会员普惠服务")
