# The oldest day the window figures count, so a nightly run can slide the 365-day window instead of
# recomputing a customer whose only change is that day leaving it. Rows from before stay NULL: recomputed.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('outreach', '0014_liveversion'),
    ]

    operations = [
        migrations.AddField(
            model_name='customersegmentstate',
            name='window_oldest',
            field=models.DateField(blank=True, null=True),
        ),
    ]
