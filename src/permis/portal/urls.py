from __future__ import annotations

from django.urls import path
from django.views.generic import RedirectView

from permis.config.access import public
from permis.portal import views

app_name = "portal"

urlpatterns = [
    path("", public(RedirectView.as_view(pattern_name="portal:simulator", permanent=False)), name="home"),
    path("simulateur/", views.simulator, name="simulator"),
]
