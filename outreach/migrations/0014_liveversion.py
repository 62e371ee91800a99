# The version of the dashboard's live tiles (notes pipeline, complaints) per store: the whole page
# body is cached per version (outreach.live_versions).

import django.db.models.deletion
from django.db import migrations, models


def rows_for_existing_stores(apps, schema_editor):
    """A row per store that has notes or complaints already: their deletions bump without creating."""
    Store = apps.get_model("customers", "Store")
    LiveVersion = apps.get_model("outreach", "LiveVersion")
    LiveVersion.objects.bulk_create(
        [LiveVersion(store_id=pk) for pk in Store.objects.values_list("pk", flat=True)], ignore_conflicts=True
    )


class Migration(migrations.Migration):

    dependencies = [
        ("customers", "0007_ticket_return_code"),
        ("outreach", "0013_note_pipeline_covering_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="LiveVersion",
            fields=[
                (
                    "store",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="customers.store",
                    ),
                ),
                ("version", models.BigIntegerField(default=0)),
                ("changed_at", models.DateTimeField(null=True)),
            ],
        ),
        migrations.RunPython(rows_for_existing_stores, migrations.RunPython.noop),
    ]
