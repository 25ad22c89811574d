from __future__ import annotations

from django.urls import path

from permis.notices import verifier_views

app_name = "verifier"

urlpatterns = [
    path("verifier/", verifier_views.verify, name="verify"),
]
