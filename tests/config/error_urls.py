"""The project's URLconf with two views that fail, for the tests of the 500 page (tests/config/test_error_pages.py)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from permis.config import urls as project
from permis.config.access import public


@public
def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom")


urlpatterns = [path("boom/", boom), path("en/boom/", boom), path("api/v1/boom", boom), *project.urlpatterns]
handler403 = project.handler403
handler404 = project.handler404
handler500 = project.handler500
