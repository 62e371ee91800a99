"""Campaign results keep the attributed returns (a sale carrying the note's return code) for the dashboard.

The new columns are filled for the existing rows here, and every row's ``refreshed_at`` moves, so the
dashboard's cached tiles (keyed on it) are rendered again with the new figures.
"""

from django.db import migrations, models
from django.db.models import Count, DecimalField, Exists, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone


def backfill(apps, schema_editor):
    CampaignResult = apps.get_model("outreach", "CampaignResult")
    Note = apps.get_model("outreach", "Note")
    PurchaseTicket = apps.get_model("customers", "PurchaseTicket")
    coded = PurchaseTicket.objects.filter(is_return=False, return_code=OuterRef("return_code")).exclude(return_code="")
    total = coded.order_by().values("return_code").annotate(s=Sum("total")).values("s")
    rows = (
        Note.objects.filter(Exists(coded))
        .annotate(sales=Coalesce(Subquery(total), 0, output_field=DecimalField()))
        .values("campaign_id", "store_id")
        .annotate(n=Count("pk"), revenue=Sum("sales"))
        .order_by()
    )
    CampaignResult.objects.update(refreshed_at=timezone.now())
    for r in rows:  # one row per (campaign, store) with attributed returns
        CampaignResult.objects.filter(campaign_id=r["campaign_id"], store_id=r["store_id"]).update(
            attributed_returned=r["n"], attributed_revenue=r["revenue"]
        )


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0007_ticket_return_code"),
        ("outreach", "0007_dashboard_campaign_results"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaignresult",
            name="attributed_returned",
            field=models.PositiveIntegerField(default=0, help_text="Notes whose return code a sale carries."),
        ),
        migrations.AddField(
            model_name="campaignresult",
            name="attributed_revenue",
            field=models.DecimalField(decimal_places=2, default=0, max_digits=16),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
