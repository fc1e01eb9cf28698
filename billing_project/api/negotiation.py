"""Content negotiation for the endpoints whose answer is not (only) the JSON envelope.

DRF picks a renderer from the Accept header among the view's renderers, which are JSON
only: a client asking for the PDF an endpoint returns (`Accept: application/pdf`) gets
406. Here the successful answer is the view's own file response, and errors are always
the JSON envelope, whatever the client accepts.
"""

from __future__ import annotations

from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.utils.mediatypes import _MediaType


def _accepts(header: str, media_type: str) -> bool:
    """Whether an Accept header admits `media_type`: the most specific range that matches
    it (`type/subtype` over `type/*` over `*/*`) has a non-zero q. No header, or an empty
    one, admits anything."""
    if not header.strip():
        return True
    wanted = _MediaType(media_type)
    best: tuple[int, float] | None = None
    for item in header.split(","):
        if not item.strip():
            continue
        offered = _MediaType(item.strip())
        if not offered.match(wanted):
            continue
        try:
            quality = float(offered.params.get("q", "1"))
        except ValueError:
            quality = 1.0
        specificity = (offered.main_type != "*") + (offered.sub_type != "*")
        if best is None or specificity > best[0]:
            best = (specificity, quality)
    return best is not None and best[1] > 0


class FileContentNegotiation(DefaultContentNegotiation):
    """For a view that answers a file of `media_type`: 406 when the Accept header rules
    that type out. The renderer chosen is the JSON one, for the errors (DRF renders the
    406 itself with the first renderer too)."""

    media_type = "application/octet-stream"

    def select_renderer(self, request, renderers, format_suffix=None):
        if not _accepts(request.META.get("HTTP_ACCEPT", ""), self.media_type):
            raise NotAcceptable(f"This endpoint answers {self.media_type}.")
        return renderers[0], renderers[0].media_type


class PDFContentNegotiation(FileContentNegotiation):
    media_type = "application/pdf"


class JSONOnlyContentNegotiation(DefaultContentNegotiation):
    """Always the JSON envelope, whatever the Accept header says (health checks: probes
    and load balancers send all sorts, and only the status code matters to them)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
