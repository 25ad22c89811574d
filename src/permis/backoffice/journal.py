"""/gestion/journal/: the auditor reads the access log (PRODUCT.md, the actors table: the auditor "reads the
access log and integrity reports", "logs, not files").

The page lists the hash-chained log (``permis.audit``), newest first, filtered by licence number, reader, role,
purpose, channel and dates, with the state of its chains: the last full verification (``permis verify``) and a
check of each chain's head made on the spot (``permis.audit.services.check_heads``). The auditor only reads:
nothing on the page changes the log or a file, and no file is shown (a licence number, never a name).

Reading the log is itself recorded: each page read goes to the agents' action log (the ``permis.backoffice``
logger, as the sign-in's and ``permis agent``'s actions are) with the filters and the number of entries shown;
when the filter names one licence, the auditor has read who consulted that holder's file, so one entry (role
auditor, purpose "audit") goes to that holder's access log, which the holder reads in their space. Never one
entry per row shown: a page of 50 rows would write 50 entries, each read of the log making it longer.

Pages are cut by the entries' ids ("avant"/"apres": older or newer than an id), not by counting: the log holds
every read of every file, a count of it at each page would read the whole table.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from permis.api.models import ApiKey
from permis.audit.models import AccessLog, Channel, Purpose, Role
from permis.audit.services import check_heads
from permis.digits import ascii_id
from permis.registry.models import Licence

from .access import log_agent_read, role_required
from .forms import DsfrForm, date_field
from .models import AgentProfile, IntegrityReport

logger = logging.getLogger("permis.backoffice")

PAGE_SIZE = 50
# What the holder reads in their space when an auditor filtered the log on their licence.
JOURNAL_SHOWN = "journal des consultations du dossier (qui, quand, pourquoi, ce qui a été vu)"


class JournalForm(DsfrForm):
    """The filters of the log; all optional, all combined."""

    licence_number = forms.CharField(label=_("Numéro de permis"), required=False, max_length=19)
    actor = forms.CharField(
        label=_("Auteur de la consultation"),
        required=False,
        max_length=100,
        help_text=_(
            "Identifiant de connexion d’un agent, nom d’un partenaire ou préfixe de sa clé d’API, fin d’un code "
            "de partage (…K7), ou une partie du nom affiché."
        ),
    )
    role = forms.ChoiceField(
        label=_("Qualité"), required=False, choices=[("", _("Toutes les qualités")), *Role.choices]
    )
    purpose = forms.ChoiceField(
        label=_("Motif"), required=False, choices=[("", _("Tous les motifs")), *Purpose.choices]
    )
    channel = forms.ChoiceField(
        label=_("Canal"), required=False, choices=[("", _("Tous les canaux")), *Channel.choices]
    )
    start = date_field(_("Consultations à partir du"), required=False, bounded=True)
    end = date_field(_("Consultations jusqu’au (inclus)"), required=False, bounded=True)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        data["licence_number"] = (data.get("licence_number") or "").strip().upper().replace(" ", "")
        data["actor"] = (data.get("actor") or "").strip()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            self.add_error("end", _("La date de fin ne peut pas précéder la date de début."))
        return data


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _actor_filter(text: str) -> Q:
    """The readers `text` names: an agent's login, a partner's name or key prefix, the log's own identifier
    ("user:12", "key:ab12cd34", "share:7"), or a part of the name the log shows ("…K7" for a share code)."""
    q = Q(actor=text) | Q(actor_label__icontains=text)
    users = get_user_model().objects.filter(username__iexact=text).values_list("pk", flat=True)
    keys = ApiKey.objects.filter(Q(prefix=text) | Q(name__iexact=text)).values_list("prefix", flat=True)
    named = [f"user:{pk}" for pk in users] + [f"key:{prefix}" for prefix in keys]
    if named:
        q |= Q(actor__in=named)
    return q


def entries(data: dict[str, Any]) -> tuple[QuerySet[AccessLog], Licence | None]:
    """The entries the filters keep (not yet ordered), and the licence the filter names (None if it names none).
    A licence number no licence bears keeps no entry."""
    found = AccessLog.objects.select_related("licence")
    licence = None
    if data.get("licence_number"):
        licence = Licence.objects.filter(number=data["licence_number"]).first()
        if licence is None:
            return found.none(), None
        # The holder's reads that named no licence (an identity search) belong to the file too.
        found = found.filter(Q(licence=licence) | Q(licence__isnull=True, holder_id=licence.holder_id))
    if data.get("actor"):
        found = found.filter(_actor_filter(data["actor"]))
    for name in ("role", "purpose", "channel"):
        if data.get(name):
            found = found.filter(**{name: data[name]})
    if data.get("start"):
        found = found.filter(at__gte=_day_start(data["start"]))
    if data.get("end"):
        found = found.filter(at__lt=_day_start(data["end"] + dt.timedelta(days=1)))
    return found, licence


def _cursor(request: HttpRequest, name: str) -> int | bool | None:
    """The page's cursor ``?avant=`` or ``?apres=``: an id, None when absent, False when it is no id."""
    value = request.GET.get(name, "")
    if not value:
        return None
    if not ascii_id(value):
        return False
    return int(value)


