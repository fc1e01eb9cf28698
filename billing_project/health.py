"""Liveness, readiness and a detailed health report for operators and load balancers."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from billing_project.api.responses import ok
from billing_project.api.schema import error_response, message_response
from billing_project.errors import DomainError

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
    from payments.gateways import gateway_names, get_gateway

    statuses = {}
    for name in gateway_names():
        try:
            get_gateway(name)
            statuses[name] = "configured"
        except Exception:  # noqa: BLE001 - a gateway without keys
            statuses[name] = "not configured"
    return statuses


class HealthView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]


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
    @extend_schema(
        tags=["health"],
        summary="Detailed health",
        description="Database, Redis, cache backend, Celery mode and uptime. 503 when the database is down.",
        responses={200: HealthDetailSerializer, 503: HealthDetailSerializer},
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
        return ok(data, status=200 if database == "ok" else 503)
