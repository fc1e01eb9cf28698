from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response

from .envelope import ENVELOPED, success_body


class EnvelopeLimitOffsetPagination(LimitOffsetPagination):
    """`?limit=&offset=` (default 20, max 100) answered as `{success, data, meta}`."""

    default_limit = 20
    max_limit = 100

    def get_paginated_response(self, data):
        response = Response(success_body(data, meta={"total": self.count, "limit": self.limit, "offset": self.offset}))
        setattr(response, ENVELOPED, True)
        return response

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["success", "data", "meta"],
            "properties": {
                "success": {"type": "boolean", "enum": [True]},
                "data": schema,
                "meta": {
                    "type": "object",
                    "required": ["total", "limit", "offset"],
                    "properties": {
                        "total": {"type": "integer", "example": 42},
                        "limit": {"type": "integer", "example": self.default_limit},
                        "offset": {"type": "integer", "example": 0},
                    },
                },
                "message": {"type": "string"},
            },
        }


def paginated_response(*, request, view, queryset, serializer_class, context: dict | None = None) -> Response:
    """Paginate `queryset` with `?limit=&offset=` and answer the list envelope."""
    paginator = EnvelopeLimitOffsetPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    context = {"request": request, **(context or {})}
    return paginator.get_paginated_response(serializer_class(page, many=True, context=context).data)
