"""The site's URLs plus /bench/bare: the bare Django JSON view the portal benchmark compares the pages with.

It runs through the same middleware as every page (sessions, CSRF, locale...) but touches no database and renders
no template. Only the benchmark's server mounts it.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

from permis.config.urls import urlpatterns as site_urlpatterns


def bare(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


urlpatterns = [path("bench/bare", bare), *site_urlpatterns]
