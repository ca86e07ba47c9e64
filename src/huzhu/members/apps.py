from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "huzhu.members"
    label = "members"
    verbose_name = _("组织与会员")
