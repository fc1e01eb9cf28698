from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"
    verbose_name = "Subscriptions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # What plans asks of subscriptions (plans.hooks): plans sits below and imports none of it.
        from plans import hooks

        from .selectors import entitled_subscription, plans_with_live_subscription_counts

        hooks.register_entitled_subscription(entitled_subscription)
        hooks.register_live_subscription_counts(plans_with_live_subscription_counts)
