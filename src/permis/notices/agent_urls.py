"""The agents' sign-in (``permis.backoffice.sign_in``: a password, then a second factor) and their pages about
letters, under /gestion/ (the back office's prefix)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from permis.backoffice import sign_in
from permis.config.access import public
from permis.notices import agent_views

app_name = "agent"

urlpatterns = [
    path(
        "connexion/",
        public(
            sign_in.AgentLoginView.as_view(
                template_name="notices/agent/login.html",
                redirect_authenticated_user=True,
                next_page=reverse_lazy("backoffice:home"),  # each role its own first page
            )
        ),
        name="login",
    ),
    path("connexion/code/", sign_in.code, name="login_code"),
    path("connexion/double-authentification/", sign_in.enrol, name="login_enrol"),
    path(
        "deconnexion/",
        public(auth_views.LogoutView.as_view(next_page=reverse_lazy("agent:login"))),
        name="logout",
    ),
    path("notifications/", agent_views.notices, name="notices"),
    path("notifications/envois/<int:pk>/relancer/", agent_views.retry, name="retry"),
]
