from django.conf import settings


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or the address the NUM_PROXIES-th trusted proxy
    saw, read from the right of X-Forwarded-For (entries further left are client-supplied)."""
    if settings.NUM_PROXIES:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= settings.NUM_PROXIES:
            return forwarded[-settings.NUM_PROXIES]
    return request.META.get("REMOTE_ADDR", "")
