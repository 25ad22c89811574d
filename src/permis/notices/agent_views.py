"""/gestion/notifications/: the delivery figures and the failed deliveries, for agents.

Thin views (ARCHITECTURE.md, rule 8): they check who asks, read the figures from ``stats`` and hand a retry to
``services.retry``. Access is declared on each view: signed in (else the login page) and the model permission
``notices.view_delivery`` (else 403); retrying needs ``notices.change_delivery`` as well. The groups of the
agents' and supervisors' roles carry these permissions (``permis agent create``). The failed deliveries are
those of the holders the agent may see (``permis.backoffice.access``: their départements, every file for a
supervisor, none without an agent's profile); each file they show is written to the access log, and a retry of
another département's letter is refused (403).

The agents' sign-in (/gestion/connexion/: a password, then a second factor) is ``permis.backoffice.sign_in``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from permis.audit.models import Purpose
from permis.backoffice.access import can_see, holders_visible_to, log_agent_read, profile_of
from permis.backoffice.models import AgentProfile
from permis.config.access import granted_to
from permis.notices import services
from permis.notices.models import Channel, Delivery, DeliveryStatus
from permis.notices.stats import delivery_stats, failed_deliveries

FAILED_SHOWN = "envois en échec : lettre, numéro du permis, canal, dernière erreur"

# Short names for the chart's labels (the table beside it gives the full ones).
SHORT_LABELS = {
    Channel.POST: _("Lettre simple"),
    Channel.REGISTERED: _("Recommandé AR"),
    Channel.ACCOUNT: _("Espace personnel"),
    Channel.EMAIL: _("Courriel"),
    Channel.SMS: _("SMS"),
}
CHART_WIDTH, BAR_HEIGHT, BAR_GAP, CHART_LEFT, CHART_RIGHT, CHART_TOP = 640, 26, 14, 160, 70, 8


class PeriodForm(forms.Form):
    start = forms.DateField(label=_("Du"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("Au"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict:
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise forms.ValidationError(_("La date de début doit précéder la date de fin."))
        return data


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    y: float
    width: float
    text_y: float


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    left: int
    bars: tuple[Bar, ...]


def bar_chart(items: list[tuple[str, int]]) -> BarChart:
    """Horizontal bars, one per channel, their length proportional to the volume (geometry only)."""
    top = max((value for _, value in items), default=0) or 1
    plot = CHART_WIDTH - CHART_LEFT - CHART_RIGHT
    bars = []
    for index, (label, value) in enumerate(items):
        y = CHART_TOP + index * (BAR_HEIGHT + BAR_GAP)
        bars.append(Bar(str(label), value, y, round(plot * value / top, 1), y + BAR_HEIGHT / 2))
    height = CHART_TOP * 2 + len(items) * (BAR_HEIGHT + BAR_GAP) - BAR_GAP
    return BarChart(CHART_WIDTH, height, CHART_LEFT, tuple(bars))


# -- the letters --------------------------------------------------------------------------------------------------
def _log_failed(request: HttpRequest, profile: AgentProfile, failed: list[Delivery]) -> None:
    """One access-log entry per file the list shows (its licence number, its letters and their errors), with
    the page's one purpose: sending the letters the law requires is part of managing the licence."""
    for licence in {row.notice.licence_id: row.notice.licence for row in failed}.values():
        log_agent_read(
            request,
            profile,
            holder=licence.holder_id,
            licence=licence,
            purpose=Purpose.LICENCE_MANAGEMENT,
            shown=[FAILED_SHOWN],
        )


@granted_to("agent", "supervisor")
@require_GET
@login_required
@permission_required("notices.view_delivery", raise_exception=True)
def notices(request: HttpRequest) -> HttpResponse:
    form = PeriodForm(request.GET or None)
    start = end = None
    if form.is_bound and not form.is_valid():
        # An impossible period: its error and nothing else (figures of another period would mislead).
        return render(request, "notices/agent/notices.html", {"form": form, "figures": None}, status=400)
    if form.is_bound:
        start, end = form.cleaned_data.get("start"), form.cleaned_data.get("end")
    figures = delivery_stats(start, end)
    channels = [(Channel(value).label, value) for value in Channel.values]
    statuses = [(DeliveryStatus(value).label, value) for value in DeliveryStatus.values]
    rows = [
        (
            label,
            [figures.by_channel.get(value, {}).get(status, 0) for _, status in statuses],
            figures.channel_total(value),
        )
        for label, value in channels
    ]
    chart = bar_chart([(SHORT_LABELS[value], figures.channel_total(value)) for value in Channel.values])
    description = "; ".join(f"{label} : {total}" for label, _, total in rows)
    # Only the letters of the holders this user may see (none without an agent's profile), each file logged.
    profile = profile_of(request.user)
    failed: list[Delivery] = []
    if profile is not None:
        failed = list(failed_deliveries(holders_visible_to(profile)))
        _log_failed(request, profile, failed)
    return render(
        request,
        "notices/agent/notices.html",
        {
            "form": form,
            "figures": figures,
            "statuses": [label for label, _ in statuses],
            "rows": rows,
            "chart": chart,
            "chart_description": description,
            "failed": failed,
            "can_retry": request.user.has_perm("notices.change_delivery"),
        },
    )


@granted_to("agent", "supervisor")
@require_POST
@login_required
@permission_required(["notices.view_delivery", "notices.change_delivery"], raise_exception=True)
def retry(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = get_object_or_404(Delivery.objects.select_related("notice__licence__holder"), pk=pk)
    profile = profile_of(request.user)
    if profile is None or not can_see(profile, delivery.notice.licence.holder):
        raise PermissionDenied("this letter is not one of your départements")
    try:
        services.retry(delivery, by=request.user.get_username())
    except ValueError as error:
        messages.error(request, _("Envoi %(pk)s non relancé : %(reason)s") % {"pk": pk, "reason": error})
    else:
        messages.success(request, _("Envoi %(pk)s remis dans la file d’envoi.") % {"pk": pk})
    return redirect("agent:notices")
