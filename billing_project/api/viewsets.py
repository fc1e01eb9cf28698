"""The base of the API's viewsets (the resource endpoints; the service hot paths use
billing_project.api.lean instead)."""

from __future__ import annotations

from rest_framework.metadata import SimpleMetadata
from rest_framework.viewsets import GenericViewSet


class ViewMetadata(SimpleMetadata):
    """OPTIONS names the view, and the media types it renders and parses, as for a plain
    APIView: no `actions` listing a serializer's fields. A viewset's serializer_class is
    what its list renders, not what its actions read (the OpenAPI schema documents the
    bodies), and an action without one must not make OPTIONS a 500."""

    def determine_actions(self, request, view):
        return {}


# No docstring: drf-spectacular would show it as the description of operations that have
# none of their own.
class ResourceViewSet(GenericViewSet):
    metadata_class = ViewMetadata
