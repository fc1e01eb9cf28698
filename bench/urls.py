"""The project's URLs plus the benchmark baseline: a bare Django view returning constant
JSON, served by the same gunicorn with the same settings and middleware."""

from django.http import JsonResponse
from django.urls import path

from billing_project.urls import urlpatterns as project_urlpatterns


def bare(request):
    return JsonResponse({"success": True, "data": "OK"})


urlpatterns = [path("bench/bare", bare), *project_urlpatterns]
