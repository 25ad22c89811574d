"""The holder's own file: dashboard, history, forecast (and its calendar), simulator, digital licence.

Every view is declared ``@holder_required`` and reads ``request.holder``'s licence only: no URL here takes an id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from typing import Any

import segno
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from permis.accounts.access import holder_required
from permis.config.csrf import fresh_token
from permis.portal.dates import long_date
from permis.portal.dossier import calendar, state
from permis.portal.dossier.forms import SimulatorForm, YearForm
from permis.portal.dossier.simulate import compare
from permis.portal.labels import SUSPENDED_LABEL, status_label
from permis.portal.simulation import forecast_changes, present

DIGITAL_LICENCE_MINUTES = 10


def _fragment_key(licence: Any, snap: state.Snapshot, *extra: Any) -> str:
    """The cache key of a rendered page body: the file's version and today's state, the day, the language."""
    facts = repr((snap, extra))
    return (
        f"{licence.pk}:{state.version(licence)}:{get_language()}:{hashlib.sha256(facts.encode()).hexdigest()}"
    )


# The value of each CSRF field of a rendered page (the header's sign-out form): the one part of a page that is new
# on every request.
_CSRF_VALUE = re.compile(r'(?<=name="csrfmiddlewaretoken" value=")[^"]*')


def _render_kept(
    request: HttpRequest, template: str, fragment_key: str, context: Callable[[], dict[str, Any]]
) -> HttpResponse:
    """The page, rendered once and then kept whole under its body's key, this address and the holder's name.

    Everything a page shows is in that key (the file's version, the day, the language, the warnings: the body's
    ``fragment_key``; the address, which sets the menu and the links to the other languages; the name in the
    menu), except the CSRF token, a fresh one is put in each answer. On a hit the page costs a cache lookup
    instead of rendering the layout (most of a holder page's Python time once its facts are cached). A page
    asked with a query string (the history's year filter) is rendered as usual: any string would be a new key,
    and so is a page with a message to show (the confirmation of a link): it is for this answer only.
    ``context`` is called only when the page is rendered (the history's rows and chart are not read on a hit).
    """
    if request.GET or len(get_messages(request)):
        return render(request, template, context())
    holder = request.holder  # type: ignore[attr-defined]
    name = (holder.pk, holder.given_names, holder.used_name, holder.birth_name)
    digest = hashlib.sha256(repr((fragment_key, request.path, name)).encode()).hexdigest()
    key = f"dossier:page:{digest}"
    parts = cache.get(key)
    if parts is None:
        parts = _CSRF_VALUE.split(render_to_string(template, context(), request))
        cache.set(key, parts, state.CACHE_SECONDS)
    return HttpResponse(fresh_token(request).join(parts))


def _no_licence(request: HttpRequest, title: str) -> HttpResponse:
    return render(request, "portal/dossier/no_licence.html", {"page_title": title}, status=200)


def _base_context(request: HttpRequest, licence: Any, snap: state.Snapshot | None = None) -> dict[str, Any]:
    holder = request.holder  # type: ignore[attr-defined]
    return {
        "holder": holder,
        "holder_name": f"{holder.given_names} {(holder.used_name or holder.birth_name).upper()}",
        "licence": licence,
        "snap": snap,
        "today": timezone.localdate(),
    }


def status_badges(snap: state.Snapshot) -> list[tuple[str, str]]:
    """The dashboard's badges, (label, DSFR level), the state a holder must see first leading.

    A suspension comes first while the licence is otherwise valid (its balance, even nil, does not let the holder
    drive): "Permis suspendu", as the digital licence and the partners read it (``facts.public_status``), never
    "Permis valide" beside it; a nil balance follows it. An invalidated or annulled licence leads with that state.
    """
    if snap.suspended and snap.status in ("valid", "zero_balance"):
        badges = [(str(SUSPENDED_LABEL), "error")]
        if snap.status != "valid":
            badges.append((status_label(snap.status), "error"))
        return badges
    badges = [(status_label(snap.status), "success" if snap.status == "valid" else "error")]
    if snap.suspended:
        badges.append((_("Suspendu en ce moment"), "error"))
    return badges


# The categories of a licence that no longer gives the right to drive: their dates of validity no longer count.
CATEGORIES_VOID = {
    "invalidated": gettext_lazy("Plus valable : le permis est invalidé"),
    "annulled": gettext_lazy("Plus valable : le permis est annulé"),
}


@never_cache
@require_safe
@holder_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The balance, large, with the cap, the status, the categories, and what to do now."""
    today = timezone.localdate()
    licence = request.licence  # type: ignore[attr-defined]  # set by @holder_required
    if licence is None:
        return _no_licence(request, _("Mon solde de points"))
    snap, _evaluation = state.snapshot(licence, today)
    ahead = state.outlook(licence, snap)
    alerts, course_from = state.warnings(licence, snap, ahead)
    # The rendered page body is kept under everything it shows (the file's version, the day, the language, the
    # warnings, the outlook): rendering is most of a page's time once its facts are cached. The rest of the
    # context (the categories...) is read only when the page is rendered.
    fragment_key = _fragment_key(licence, snap, alerts, ahead)

    def context() -> dict[str, Any]:
        page = _base_context(request, licence, snap)
        page.update(
            {
                "status_label": status_label(snap.status),
                "badges": status_badges(snap),
                "categories_void": str(CATEGORIES_VOID.get(snap.status, "")),
                "alerts": alerts,
                "ahead": ahead,
                "course_from": course_from,
                "categories": state.categories_of(licence),
                "fragment_key": fragment_key,
            }
        )
        return page

    return _render_kept(request, "portal/dossier/dashboard.html", fragment_key, context)


def _causes(line: state.FileTimeline) -> dict[str, str]:
    """Engine id -> how the chart's text names an event."""
    names = {}
    for event in line.history.events:
        if event.kind == "offence":
            names[event.id] = _("infraction du %(date)s") % {"date": long_date(event.committed_on)}
        elif event.kind == "course":
            names[event.id] = _("stage du %(date)s") % {"date": long_date(event.first_day)}
    return names


def _history_of(licence: Any, today: dt.date) -> tuple[list[state.HistoryRow], Any]:
    """The movements in words and the chart (one engine run, kept in the cache under the file's version)."""
    line = state.timeline_of(licence)
    evaluation = line.evaluation_at(today)
    rows = state.history_rows(line, evaluation.movements)
    return rows, present(evaluation, (), {"events": []}, _causes(line))


@never_cache
@require_safe
@holder_required
def history(request: HttpRequest) -> HttpResponse:
    """Every movement with its reason, its offence and its article; the chart of the balance; a year filter."""
    today = timezone.localdate()
    licence = request.licence  # type: ignore[attr-defined]  # set by @holder_required
    if licence is None:
        return _no_licence(request, _("Historique"))
    snap, _ev = state.snapshot(licence, today)
    # The kept page's key (no year filter) is known before the rows: a hit reads none of them.
    return _render_kept(
        request,
        "portal/dossier/history.html",
        _fragment_key(licence, snap, None),
        lambda: _history_context(request, licence, snap, today),
    )


def _history_context(
    request: HttpRequest, licence: Any, snap: state.Snapshot, today: dt.date
) -> dict[str, Any]:
    rows, result = state.remember(
        f"dossier:history:{licence.pk}:{state.version(licence)}:{today.isoformat()}:{get_language()}",
        lambda: _history_of(licence, today),
    )
    years = sorted({row.on.year for row in rows}, reverse=True)
    form = YearForm(request.GET or None, years=years)
    year = form.cleaned_data.get("annee") if form.is_bound and form.is_valid() else None
    shown = [row for row in rows if year is None or row.on.year == int(year)]
    context = _base_context(request, licence, snap)
    context.update(
        {
            "rows": list(reversed(shown)),
            "year": year,
            "form": form,
            "result": result,
            "chart": result.chart,
            "compact_chart": result.compact_chart,
            "chart_description": result.chart_description,
            "chart_rows": result.chart_rows,
            "fragment_key": _fragment_key(licence, snap, year),
        }
    )
    return context


def _forecast_items(line: state.FileTimeline, evaluation: Any) -> list[dict[str, Any]]:
    """The upcoming changes, each with its reason, its article and what would cancel it."""
    engine_events = line.engine_events()
    from permis.portal.labels import basis_label, kind_label

    return [
        {
            "on": movement.on,
            "change": change,  # as the balances shown give it (forecast_changes)
            "balance": movement.balance,
            "cap": movement.cap,
            "kind": movement.kind,
            "label": kind_label(movement.kind),
            "reason": state.reason_of(movement, engine_events),
            "basis": basis_label(movement.basis or ""),
            "unless": unless,
            "cause": movement.cause or "",
        }
        for movement, change, unless in forecast_changes(evaluation)
    ]


@never_cache
@require_safe
@holder_required
def forecast(request: HttpRequest) -> HttpResponse:
    """The dated restorations to come, with what would cancel each."""
    today = timezone.localdate()
    licence = request.licence  # type: ignore[attr-defined]  # set by @holder_required
    if licence is None:
        return _no_licence(request, _("Prévisions"))
    line = state.timeline_of(licence)
    evaluation = line.evaluation_at(today)
    snap, _ev = state.snapshot(licence, today)
    context = _base_context(request, licence, snap)
    context["items"] = _forecast_items(line, evaluation)
    return render(request, "portal/dossier/forecast.html", context)


@never_cache
@require_safe
@holder_required
def forecast_ics(request: HttpRequest) -> HttpResponse:
    """The forecast as an iCalendar file (RFC 5545), one all-day event per upcoming change."""
    today = timezone.localdate()
    licence = request.licence  # type: ignore[attr-defined]  # set by @holder_required
    items: list[dict[str, Any]] = []
    if licence is not None:
        line = state.timeline_of(licence)
        items = _forecast_items(line, line.evaluation_at(today))
    body = calendar.forecast_calendar(
        licence, items, request.get_host(), stamp=timezone.now().astimezone(dt.UTC)
    )
    response = HttpResponse(body.encode("utf-8"), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="previsions-points.ics"'
    return response


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@holder_required
def simulator(request: HttpRequest) -> HttpResponse:
    """What if: an offence and/or a course added to the holder's own file. Nothing is stored."""
    today = timezone.localdate()
    licence = request.licence  # type: ignore[attr-defined]  # set by @holder_required
    if licence is None:
        return _no_licence(request, _("Simuler une infraction ou un stage"))
    form = SimulatorForm(request.POST if request.method == "POST" else None, today=today)
    comparison = None
    if request.method == "POST" and form.is_valid():
        comparison = compare(licence, form, today)
    snap, _ev = state.snapshot(licence, today)
    context = _base_context(request, licence, snap)
    errors = form.errors()
    context.update({"form": form, "comparison": comparison, "errors": errors})
    # What was typed cannot be simulated (the form's checks, or the engine's objections): 400, with the errors.
    invalid = bool(errors) or bool(comparison is not None and comparison.problems)
    return render(request, "portal/dossier/simulator.html", context, status=400 if invalid else 200)


def digital_payload(licence: Any, now: dt.datetime) -> dict[str, Any]:
    """The signed facts of the driving rights: identity, categories, status; never the points."""
    from permis.notices.documents.facts import attestation_payload, licence_state

    today = timezone.localdate(now)
    payload = attestation_payload(licence_state(licence, today), today)
    payload.pop("valid_until", None)
    expires = now + dt.timedelta(minutes=DIGITAL_LICENCE_MINUTES)
    # The verifier compares valid_until with the day; the minute of expiry is signed too (exp).
    payload["valid_until"] = timezone.localdate(expires).isoformat()
    payload["exp"] = expires.astimezone(dt.UTC).isoformat(timespec="seconds")
    payload["use"] = "digital_licence"
    return payload


@never_cache
@require_safe
@holder_required
def digital_licence(request: HttpRequest) -> HttpResponse:
    """The signed QR of the holder's driving rights, valid a few minutes, refreshed while the page is open."""
    from permis.notices.documents.facts import PUBLIC_STATUS_LABELS
    from permis.notices.signing import sign_payload

    licence = request.licence  # type: ignore[attr-defined]  # set by @holder_required
    if licence is None:
        return _no_licence(request, _("Mon permis numérique"))
    now = timezone.now()
    payload = digital_payload(licence, now)
    text = sign_payload(payload)
    qr = segno.make(text, error="m")
    expires = now + dt.timedelta(minutes=DIGITAL_LICENCE_MINUTES)
    context = _base_context(request, licence)
    context.update(
        {
            "qr_text": text,
            "qr_uri": qr.svg_data_uri(scale=4, border=4),
            "payload": payload,
            "expires": timezone.localtime(expires),
            "refresh_seconds": DIGITAL_LICENCE_MINUTES * 60 - 30,
            # What the live region says when the code is renewed in place, or could not be.
            "renewed_text": _("Le code QR a été renouvelé."),
            "failed_text": _(
                "Le code QR n’a pas pu être renouvelé : utilisez le lien « Actualiser le code » avant qu’il expire."
            ),
            "status_label": PUBLIC_STATUS_LABELS.get(payload["status"], payload["status"]),
        }
    )
    return render(request, "portal/dossier/digital_licence.html", context)
