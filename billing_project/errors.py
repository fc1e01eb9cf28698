"""Domain errors raised by services.

Services never build HTTP responses. They raise one of these, and the API exception
handler (billing_project.api.exceptions) turns it into the error envelope of API.md.
"""

from __future__ import annotations


class DomainError(Exception):
    """A business rule refused the operation. `code` is the envelope's `error.code`."""

    status_code = 400
    code = "validation_error"
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, code: str | None = None, details: dict | None = None, data=None):
        self.message = message or self.default_message
        if code:
            self.code = code
        self.details = details
        self.data = data  # extra payload some errors carry (e.g. quota_exceeded)
        super().__init__(self.message)


class ValidationFailed(DomainError):
    status_code = 400
    code = "validation_error"
    default_message = "Invalid input."

    @classmethod
    def for_field(cls, field: str, message: str) -> ValidationFailed:
        """An error about one input field, shaped like a serializer's field errors."""
        return cls(f"{field}: {message}", details={field: [message]})


class AuthenticationRequired(DomainError):
    status_code = 401
    code = "authentication_failed"
    default_message = "Authentication failed."


class PermissionDenied(DomainError):
    status_code = 403
    code = "permission_denied"
    default_message = "You do not have permission to perform this action."


class InsufficientCredits(DomainError):
    status_code = 402
    code = "insufficient_credits"
    default_message = "The credit balance is too low for this amount."


class NotFound(DomainError):
    status_code = 404
    code = "not_found"
    default_message = "Not found."


class Conflict(DomainError):
    status_code = 409
    code = "conflict"
    default_message = "The request conflicts with the current state."


class QuotaExceeded(DomainError):
    status_code = 429
    code = "quota_exceeded"
    default_message = "The plan's quota is used up for this period."


class RateLimited(DomainError):
    status_code = 429
    code = "rate_limited"
    default_message = "Too many requests. Try again later."

    def __init__(self, message: str | None = None, *, retry_after: int | None = None, **kwargs):
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"
    default_message = "The request body is too large."

    @classmethod
    def over(cls, limit: int) -> PayloadTooLarge:
        return cls(f"The request body is larger than the {limit} bytes allowed.", details={"max_bytes": limit})
