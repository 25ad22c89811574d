"""The accounts' pages, under /compte/ (French) and /en/compte/ (English)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy
from mozilla_django_oidc.views import OIDCAuthenticationRequestView

from permis.config.access import public

from . import views
from .oidc import CallbackView

app_name = "accounts"

reset_done = reverse_lazy("accounts:password_reset_done")

urlpatterns = [
    path("connexion/", views.login_view, name="login"),
    path("connexion/code/", views.totp_login, name="totp_login"),
    path("franceconnect/", public(OIDCAuthenticationRequestView.as_view()), name="fc_login"),
    path("franceconnect/retour/", public(CallbackView.as_view()), name="fc_callback"),
    path("franceconnect/echec/", views.franceconnect_failed, name="fc_failed"),
    path("inscription/", views.signup, name="signup"),
    path("verification/renvoyer/", views.resend, name="resend"),
    path("verification/<str:token>/", views.verify, name="verify"),
    path("", views.home, name="home"),
    path("rattachement/", views.link, name="link"),
    path("securite/", views.security, name="security"),
    path("securite/double-authentification/", views.totp_setup, name="totp_setup"),
    path("securite/double-authentification/desactiver/", views.totp_disable, name="totp_disable"),
    path(
        "securite/applications/<int:session_id>/deconnecter/",
        views.app_session_revoke,
        name="app_session_revoke",
    ),
    path("deconnexion/", views.logout_view, name="logout"),
    path("deconnexion/partout/", views.logout_everywhere, name="logout_everywhere"),
    path("deconnecte/", views.logged_out, name="logged_out"),
    path(
        "mot-de-passe/",
        public(
            views.PasswordResetView.as_view(
                template_name="accounts/password_reset_form.html",
                email_template_name="accounts/email/password_reset.txt",
                subject_template_name="accounts/email/password_reset_subject.txt",
                success_url=reset_done,
            )
        ),
        name="password_reset",
    ),
    path(
        "mot-de-passe/envoye/",
        public(auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html")),
        name="password_reset_done",
    ),
    path(
        "mot-de-passe/<uidb64>/<token>/",
        public(
            views.PasswordResetConfirmView.as_view(
                template_name="accounts/password_reset_confirm.html",
                success_url=reverse_lazy("accounts:password_reset_complete"),
            )
        ),
        name="password_reset_confirm",
    ),
    path(
        "mot-de-passe/termine/",
        public(
            auth_views.PasswordResetCompleteView.as_view(
                template_name="accounts/password_reset_complete.html"
            )
        ),
        name="password_reset_complete",
    ),
]
