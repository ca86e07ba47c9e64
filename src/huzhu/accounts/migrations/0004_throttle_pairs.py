from django.db import migrations, models


def forget_old_counters(apps, schema_editor):
    # Keyed by account alone ("user:<name>", any length): meaningless to the new throttle,
    # and a key too long for the new column would stop the migration.
    apps.get_model("accounts", "LoginThrottle").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_onetimecode'),
    ]

    operations = [
        migrations.RunPython(forget_old_counters, migrations.RunPython.noop),
        migrations.RenameField(
            model_name='loginthrottle',
            old_name='failures',
            new_name='attempts',
        ),
        migrations.AlterField(
            model_name='loginthrottle',
            name='key',
            field=models.CharField(max_length=100, unique=True),
        ),
    ]
