from rest_framework.renderers import JSONRenderer

from .envelope import ENVELOPED, success_body


class EnvelopeJSONRenderer(JSONRenderer):
    """Wraps every successful DRF response in `{"success": true, "data": ...}`.

    Error responses and paginated lists are built as full envelopes by the exception
    handler and the paginator; they carry the ENVELOPED mark and pass through as is.
    """

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None and response.status_code == 204:
            return b""
        if response is not None and not getattr(response, ENVELOPED, False):
            message = getattr(response, "envelope_message", None)
            data = success_body(data, message=message)
        return super().render(data, accepted_media_type, renderer_context)
