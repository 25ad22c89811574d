"""The back office under /gestion/ (the agents' login and letters pages are permis.notices.agent_urls)."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "backoffice"

urlpatterns = [
    path("", views.home, name="home"),
    path("dossiers/", views.search, name="search"),
    path("dossiers/<int:pk>/", views.file, name="file"),
    path("dossiers/<int:pk>/motif/", views.purpose, name="purpose"),
    path("dossiers/<int:pk>/fermer/", views.forget_purpose, name="close"),
    path("dossiers/<int:pk>/rii.pdf", views.rii, name="rii"),
    path("dossiers/<int:pk>/enregistrer/<slug:kind>/", views.record, name="record"),
    path("dossiers/<int:pk>/evenements/<int:seq>/corriger/", views.correct, name="correct"),
    path("corrections/", views.corrections, name="corrections"),
    path("corrections/<int:pk>/", views.review, name="review"),
    path("centres/", views.centres, name="centres"),
    path("centres/<int:pk>/retrait/", views.withdraw, name="withdraw"),
    path("tableau-de-bord/", views.dashboard, name="dashboard"),
    path("integrite/", views.integrity, name="integrity"),
]
