"""Liveness, readiness and a detailed health report for operators and load balancers.

/health, /live and /ready are public: they say only whether this process can serve.
/health/detailed and /metrics describe the deployment (services, gateways, traffic), so
they answer operators only (`ops_request_allowed`) and 404 to everyone else: a 404 does
not confirm to a scanner that the endpoint exists, and an operator knows it does.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from functools import lru_cache, wraps

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.views import APIView

from billing_project.api.envelope import error_json_response
from billing_project.api.negotiation import JSONOnlyContentNegotiation
from billing_project.api.request import client_ip
from billing_project.api.responses import ok
from billing_project.api.schema import error_response, message_response
from billing_project.errors import DomainError, NotFound
from payments.gateways import gateway_names, get_gateway

STARTED_AT = time.monotonic()


class ServiceUnavailable(DomainError):
    status_code = 503
    code = "service_unavailable"
    default_message = "Service unavailable."


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return False


def redis_status() -> str:
    if not settings.REDIS_URL:
        return "not configured"
    try:
        cache._cache.get_client(write=True).ping()  # the Redis cache backend's client
        return "ok"
    except Exception:  # noqa: BLE001
        return "unavailable"


def celery_status() -> dict:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"mode": "eager"}
    from billing_project.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=1)
        broker = "ok"
    except Exception:  # noqa: BLE001
        broker = "unavailable"
    return {"mode": "workers", "broker": broker}


def gateway_statuses() -> dict:
    """Which payment gateways this server can use (keys present), without calling them."""

    statuses = {}
    for name in gateway_names():
        try:
            get_gateway(name)
            statuses[name] = "configured"
        except Exception:  # noqa: BLE001 - a gateway without keys
            statuses[name] = "not configured"
    return statuses


@lru_cache(maxsize=8)
def _ops_networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(f"OPS_ALLOWED_NETWORKS: {exc}") from None


def ops_request_allowed(request) -> bool:
    """Whether a (Django) request may read the operations endpoints: the OPS_TOKEN bearer
    token, a signed-in active staff user, or a client address in OPS_ALLOWED_NETWORKS."""
    token = settings.OPS_TOKEN
    scheme, _, presented = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode()):
        return True
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_active and user.is_staff:
        return True
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in _ops_networks(tuple(settings.OPS_ALLOWED_NETWORKS)))


def ops_only(view):
    """A plain Django view (the Prometheus exporter) for operators only; 404 otherwise."""

    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not ops_request_allowed(request):
            return error_json_response(404)
        return view(request, *args, **kwargs)

    return never_cache(guarded)


class IsOperator(BasePermission):
    def has_permission(self, request, view) -> bool:
        if ops_request_allowed(request._request):
            return True
        raise NotFound()


class HealthView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    # Probes send any Accept header; the answer is always the JSON envelope.
    content_negotiation_class = JSONOnlyContentNegotiation


class HealthDetailSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded"])
    database = serializers.CharField()
    redis = serializers.CharField()
    cache = serializers.CharField()
    celery = serializers.DictField()
    gateways = serializers.DictField(child=serializers.CharField(), help_text="Gateway -> configured or not.")
    uptime = serializers.IntegerField(help_text="Seconds since this process started.")


class LiveView(HealthView):
    @extend_schema(tags=["health"], summary="The process answers", responses={200: message_response("OK")}, auth=[])
    def get(self, request):
        return ok("OK")


class HealthCheckView(LiveView):
    @extend_schema(tags=["health"], summary="Health", responses={200: message_response("OK")}, auth=[])
    def get(self, request):
        return ok("OK")


class ReadyView(HealthView):
    @extend_schema(
        tags=["health"],
        summary="Ready to serve traffic",
        description="503 when the database cannot be reached.",
        responses={200: message_response("OK"), 503: error_response("The database is unreachable.")},
        auth=[],
    )
    def get(self, request):
        if not database_ok():
            raise ServiceUnavailable("The database is unreachable.")
        return ok("OK")


class HealthDetailView(HealthView):
    # The admin's session is how a staff user is recognised here (no CSRF on a GET).
    authentication_classes = [SessionAuthentication]
    permission_classes = [IsOperator]

    @extend_schema(
        tags=["health"],
        summary="Detailed health (operators)",
        description=(
            "Database, Redis, cache backend, Celery mode and uptime. 503 when the database is down. "
            "Operators only: `Authorization: Bearer <OPS_TOKEN>`, a client address in "
            "OPS_ALLOWED_NETWORKS (loopback by default) or a signed-in staff user; 404 to anyone else."
        ),
        responses={
            200: HealthDetailSerializer,
            503: HealthDetailSerializer,
            404: error_response("Not an operator (the endpoint does not reveal itself)."),
        },
        auth=[],
    )
    def get(self, request):
        database = "ok" if database_ok() else "unavailable"
        data = {
            "status": "ok" if database == "ok" else "degraded",
            "database": database,
            "redis": redis_status(),
            "cache": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
            "celery": celery_status(),
            "gateways": gateway_statuses(),
            "uptime": int(time.monotonic() - STARTED_AT),
        }
        response = ok(data, status=200 if database == "ok" else 503)
        response["Cache-Control"] = "no-store"
        return response
