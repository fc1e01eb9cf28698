"""Bring the Stripe keys and webhook secret from the environment into dj-stripe's tables."""

import hashlib

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Store STRIPE_SECRET_KEY, STRIPE_PUBLISHABLE_KEY and STRIPE_WEBHOOK_SECRET in dj-stripe's configuration "
        "(idempotent). Without STRIPE_SECRET_KEY the Stripe gateway stays off."
    )

    def handle(self, *args, **options):
        from djstripe.models import APIKey, WebhookEndpoint

        secret = settings.STRIPE_SECRET_KEY
        if not secret:
            self.stdout.write("STRIPE_SECRET_KEY is not set: the Stripe gateway stays off.")
            return
        if not secret.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_")):
            raise CommandError("STRIPE_SECRET_KEY must start with sk_test_ / sk_live_ (or a restricted rk_ key).")
        key, created = APIKey.objects.get_or_create_by_api_key(secret)
        self.stdout.write(f"{'Added' if created else 'Kept'} the secret key ({key.type}, livemode={key.livemode}).")
        if settings.STRIPE_PUBLISHABLE_KEY:
            _public, created = APIKey.objects.get_or_create_by_api_key(settings.STRIPE_PUBLISHABLE_KEY)
            self.stdout.write(f"{'Added' if created else 'Kept'} the publishable key.")
        if not settings.STRIPE_WEBHOOK_SECRET:
            self.stdout.write("STRIPE_WEBHOOK_SECRET is not set: /webhooks/stripe refuses events until it is.")
            return
        url = f"{settings.SITE_URL}/webhooks/stripe"
        endpoint_id = "we_env_" + hashlib.sha256(url.encode()).hexdigest()[:16]
        _endpoint, created = WebhookEndpoint.objects.update_or_create(
            id=endpoint_id,
            defaults={
                "url": url,
                "secret": settings.STRIPE_WEBHOOK_SECRET,
                "livemode": settings.STRIPE_LIVE_MODE,
                "enabled_events": ["*"],
                "status": "enabled",
                "api_version": "",
                "djstripe_tolerance": 300,
                "metadata": {},
            },
        )
        self.stdout.write(f"{'Added' if created else 'Updated'} the webhook endpoint {url}.")
