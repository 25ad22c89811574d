"""The holder's own file, under /mon-espace/. No route takes an id: every page reads request.holder's file."""

from __future__ import annotations

from django.urls import path

from permis.portal.dossier import views

app_name = "dossier"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("historique/", views.history, name="history"),
    path("previsions/", views.forecast, name="forecast"),
    path("previsions.ics", views.forecast_ics, name="forecast_ics"),
    path("simulateur/", views.simulator, name="simulator"),
    path("permis-numerique/", views.digital_licence, name="digital_licence"),
]