def _page(found: QuerySet[AccessLog], before: int | None, after: int | None) -> dict[str, Any]:
    """One page of `found`, newest first (in the order the entries were written: their ids), and whether
    there are newer and older entries."""
    if after is not None:
        rows = list(found.filter(pk__gt=after).order_by("pk")[: PAGE_SIZE + 1])
        newer = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE][::-1]
        older = found.filter(pk__lte=after).exists()
    else:
        if before is not None:
            found_before = found.filter(pk__lt=before)
        else:
            found_before = found
        rows = list(found_before.order_by("-pk")[: PAGE_SIZE + 1])
        older = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        newer = before is not None and found.filter(pk__gte=before).exists()
    return {"rows": rows, "newer": newer and bool(rows), "older": older and bool(rows)}


def _integrity() -> dict[str, Any]:
    """The state of the log's chains: the last full verification, and each chain's head checked now."""
    report = IntegrityReport.objects.exclude(access_log_entries=None).first()
    found = [line for line in (report.details if report else []) if line.startswith("access log")]
    # The report keeps its first 50 discrepancies: beyond them, the log's may be among those not kept.
    unknown = bool(report and not found and report.discrepancies > len(report.details))
    heads = check_heads()
    return {
        "report": report,
        "report_problems": found,
        "report_unknown": unknown,
        "heads": heads,
        "heads_broken": [head for head in heads if head.state != "ok"],
    }


def _links(request: HttpRequest, page: dict[str, Any]) -> dict[str, str]:
    kept = [(key, value) for key, value in request.GET.items() if key not in ("avant", "apres") and value]
    links = {}
    if page["newer"]:
        links["newer"] = "?" + urlencode([*kept, ("apres", page["rows"][0].pk)])
        links["newest"] = "?" + urlencode(kept) if kept else "?"
    if page["older"]:
        links["older"] = "?" + urlencode([*kept, ("avant", page["rows"][-1].pk)])
    return links


def _log_read(
    request: HttpRequest, agent: AgentProfile, data: dict[str, Any], shown: int, licence: Licence | None
) -> None:
    filters = {key: str(value) for key, value in data.items() if value}
    logger.info(
        "auditor %s (user %s) read the access log: filters %s, page %s, %s entries shown",
        request.user.get_username(),
        request.user.pk,
        filters or "none",
        {k: request.GET[k] for k in ("avant", "apres") if request.GET.get(k)} or "first",
        shown,
    )
    if licence is not None:
        log_agent_read(
            request,
            agent,
            holder=licence.holder_id,
            licence=licence,
            purpose=Purpose.AUDIT,
            shown=[JOURNAL_SHOWN],
        )


@require_GET
@role_required("auditor")
def journal(request: HttpRequest) -> HttpResponse:
    """The access log for the auditor: newest first, filtered, with the chains' integrity."""
    agent: AgentProfile = request.agent  # type: ignore[attr-defined]
    form = JournalForm(request.GET)
    before, after = _cursor(request, "avant"), _cursor(request, "apres")
    if before is False or after is False:
        form.add_error(None, _("Le lien de la page est incorrect : revenez aux entrées les plus récentes."))
    context: dict[str, Any] = {"form": form, "integrity": _integrity(), "page_size": PAGE_SIZE}
    if not form.is_valid():
        return render(request, "backoffice/journal.html", context, status=400)
    data = form.cleaned_data
    found, licence = entries(data)
    page = _page(found, before or None, after or None)
    _log_read(request, agent, data, len(page["rows"]), licence)
    filtered = any(data.values())
    context.update(
        page=page,
        links=_links(request, page),
        filtered=filtered,
        unknown_licence=bool(data.get("licence_number")) and licence is None,
    )
    return render(request, "backoffice/journal.html", context)
