"""The back office under /gestion/ (the agents' login and letters pages are permis.notices.agent_urls)."""

from __future__ import annotations

from django.urls import path

from . import holder_request_views, journal, views

app_name = "backoffice"

urlpatterns = [
    path("", views.home, name="home"),
    path("dossiers/", views.search, name="search"),
    path("dossiers/<int:pk>/", views.file, name="file"),
    path("dossiers/<int:pk>/motif/", views.purpose, name="purpose"),
    path("dossiers/<int:pk>/fermer/", views.forget_purpose, name="close"),
    path("dossiers/<int:pk>/rii.pdf", views.rii, name="rii"),
    path("dossiers/<int:pk>/attestation.pdf", views.attestation, name="attestation"),
    path("dossiers/<int:pk>/lettre.pdf", views.letter, name="letter"),  # ?lettre=<notice id>
    # One address per form (no free path segment: every route is walked by the access tests).
    *[
        path(f"dossiers/<int:pk>/enregistrer/{kind}/", views.record, {"kind": kind}, name="record")
        for kind in views.RECORD_FORMS
    ],
    path("dossiers/<int:pk>/corriger/", views.correct, name="correct"),  # ?evenement=<seq>
    path("corrections/", views.corrections, name="corrections"),
    path("corrections/<int:pk>/", views.review, name="review"),
    path("corrections/demandes/<int:pk>/", holder_request_views.holder_request, name="holder_request"),
    path("centres/", views.centres, name="centres"),
    path("centres/<int:pk>/retrait/", views.withdraw, name="withdraw"),
    path("tableau-de-bord/", views.dashboard, name="dashboard"),
    path("integrite/", views.integrity, name="integrity"),
    path("journal/", journal.journal, name="journal"),
]
