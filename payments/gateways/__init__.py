"""Payment gateways behind one interface. `get_gateway(name)` returns the configured one."""

from __future__ import annotations

from django.conf import settings

from billing_project.errors import ValidationFailed

from .base import Gateway, GatewayError

_REGISTRY: dict[str, type[Gateway]] = {}


def register(cls: type[Gateway]) -> type[Gateway]:
    _REGISTRY[cls.name] = cls
    return cls


def _registry() -> dict[str, type[Gateway]]:
    from . import midtrans, sandbox, stripe_gateway, xendit  # noqa: F401 - register themselves

    return _REGISTRY


def get_gateway(name: str | None = None) -> Gateway:
    """The gateway called `name` (default: DEFAULT_GATEWAY); a 400 when it is unknown or
    not configured."""
    name = name or settings.DEFAULT_GATEWAY
    cls = _registry().get(name)
    if cls is None:
        raise ValidationFailed.for_field("gateway", f"Unknown payment gateway '{name}'.")
    gateway = cls()
    if not gateway.is_configured():
        raise ValidationFailed.for_field("gateway", f"The {name} gateway is not configured on this server.")
    return gateway


def gateway_enabled(name: str) -> bool:
    """Whether `name` is a gateway this server takes payments and events through."""
    cls = _registry().get(name)
    return cls is not None and cls().is_configured()


def saves_payment_methods(name: str) -> bool:
    """Whether the gateway keeps a payment method renewals can charge (configured or not)."""
    cls = _registry().get(name)
    return cls is None or cls.saves_payment_methods


def charges_currency(name: str, currency: str) -> bool:
    """Whether the gateway `name` can charge `currency` (configured here or not; an unknown
    gateway charges nothing)."""
    cls = _registry().get(name)
    return cls is not None and cls().supports_currency(currency)


def gateway_names() -> list[str]:
    return sorted(_registry())


__all__ = ["Gateway", "GatewayError", "charges_currency", "gateway_enabled", "gateway_names", "get_gateway", "register"]
