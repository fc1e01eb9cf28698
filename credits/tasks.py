from celery import shared_task


@shared_task(ignore_result=True)
def expire_credits() -> int:
    """Expire the unused credit of every lot past its `expires_at` (idempotent)."""
    from django.utils import timezone

    from .services import credits_expire_due

    return credits_expire_due(now=timezone.now())
