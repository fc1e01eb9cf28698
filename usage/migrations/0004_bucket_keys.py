"""`starts_at` is required and replaces `day` in the rollups' unique keys; day-granular
readers keep an index on the day."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("usage", "0003_fill_bucket_starts")]

    operations = [
        migrations.AlterField(
            model_name="dailyusage",
            name="starts_at",
            field=models.DateTimeField(help_text="Where the bucket starts: midnight, or a period start that day."),
        ),
        migrations.AlterField(
            model_name="usageuniquevalue",
            name="starts_at",
            field=models.DateTimeField(),
        ),
        migrations.RemoveConstraint(model_name="dailyusage", name="usage_daily_unique"),
        migrations.RemoveConstraint(model_name="usageuniquevalue", name="usage_unique_value"),
        migrations.AddConstraint(
            model_name="dailyusage",
            constraint=models.UniqueConstraint(
                fields=("organization", "metric", "starts_at"), name="usage_bucket_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="usageuniquevalue",
            constraint=models.UniqueConstraint(
                fields=("organization", "metric", "starts_at", "value"), name="usage_bucket_unique_value"
            ),
        ),
        migrations.AddIndex(
            model_name="dailyusage",
            index=models.Index(fields=["organization", "metric", "day"], name="usage_daily_org_metric_day"),
        ),
        migrations.AlterModelOptions(
            name="dailyusage",
            options={"ordering": ["starts_at"], "verbose_name_plural": "daily usage"},
        ),
    ]
