from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"
    verbose_name = "Usage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Connects the receiver that drops cached billing contexts (subscriptions' signal).
        from . import context  # noqa: F401
