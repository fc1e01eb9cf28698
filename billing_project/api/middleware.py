import logging

from django.conf import settings
from django.http import JsonResponse

from .envelope import error_body, error_json_response
from .exceptions import request_refusal

logger = logging.getLogger("django.request")

API_PREFIX = "/api/"


class ApiErrorEnvelopeMiddleware:
    """Keeps the API's error envelope for what happens outside DRF views.

    Django answers unknown URLs (404), CSRF failures (403) and crashes (500) with HTML
    pages, in DEBUG with tracebacks. Under /api/ those become JSON envelopes with no
    internals in them.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        is_api = request.path.startswith(API_PREFIX)
        if is_api:
            # As sent: path, then `?` and the query string. WSGI hands both over as latin-1
            # text, one character per byte.
            query = request.META.get("QUERY_STRING", "")
            length = len(request.META.get("PATH_INFO", "")) + (len(query) + 1 if query else 0)
            if length > settings.MAX_URL_BYTES:
                return error_json_response(
                    414, f"The URL is longer than the {settings.MAX_URL_BYTES} bytes allowed.", "uri_too_long"
                )
        response = self.get_response(request)
        if (
            is_api
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
            and not getattr(response, "streaming", False)
        ):
            return error_json_response(response.status_code)
        return response

    def process_exception(self, request, exception):
        if not request.path.startswith(API_PREFIX):
            return None
        refusal = request_refusal(exception)
        if refusal is not None:
            return JsonResponse(error_body(refusal.code, refusal.message, refusal.details), status=refusal.status_code)
        logger.exception("Unhandled error on %s %s", request.method, request.path, exc_info=exception)
        return error_json_response(500)
