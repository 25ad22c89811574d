from __future__ import annotations

from django.conf.urls.i18n import i18n_patterns
from django.urls import include, path

from permis.config.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
]

# French pages at /simulateur/, English ones at /en/simulateur/.
urlpatterns += i18n_patterns(
    path("", include("permis.portal.urls")),
    prefix_default_language=False,
)
