from django.db import migrations

from huzhu.core.append_only import make_append_only


class Migration(migrations.Migration):
    dependencies = [("care", "0001_initial")]
    operations = [make_append_only("care_careledgerentry")]
