from celery import shared_task


@shared_task(ignore_result=True)
def reconcile_quota_counters() -> int:
    """Rebuild the Redis quota counters of the current period from the daily rollups."""
    from .services import quota_counters_reconcile

    return quota_counters_reconcile()
