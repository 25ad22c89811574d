"""The holder's errands, under /mon-espace/ (the personal space shared with the file's pages, "dossier")."""

from __future__ import annotations

from django.urls import path

from . import correction_requests, views

app_name = "demarches"

urlpatterns = [
    path("courriers/", views.notices, name="notices"),
    path("courriers/<int:notice_id>/", views.notice, name="notice"),
    path("courriers/<int:notice_id>/lettre.pdf", views.notice_pdf, name="notice_pdf"),
    path("notifications/", views.preferences_view, name="preferences"),
    path("notifications/confirmer/<str:token>/", views.preferences_confirm, name="preferences_confirm"),
    path("documents/", views.documents, name="documents"),
    path(
        "documents/<int:licence_id>/attestation.pdf",
        views.document_pdf,
        {"kind": "attestation"},
        name="attestation_pdf",
    ),
    path(
        "documents/<int:licence_id>/releve-integral.pdf", views.document_pdf, {"kind": "rii"}, name="rii_pdf"
    ),
]

urlpatterns += [
    path("stages/", views.courses, name="courses"),
    path("partage/", views.share, name="share"),
    path("partage/<int:share_id>/revoquer/", views.share_revoke, name="share_revoke"),
    path("consultations/", views.access_log, name="access_log"),
    path("corrections/", correction_requests.corrections, name="corrections"),
    path("corrections/<int:request_id>/", correction_requests.correction, name="correction"),
]
