from celery import shared_task
from django.utils import timezone


@shared_task(ignore_result=True)
def purge_expired_idempotency_keys() -> int:
    from .models import IdempotencyRecord

    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
