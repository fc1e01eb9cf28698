from rest_framework.permissions import BasePermission

from billing_project.errors import PermissionDenied


def requires_scope(scope: str) -> type[BasePermission]:
    """Lets a service request through only when its API key has `scope` (else 403)."""

    class HasScope(BasePermission):
        required_scope = scope

        def has_permission(self, request, view) -> bool:
            principal = request.auth
            if principal is None or not hasattr(principal, "has_scope"):
                return False
            if not principal.has_scope(scope):
                raise PermissionDenied(f"This API key lacks the '{scope}' scope.")
            return True

    HasScope.__name__ = f"HasScope_{scope.replace(':', '_')}"
    return HasScope
