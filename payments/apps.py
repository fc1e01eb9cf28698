from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.conf import settings
        from django.core.exceptions import ValidationError

        # Apps' modules load once the registry is ready, so AppConfig.ready imports them here.
        from plans.hooks import register_currency_validator

        from . import checks  # noqa: F401 - registers the system checks
        from .gateways import charges_currency

        def default_gateway_charges(currency: str) -> None:
            """A plan is priced only in a currency the default gateway can charge."""
            if not charges_currency(settings.DEFAULT_GATEWAY, currency):
                raise ValidationError(
                    f"The default payment gateway ({settings.DEFAULT_GATEWAY}) cannot charge "
                    f"{currency.upper()}; choose a currency it takes."
                )

        register_currency_validator("payments.default_gateway", default_gateway_charges)
