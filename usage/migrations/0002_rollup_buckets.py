"""Rollup rows become buckets that may start during a day (at a quota period's start):
`starts_at` is added, nullable until 0003 fills it."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("usage", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="dailyusage",
            name="starts_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="usageuniquevalue",
            name="starts_at",
            field=models.DateTimeField(null=True),
        ),
    ]
