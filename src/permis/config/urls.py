from __future__ import annotations

from django.conf.urls.i18n import i18n_patterns
from django.urls import include, path

from permis.api.v1 import not_found as api_not_found
from permis.api.v1 import urls as api_v1_urls
from permis.config.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", api_v1_urls()),
    path("api/v1/<path:rest>", api_not_found),
]

# French pages at /simulateur/, English ones at /en/simulateur/.
urlpatterns += i18n_patterns(
    path("", include("permis.portal.urls")),
    path("", include("permis.notices.urls_public")),
    path("gestion/", include("permis.notices.agent_urls")),
    path("gestion/", include("permis.backoffice.urls")),
    path("compte/", include("permis.accounts.urls")),
    path("mon-espace/", include("permis.portal.dossier.urls")),
    path("mon-espace/", include("permis.portal.demarches.urls")),
    prefix_default_language=False,
)

# The pages of an error in the site's layout and language (JSON under /api/): permis.config.errors.
handler403 = "permis.config.errors.permission_denied"
handler404 = "permis.config.errors.page_not_found"
handler500 = "permis.config.errors.server_error"
