"""Members get `phone_hash` (keyed hash of the normalised phone) so a member can sign in with an
SMS code; existing rows are filled from their encrypted phone numbers."""

from django.db import migrations, models


def fill_phone_hashes(apps, schema_editor):
    from huzhu.core.pii import vault
    from huzhu.members.rules import normalize_phone

    Member = apps.get_model("members", "Member")
    v = vault()
    batch = []
    for member in Member.objects.exclude(phone_cipher="").only("id", "phone_cipher").iterator(
        chunk_size=5000
    ):
        member.phone_hash = v.lookup_hash(normalize_phone(v.decrypt(member.phone_cipher)))
        batch.append(member)
        if len(batch) >= 5000:
            Member.objects.bulk_update(batch, ["phone_hash"])
            batch = []
    if batch:
        Member.objects.bulk_update(batch, ["phone_hash"])


class Migration(migrations.Migration):

    dependencies = [
        ('members', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='member',
            name='phone_hash',
            field=models.CharField(blank=True, default='', editable=False, max_length=64),
        ),
        migrations.AddIndex(
            model_name='member',
            index=models.Index(condition=models.Q(('phone_hash', ''), _negated=True), fields=['phone_hash'], name='member_phone_hash'),
        ),
        migrations.RunPython(fill_phone_hashes, migrations.RunPython.noop),
    ]
