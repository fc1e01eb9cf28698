"""The interface every payment gateway implements.

A gateway collects money; this project decides what is owed. A gateway is a leaf: it
talks to its provider and answers with data (a ChargeResult, a RefundResult, a
HostedSession, a GatewayEvent), and never writes a row or calls into the domain. State
changes (a payment succeeded, failed, was refunded) are normalized events. An outcome the
gateway knows at once comes back as the `event` of its result, and the use case in
`billing` applies it under its locks (billing.services.gateway_event_apply). One that
comes later arrives as a webhook: `webhooks` verifies it with the gateway (`verify_event`),
stores it once and hands the normalized event to the same gateway_event_apply.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum

from billing_project.errors import DomainError
from billing_project.money import format_money


class GatewayError(DomainError):
    """The gateway could not be reached or refused the request: 502 for the client."""

    status_code = 502
    code = "gateway_error"
    default_message = "The payment gateway did not complete the request. Try again later."


class InvalidSignature(DomainError):
    status_code = 400
    code = "invalid_signature"
    default_message = "The webhook signature is missing or invalid."


class AmountMismatch(DomainError):
    """A verified event says a payment succeeded for another amount than was asked."""

    status_code = 400
    code = "amount_mismatch"
    default_message = "The event's amount or currency does not match the payment."


class EventType(StrEnum):
    """The normalized event types every gateway's events are turned into. The values are
    stored (InboundEvent.event_type, sandbox payloads): they never change."""

    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_PENDING = "payment.pending"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    # The gateway reports the refunds of a payment (made through this project or on the
    # gateway's dashboard): `refunds` lists them, `refunded_total` is the cumulative amount.
    REFUNDS_REPORTED = "refunds.reported"
    DISPUTE_OPENED = "dispute.opened"
    DISPUTE_CLOSED = "dispute.closed"
    PAYMENT_METHOD_ATTACHED = "payment_method.attached"
    PAYMENT_METHOD_DETACHED = "payment_method.detached"


# The former module-level name, still imported by the billing cycle's concurrency test
# (test_cycle_concurrency_pg.py); new code uses EventType.
PAYMENT_SUCCEEDED = EventType.PAYMENT_SUCCEEDED


@dataclass(frozen=True)
class GatewayEvent:
    """A verified event from a gateway, in this project's terms. Each field means one
    thing; the ones an event type does not use stay empty."""

    event_id: str
    type: EventType | str  # an EventType, or the gateway's own name of an event nothing applies
    payment_reference: str = ""  # the gateway's id of the payment (Payment.reference)
    payment_id: str = ""  # this project's Payment id, when the gateway echoes it (metadata)
    refund_reference: str = ""  # the gateway's id of a refund (Refund.reference)
    dispute_reference: str = ""  # the gateway's id of a dispute (Dispute.reference)
    customer_reference: str = ""  # the gateway's customer a payment method belongs (or belonged) to
    amount_cents: int | None = None
    currency: str = ""
    payment_method: str = ""
    failure_reason: str = ""  # why a payment or a refund failed
    dispute_reason: str = ""  # why the customer disputes the payment
    raw: dict = field(default_factory=dict)
    refunds: tuple[ReportedRefund, ...] = ()
    refunded_total: int | None = None


@dataclass(frozen=True)
class ReportedRefund:
    reference: str  # the gateway's id of the refund
    amount_cents: int
    refund_id: str = ""  # this project's Refund id, when the gateway echoes it
    reason: str = ""


@dataclass(frozen=True)
class HostedSession:
    reference: str
    url: str


class ChargeStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PENDING = "pending"  # the outcome arrives later, as a webhook


@dataclass(frozen=True)
class ChargeResult:
    """What a gateway answered to an off-session charge. The caller saves `reference` on
    the payment and applies `event`, the normalized event of an outcome known at once (None
    while it is pending)."""

    reference: str  # the gateway's id of the payment
    status: ChargeStatus
    failure_reason: str = ""
    payment_method: str = ""
    event: GatewayEvent | None = None


class RefundResultStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    MANUAL = "manual"  # the gateway cannot refund it: staff return the money outside it


@dataclass(frozen=True)
class RefundResult:
    """What a gateway answered to a refund. The caller saves `reference` on the refund (when
    there is one), applies `event` when the outcome is known at once as an event (the
    sandbox's), and settles the refund by `status` otherwise."""

    reference: str  # the gateway's id of the refund ("" when it made none)
    status: RefundResultStatus
    failure_reason: str = ""
    event: GatewayEvent | None = None


@dataclass(frozen=True)
class StoredPaymentMethod:
    """A payment method the gateway keeps for the organization's customer (a card)."""

    id: str  # the gateway's id, what renewals charge (Subscription.payment_method)
    brand: str  # "visa", "mastercard"; for the sandbox, what its test card does
    last4: str = ""
    exp_month: int | None = None
    exp_year: int | None = None

    @property
    def expires(self) -> str:
        return f"{self.exp_month:02d}/{self.exp_year}" if self.exp_month and self.exp_year else ""


def in_app_portal_url(*, organization, return_url: str) -> str:
    """The billing portal page of this app, behind an hour-long signed link: for gateways
    without a portal of their own."""
    from urllib.parse import urlencode

    from django.conf import settings
    from django.core.signing import TimestampSigner
    from django.urls import reverse

    token = TimestampSigner(salt="billing-portal").sign(str(organization.pk))
    url = settings.SITE_URL + reverse("billing-portal-page", args=[token])
    if return_url:
        url += "?" + urlencode({"return_url": return_url})
    return url


class Gateway(ABC):
    name: str = ""
    currencies: frozenset[str] | None = None  # None: any
    # False: the gateway keeps no payment method to charge later, so renewals and dunning
    # send a new pay link instead of charging (Xendit, Midtrans).
    saves_payment_methods: bool = True

    @abstractmethod
    def is_configured(self) -> bool:
        """Whether this deployment may take payments through the gateway (its keys are set,
        or, for the sandbox, it is switched on). A gateway that is not is refused everywhere:
        choosing it, its pages and its webhooks."""

    def serves_country(self, country: str) -> bool:
        """Whether an organization in `country` (ISO 3166 alpha-2) may pay through it."""
        return True

    def supports_currency(self, currency: str) -> bool:
        """Whether the gateway can charge `currency` (its `currencies`; a plan in another
        one is refused while it is DEFAULT_GATEWAY, a checkout through it always)."""
        return self.currencies is None or currency.upper() in self.currencies

    @abstractmethod
    def create_checkout(self, *, payment, success_url: str, cancel_url: str, description: str) -> HostedSession:
        """A hosted page where the customer pays `payment` (and the method is saved)."""

    @abstractmethod
    def charge(self, *, payment, payment_method: str) -> ChargeResult:
        """Charge a saved payment method off-session. Writes nothing: the caller saves the
        reference and applies the result's event; an outcome not known at once arrives
        later as a webhook."""

    @abstractmethod
    def pay_link(self, *, payment, description: str) -> HostedSession:
        """A link where the customer pays one invoice."""

    @abstractmethod
    def portal_url(self, *, organization, return_url: str) -> str:
        """Where the customer manages payment methods and sees invoices."""

    @abstractmethod
    def refund(self, *, payment, refund) -> RefundResult:
        """Return money of a succeeded payment (`refund`: the pending Refund row, whose id
        is the idempotency key). Writes nothing: the caller records the result."""

    @abstractmethod
    def verify_event(self, *, body: bytes, headers) -> GatewayEvent:
        """Check an inbound webhook's authenticity and normalize it (InvalidSignature)."""

    @abstractmethod
    def event_from_payload(self, payload: dict) -> GatewayEvent:
        """Normalize a stored (already verified) event's payload, for a reprocess."""

    def validate_payment_method(self, payment_method: str) -> bool:
        return bool(payment_method)

    def expire_link(self, *, payment) -> None:
        """Close a hosted page nobody should pay any more (a newer link was sent, or the
        invoice was paid). Best effort: a page that cannot be closed is left to expire.
        By default pages are left to expire on their own."""
        return None

    def customer_organization_id(self, *, customer_reference: str) -> str | None:
        """The organization whose customer at the gateway `customer_reference` is (None:
        unknown, or a gateway without customers)."""
        return None

    def set_default_payment_method(self, *, organization, payment_method: str) -> str:
        """Make `payment_method` the organization's default at the gateway (where it keeps
        one); returns the id renewals should charge."""
        return payment_method

    def payment_methods(self, *, organization, charged: str = "") -> list[StoredPaymentMethod]:
        """The payment methods the gateway keeps for the organization's customer. `charged`
        is the one this project charges (its subscription's): a gateway that keeps no wallet
        of its own (the sandbox) holds just that one."""
        return []

    def payment_method_setup(self, *, organization, success_url: str, cancel_url: str) -> HostedSession:
        """A hosted page where the customer adds a payment method (saved, nothing charged)."""
        raise GatewayError(f"The {self.name} gateway keeps no payment methods.")

    def payment_method_detach(self, *, organization, payment_method: str) -> None:
        """Forget one of `payment_methods` at the gateway (renewals no longer charge it)."""
        return None


class PayLinkGateway(Gateway):
    """A gateway that keeps no payment method (Xendit, Midtrans): checkouts, renewals and
    dunning are all pay links, and the billing portal is this app's."""

    saves_payment_methods = False
    label = ""

    def charge(self, *, payment, payment_method: str) -> ChargeResult:
        raise GatewayError(f"{self.label} keeps no payment method to charge; invoices are paid by link.")

    def validate_payment_method(self, payment_method: str) -> bool:
        return False  # nothing to save

    def portal_url(self, *, organization, return_url: str) -> str:
        return in_app_portal_url(organization=organization, return_url=return_url)

    def payment_method_setup(self, *, organization, success_url: str, cancel_url: str) -> HostedSession:
        raise GatewayError(f"{self.label} keeps no payment method: each invoice is paid through its payment link.")

    def manual_refund(self, payment, refund, why: str, *, reference: str = "") -> RefundResult:
        """A refund the gateway cannot make: staff return this refund's amount by hand."""
        amount = format_money(refund.amount_cents, payment.currency)
        return RefundResult(
            reference=reference,
            status=RefundResultStatus.MANUAL,
            failure_reason=(
                f"{why} Return {amount} to the customer outside {self.label} (e.g. by bank transfer); "
                "it is recorded here as a manual refund."
            ),
        )
