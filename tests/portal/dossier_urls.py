"""The site's URLs, plus stand-ins for the accounts' login and linking pages while that app has no URLs of its own.

@holder_required sends visitors to ``accounts:login`` and ``accounts:link``; the dossier tests only need those
names to reverse.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import NoReverseMatch, include, path, reverse

from permis.config.urls import urlpatterns as site_urlpatterns


def _stand_in(request):  # pragma: no cover - only its URL matters
    return HttpResponse("stand-in")


def _has_accounts() -> bool:
    try:
        reverse("accounts:login", urlconf="permis.config.urls")
        reverse("accounts:link", urlconf="permis.config.urls")
    except NoReverseMatch:
        return False
    return True


urlpatterns = list(site_urlpatterns)
if not _has_accounts():
    urlpatterns.append(
        path(
            "compte/",
            include(
                (
                    [path("connexion/", _stand_in, name="login"), path("lier/", _stand_in, name="link")],
                    "accounts",
                )
            ),
        )
    )
