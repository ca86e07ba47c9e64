from django.db import migrations

from huzhu.core.append_only import make_append_only


class Migration(migrations.Migration):
    dependencies = [("protection", "0002_initial")]
    operations = [make_append_only("protection_ledgerentry")]
