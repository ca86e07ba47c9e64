from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "huzhu.reports"
    label = "reports"
    verbose_name = _("统计")

    def ready(self) -> None:
        from huzhu.protection.ledger import keep_in_step
        from huzhu.reports.services import summaries_apply_entries

        # The payout summaries and claim balances follow every ledger entry as it is booked.
        keep_in_step(summaries_apply_entries)
        from huzhu.reports import tasks  # noqa: F401  (the nightly check, a scheduled job)
