"""/gestion/corrections/demandes/<pk>/: a holder's request for a correction, as an agent of the file's
département reads and answers it (``permis.backoffice.holder_requests``).

Opening it is a read of the file (the holder's identity, the licence, their words about the history): it is logged
with the purpose "correction", which is then the purpose stated for the file, so that the correction started
from it opens without asking again. From here the agent either starts the two-agent correction (the file's
correction page, prefilled, the request linked) or refuses the request with a reason the holder reads.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from permis.audit.models import Purpose

from . import holder_requests, services
from .access import role_required
from .forms import DsfrForm
from .models import HolderCorrectionRequest, HolderRequestStatus
from .views import STAFF, _licence_for, _log, _pin_purpose

SHOWN = ("identité", "numéros du permis", "demande de correction du titulaire", "historique")


class RefuseForm(DsfrForm):
    answer = forms.CharField(
        label=_("Motif du refus, adressé au titulaire"),
        max_length=holder_requests.ANSWER_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "Le titulaire le lit dans son espace personnel et le reçoit par courriel : écrivez-le pour lui, sans "
            "abréviation ni mention interne. 1 000 caractères au plus."
        ),
        error_messages={"required": _("Indiquez au titulaire pourquoi sa demande est refusée.")},
    )


@require_http_methods(["GET", "POST"])
@role_required(*STAFF)
def holder_request(request: HttpRequest, pk: int) -> HttpResponse:
    """A holder's request: what they point at and say, the corrections started from it; refuse it here."""
    row = get_object_or_404(
        HolderCorrectionRequest.objects.select_related(
            "licence__holder", "target", "requested_by", "decided_by"
        ),
        pk=pk,
    )
    licence = _licence_for(request, row.licence_id)  # 403 outside the agent's départements, before anything
    purpose = (Purpose.CORRECTION.value, gettext("demande du titulaire %(ref)s") % {"ref": row.reference})
    form = RefuseForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            holder_requests.refuse(request.agent, row, form.cleaned_data["answer"])  # type: ignore[attr-defined]
        except services.CorrectionRefused as error:
            form.add_problems(error.problems, source=None)
        else:
            messages.success(
                request,
                gettext("Demande %(ref)s refusée : le titulaire lit votre réponse dans son espace.")
                % {"ref": row.reference},
            )
            return redirect("backoffice:corrections")
    start = ""
    if row.status == HolderRequestStatus.PENDING:
        start = f"{reverse('backoffice:correct', args=[licence.pk])}?demande={row.pk}"
        if row.target_id is not None:
            start += f"&evenement={row.target.seq}"
    response = render(
        request,
        "backoffice/holder_request.html",
        {
            "row": row,
            "licence": licence,
            "form": form,
            "start": start,
            "corrections": row.corrections.select_related("target", "requested_by", "reviewed_by").order_by(
                "pk"
            ),
            "open": row.status == HolderRequestStatus.PENDING,
        },
        status=400 if form.errors else 200,
    )
    if request.method == "GET":
        # The agent reads the file to deal with the holder's request: that is the purpose, for the pages that
        # follow too (the correction started from here).
        _pin_purpose(request, licence.pk, *purpose)
        _log(request, licence.holder, licence, purpose, SHOWN)
    return response
