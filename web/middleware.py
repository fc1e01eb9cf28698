"""Dates on the pages are shown in the viewer's time zone: the `tz` cookie that
static/web/site.js sets from the browser (Intl), else UTC. Every date also carries its
UTC time in a tooltip ({% when %}), so a page read without JavaScript is still exact."""

from __future__ import annotations

import zoneinfo

from django.utils import timezone

COOKIE = "tz"


def viewer_zone(request) -> zoneinfo.ZoneInfo | None:
    name = request.COOKIES.get(COOKIE, "")
    if not name or len(name) > 64 or name not in zoneinfo.available_timezones():
        return None
    return zoneinfo.ZoneInfo(name)


class ViewerTimezoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith("/api/"):
            return self.get_response(request)  # the API answers in UTC, whatever the cookie
        zone = viewer_zone(request)
        if zone is None:
            return self.get_response(request)
        with timezone.override(zone):
            return self.get_response(request)
