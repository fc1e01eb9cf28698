"""System checks for the payment gateways: a server must not start with a default gateway
it cannot take payments through, nor quietly keep the click-to-pay sandbox in production."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register()
def default_gateway_check(app_configs=None, **kwargs) -> list[Error]:
    from .gateways import gateway_names

    errors = []
    default = settings.DEFAULT_GATEWAY
    if default not in gateway_names():
        errors.append(
            Error(
                f"DEFAULT_GATEWAY is '{default}', which is not a payment gateway.",
                hint=f"Set DEFAULT_GATEWAY to one of: {', '.join(gateway_names())}.",
                id="payments.E002",
            )
        )
    elif default == "sandbox" and not settings.SANDBOX_GATEWAY_ENABLED:
        errors.append(
            Error(
                "DEFAULT_GATEWAY is 'sandbox', but the sandbox gateway is disabled (SANDBOX_GATEWAY_ENABLED off).",
                hint=(
                    "Set DEFAULT_GATEWAY to a real gateway (stripe, xendit, midtrans) with its keys. Only for local "
                    "development, turn the sandbox on with SANDBOX_GATEWAY_ENABLED=true: it marks payments paid at a "
                    "click."
                ),
                id="payments.E001",
            )
        )
    local = settings.INDONESIA_DEFAULT_GATEWAY
    if local and local not in gateway_names():
        errors.append(
            Error(
                f"INDONESIA_DEFAULT_GATEWAY is '{local}', which is not a payment gateway.",
                hint=f"Set it to one of: {', '.join(gateway_names())}.",
                id="payments.E003",
            )
        )
    return errors


@register(Tags.security, deploy=True)
def sandbox_in_production_check(app_configs=None, **kwargs) -> list[Warning]:
    if settings.SANDBOX_GATEWAY_ENABLED and not settings.DEBUG:
        return [
            Warning(
                "The sandbox gateway is enabled with DEBUG off: anyone can mark a sandbox payment paid at a click.",
                hint="Unset SANDBOX_GATEWAY_ENABLED (it defaults to DEBUG) on any server that takes real payments.",
                id="payments.W001",
            )
        ]
    return []
