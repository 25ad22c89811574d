"""The agents' pages about letters, under /gestion/ (the back office's prefix)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from permis.config.access import public
from permis.notices import agent_views

app_name = "agent"

urlpatterns = [
    path(
        "connexion/",
        public(
            agent_views.AgentLoginView.as_view(
                template_name="notices/agent/login.html",
                redirect_authenticated_user=True,
                next_page=reverse_lazy("agent:notices"),
            )
        ),
        name="login",
    ),
    path(
        "deconnexion/",
        public(auth_views.LogoutView.as_view(next_page=reverse_lazy("agent:login"))),
        name="logout",
    ),
    path("notifications/", agent_views.notices, name="notices"),
    path("notifications/envois/<int:pk>/relancer/", agent_views.retry, name="retry"),
]
