"""« Demander une correction »: the holder asks for a correction of their file, and reads the answers
(PRODUCT.md, capability 8; the workflow is ``permis.backoffice.holder_requests``).

The holder chooses the event concerned from their own history (or "autre"), says what is wrong, and gets a
reference. The page lists their requests with their state: waiting, a correction being validated, accepted (with
the correction made) or refused (with the agent's reason). No upload: an agent who needs a document asks for it.

Like every page of the space (``@holder_required``), it reads ``request.holder``'s requests only: another holder's
request is a 404. The holder reading their own requests is not a read of the file by someone else: nothing is
written to the access log (an agent opening a request is, in the back office).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_safe

from permis.accounts.access import holder_required
from permis.backoffice import holder_requests
from permis.backoffice.models import CorrectionStatus, HolderCorrectionRequest, HolderRequestStatus
from permis.portal.dates import long_date


class CorrectionRequestForm(forms.Form):
    concerned = forms.ChoiceField(
        label=gettext_lazy("Élément concerné"),
        help_text=gettext_lazy("Choisissez l’événement de votre historique qui vous semble inexact."),
        choices=[],
        error_messages={
            "required": gettext_lazy("Choisissez l’élément concerné, ou « Autre chose »."),
            "invalid_choice": gettext_lazy("Choisissez un élément de la liste, ou « Autre chose »."),
        },
        widget=forms.Select(attrs={"class": "fr-select"}),
    )
    message = forms.CharField(
        label=gettext_lazy("Qu’est-ce qui est inexact ?"),
        help_text=gettext_lazy(
            "Dites ce qui est faux et ce qui serait juste, par exemple « l’infraction du 3 mars n’est pas la mienne : "
            "le véhicule était vendu ». 1 000 caractères au plus. Ne joignez aucun document : si un justificatif "
            "est nécessaire, la préfecture vous le demandera."
        ),
        max_length=holder_requests.MESSAGE_MAX,
        error_messages={
            "required": gettext_lazy("Décrivez ce qui est inexact."),
            "max_length": gettext_lazy(
                "Votre message fait %(show_value)d caractères : raccourcissez-le à %(limit_value)d au plus."
            ),
        },
        widget=forms.Textarea(attrs={"class": "fr-input", "rows": 6}),
    )

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["concerned"].choices = [("", _("Choisir un élément")), *choices]

    def full_clean(self) -> None:
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                widget.attrs["aria-invalid"] = "true"
                widget.attrs["aria-describedby"] = f"{self[name].auto_id}_error"


def _initial(request: HttpRequest, choices: list[tuple[str, str]]) -> dict[str, str]:
    """What the history's link chose: ``?concerne=e<seq>`` (an event of the list) or ``?concerne=autre``, with the
    day of the movement (``&mouvement=<YYYY-MM-DD>``) written at the start of the message."""
    initial: dict[str, str] = {}
    concerned = request.GET.get("concerne", "")
    if concerned in dict(choices):
        initial["concerned"] = concerned
    try:
        day = dt.date.fromisoformat(request.GET.get("mouvement", ""))
    except ValueError:
        day = None
    if day is not None and dt.date(1900, 1, 1) <= day <= dt.date(2200, 12, 31):
        initial["message"] = _("Mouvement du %(date)s : ") % {"date": long_date(day)}
    return initial


def _answer(row: HolderCorrectionRequest) -> dict[str, Any]:
    """A request with what answered it: the correction approved (its event corrected), for the holder's page."""
    corrections = list(row.corrections.all())
    approved = next((c for c in corrections if c.status == CorrectionStatus.APPROVED), None)
    return {
        "row": row,
        "approved": approved,
        "void": approved is not None and approved.replacement is None,
        "corrected": holder_requests.event_label(approved.target) if approved is not None else "",
    }


def _page(request: HttpRequest, form: CorrectionRequestForm, created: HolderCorrectionRequest | None = None):
    rows = [_answer(row) for row in holder_requests.requests_of(request.holder)]  # type: ignore[attr-defined]
    response = render(
        request,
        "portal/demarches/corrections.html",
        {
            "form": form,
            "rows": rows,
            "created": created,
            "has_licence": request.licence is not None,  # type: ignore[attr-defined]
            "statuses": HolderRequestStatus,
        },
        status=400 if form.errors else 200,
    )
    response["Cache-Control"] = "private, no-store"
    return response


@require_http_methods(["GET", "HEAD", "POST"])
@holder_required
def corrections(request: HttpRequest) -> HttpResponse:
    licence = request.licence  # type: ignore[attr-defined]
    choices = holder_requests.choices(licence)
    if request.method != "POST":
        return _page(request, CorrectionRequestForm(choices=choices, initial=_initial(request, choices)))
    form = CorrectionRequestForm(request.POST, choices=choices)
    if form.is_valid():
        if licence is None:
            form.add_error(None, _("Votre dossier n’a pas de permis : adressez-vous à votre préfecture."))
        else:
            try:
                row = holder_requests.submit(
                    request.holder,  # type: ignore[attr-defined]
                    licence,
                    request.user,
                    form.cleaned_data["concerned"],
                    form.cleaned_data["message"],
                )
            except holder_requests.HolderRequestError as error:
                form.add_error(error.field or None, error.message)
            else:
                messages.success(
                    request,
                    _(
                        "Votre demande est enregistrée sous la référence %(reference)s. Un agent de la préfecture "
                        "l’examinera ; sa réponse s’affichera sur cette page."
                    )
                    % {"reference": row.reference},
                )
                return redirect("demarches:correction", row.pk)
    return _page(request, form)


@require_safe
@holder_required
def correction(request: HttpRequest, request_id: int) -> HttpResponse:
    """One of the holder's requests: what was asked, its state, the answer."""
    row = get_object_or_404(holder_requests.requests_of(request.holder), pk=request_id)  # type: ignore[attr-defined]
    response = render(request, "portal/demarches/correction.html", {"item": _answer(row)})
    response["Cache-Control"] = "private, no-store"
    return response
