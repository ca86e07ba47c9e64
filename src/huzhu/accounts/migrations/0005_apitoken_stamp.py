import hashlib

from django.db import migrations, models


def stamp_existing_tokens(apps, schema_editor):
    # As accounts.services.credentials_stamp: tokens issued before this keep working (until
    # they expire) and stop when their user's password, role or organisation changes.
    ApiToken = apps.get_model("accounts", "ApiToken")
    for token in ApiToken.objects.filter(revoked_at__isnull=True).select_related("user"):
        user = token.user
        text = f"huzhu.token\x00{user.password}\x00{user.role}\x00{user.org_id or ''}"
        token.stamp = hashlib.sha256(text.encode()).hexdigest()
        token.save(update_fields=["stamp"])


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0004_throttle_pairs'),
    ]

    operations = [
        migrations.AddField(
            model_name='apitoken',
            name='stamp',
            field=models.CharField(default='', max_length=64),
        ),
        migrations.RunPython(stamp_existing_tokens, migrations.RunPython.noop),
    ]
