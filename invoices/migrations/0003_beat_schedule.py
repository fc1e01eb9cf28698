"""The periodic tasks of the billing cycle, as django-celery-beat entries (editable in
the admin under Periodic tasks)."""

from django.db import migrations

SCHEDULE = [
    # name, task, every (seconds)
    ("Billing cycle", "invoices.tasks.run_billing_cycle", 15 * 60),
    ("Reconcile quota counters", "usage.tasks.reconcile_quota_counters", 5 * 60),
    ("Expire credits", "credits.tasks.expire_credits", 60 * 60),
    ("Purge expired idempotency keys", "idempotency.tasks.purge_expired_idempotency_keys", 24 * 60 * 60),
]


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, seconds in SCHEDULE:
        interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "interval": interval})


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, _, _ in SCHEDULE]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("invoices", "0002_invoice_plan"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
