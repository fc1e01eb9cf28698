from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from .stripe_events import connect_signals

        connect_signals()  # Stripe's events reach this project through dj-stripe's signals
