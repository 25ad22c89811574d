from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.urls import translate_url
from django.utils.translation import get_language


def deployment(request: HttpRequest) -> dict[str, object]:
    """What every page needs to know: the service's name, whether this is the State's own deployment, and
    where this very page lives in the other languages."""
    current = get_language()
    return {
        "OFFICIAL_DEPLOYMENT": settings.OFFICIAL_DEPLOYMENT,
        "SERVICE_NAME": settings.SERVICE_NAME,
        "SERVICE_TAGLINE": settings.SERVICE_TAGLINE,
        "OTHER_LANGUAGES": [
            (code, name, translate_url(request.path, code))
            for code, name in settings.LANGUAGES
            if code != current
        ],
    }
