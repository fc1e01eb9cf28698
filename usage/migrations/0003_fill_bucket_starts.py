"""Data: every existing rollup row is a whole day, so its bucket starts at midnight UTC."""

from django.db import migrations


def fill_starts_at(apps, schema_editor):
    connection = schema_editor.connection
    for model in ("DailyUsage", "UsageUniqueValue"):
        table = schema_editor.quote_name(apps.get_model("usage", model)._meta.db_table)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"UPDATE {table} SET starts_at = (day::timestamp AT TIME ZONE 'UTC') WHERE starts_at IS NULL"
                )
            else:  # SQLite keeps datetimes as UTC text
                cursor.execute(f"UPDATE {table} SET starts_at = day || ' 00:00:00' WHERE starts_at IS NULL")


class Migration(migrations.Migration):
    dependencies = [("usage", "0002_rollup_buckets")]

    operations = [migrations.RunPython(fill_starts_at, migrations.RunPython.noop)]
