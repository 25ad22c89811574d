"""The answers of an error outside a view's own: 403, 404 and 500 (``handler403``... in permis.config.urls).

A page of the site says, in the site's layout and language (French, English under /en/), what happened and
where to go next: back to the space the person came from. The reason of a refusal is shown only when it is one
of the known ones below, in French: the message a view gives ``PermissionDenied`` is for the logs and may name
internals. Under /api/ the answer stays the API's JSON ``{"error": "..."}`` (docs/api.md), never a page.

The 500 page (templates/500.html) is rendered by Django's ``server_error``, without a request or context
processors: it needs neither the database nor anything the failure could have broken.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.views import defaults

API_PREFIX = "/api/"

# The refusals of the agents' pages (permis.backoffice.access and views, permis.notices.agent_views), by the
# message they are raised with. A refusal not listed here shows no reason (its message may name internals).
DENIALS: dict[str, Promise] = {
    "this file is not one of your départements": _("Ce dossier ne relève pas de vos départements."),
    "this centre is not in one of your départements": _(
        "Ce centre de stage ne relève pas de vos départements."
    ),
    "this letter is not one of your départements": _("Cette lettre ne relève pas de vos départements."),
}
# role_required's refusal: an agent of another role, or someone who is no agent at all.
OTHER_ROLE = "this page is for another role"


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def _space(request: HttpRequest) -> str:
    """The first segment of the path without its language prefix: "gestion", "mon-espace", "compte", ""."""
    parts = request.path_info.strip("/").split("/")
    if parts and parts[0] == "en":
        parts = parts[1:]
    return parts[0] if parts else ""


def _agent(request: HttpRequest):  # type: ignore[no-untyped-def]
    agent = getattr(request, "agent", None)
    if agent is not None:
        return agent
    from permis.backoffice.access import profile_of

    return profile_of(getattr(request, "user", None))


def _way_back(request: HttpRequest) -> tuple[str, str]:
    """Where the page sends the person: the space of the page they asked for, if it is theirs; else home."""
    space = _space(request)
    user = getattr(request, "user", None)
    signed_in = bool(getattr(user, "is_authenticated", False))
    try:
        if space == "gestion" and _agent(request) is not None:
            return reverse("backoffice:home"), str(_("Retour à l’espace de gestion"))
        if space in ("mon-espace", "compte") and signed_in:
            return reverse("accounts:home"), str(_("Retour à mon espace"))
        return reverse("portal:home"), str(_("Retour à l’accueil"))
    except NoReverseMatch:  # pragma: no cover - the URLconf always names these pages
        return "/", str(_("Retour à l’accueil"))


def _reason(request: HttpRequest, message: str) -> str:
    """The refusal in words, for the known refusals only ("" for any other)."""
    if message in DENIALS:
        return str(DENIALS[message])
    if message == OTHER_ROLE:
        if _agent(request) is None:
            return str(_("Cette page est réservée aux agents de l’administration."))
        return str(_("Votre rôle ne donne pas accès à cette page."))
    return ""


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"error": "forbidden"}, status=403)
    url, label = _way_back(request)
    message = str(exception.args[0]) if exception is not None and exception.args else ""
    agent = _agent(request) if message in DENIALS else None  # a refusal by département names the agent's
    context = {
        "reason": _reason(request, message),
        "departements": list(getattr(agent, "departements", None) or []),
        "back_url": url,
        "back_label": label,
    }
    return render(request, "403.html", context, status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"error": f"no such endpoint: {request.path}"}, status=404)
    url, label = _way_back(request)
    return render(request, "404.html", {"back_url": url, "back_label": label}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"error": "internal server error"}, status=500)
    return defaults.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form refused by the CSRF protection (settings.CSRF_FAILURE_VIEW): what happened and what to do, in the
    site's layout, instead of Django's English page. The reason is for the logs (django.security.csrf)."""
    if _is_api(request):
        return JsonResponse({"error": "forbidden: missing or wrong CSRF token"}, status=403)
    url, label = _way_back(request)
    return render(request, "403_csrf.html", {"back_url": url, "back_label": label}, status=403)
