from django.apps import AppConfig


class BillingConfig(AppConfig):
    """The use cases that span apps: each function one action, owning its transaction
    (docs/architecture.md). It has no models of its own."""

    name = "billing"
    verbose_name = "Billing"
    default_auto_field = "django.db.models.BigAutoField"
