from rest_framework import status as http_status
from rest_framework.response import Response


def ok(data=None, *, message: str | None = None, status: int = http_status.HTTP_200_OK, headers=None) -> Response:
    """A success response; the renderer wraps `data` in the envelope and adds `message`."""
    response = Response(data, status=status, headers=headers)
    if message:
        response.envelope_message = message
    return response


def created(data=None, *, message: str | None = None, headers=None) -> Response:
    return ok(data, message=message, status=http_status.HTTP_201_CREATED, headers=headers)
