"""/gestion/: the préfecture agents' and supervisors' pages (PRODUCT.md, capability 8).

Thin views (ARCHITECTURE.md, rule 8): each declares who may call it (``role_required``), checks the file is one
of the agent's départements, states and logs the purpose of every read (``permis.audit.services.log_access``)
and hands every change to ``permis.backoffice.services``, which goes through the registry's services.

The purpose is stated before a file is opened: on the search form (it then covers the files the search found)
or on the file's own purpose page; it is kept in the session for that file, and every page that shows the file
writes an entry with what it showed.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from permis.audit.models import Purpose
from permis.audit.services import accesses_of, shares_of
from permis.courses.approval import approve_centre, withdraw_centre
from permis.courses.models import CourseCentre
from permis.courses.services import CourseError
from permis.digits import ascii_id
from permis.notices.documents import render_attestation, render_letter, render_rii
from permis.notices.documents.access import PRINTED
from permis.notices.models import DeliveryStatus
from permis.notices.stats import delivery_stats
from permis.registry.communes import place_label
from permis.registry.models import Event, EventKind, Holder, Licence, Movement, Notice, Projection
from permis.registry.services import RegistryError, today

from . import services
from .access import (
    can_manage_centre,
    can_see,
    departement_of,
    holders_visible_to,
    log_agent_read,
    role_required,
)
from .forms import (
    AnnulmentForm,
    CategoryForm,
    CentreForm,
    CorrectionForm,
    NewLicenceForm,
    PurposeForm,
    ReceiptForm,
    ReviewForm,
    SearchForm,
    SurrenderForm,
    SuspensionForm,
    WithdrawForm,
    flatten,
)
from .models import (
    AgentProfile,
    AgentRole,
    CategoryChange,
    CorrectionRequest,
    CorrectionStatus,
    HolderCorrectionRequest,
    HolderRequestStatus,
    IntegrityReport,
)

SESSION_PURPOSES = "backoffice_purposes"
SESSION_SEARCH = "backoffice_search"
MAX_RESULTS = 20
STAFF = ("agent", "supervisor")


# -- purpose and logging ------------------------------------------------------------------------------------------
def _purposes(request: HttpRequest) -> dict[str, list[str]]:
    return request.session.get(SESSION_PURPOSES, {})


def _pin_purpose(request: HttpRequest, licence_id: int, purpose: str, detail: str) -> None:
    purposes = _purposes(request)
    purposes[str(licence_id)] = [purpose, detail]
    # Keep the session small: the last 50 files opened.
    request.session[SESSION_PURPOSES] = dict(list(purposes.items())[-50:])


def _purpose_for(request: HttpRequest, licence: Licence) -> tuple[str, str] | None:
    pinned = _purposes(request).get(str(licence.pk))
    if pinned:
        return pinned[0], pinned[1]
    search = request.session.get(SESSION_SEARCH)
    if search and licence.pk in search.get("ids", []):
        _pin_purpose(request, licence.pk, search["purpose"], search["detail"])
        return search["purpose"], search["detail"]
    return None


def _log(
    request: HttpRequest, holder: Holder, licence: Licence | None, purpose: tuple[str, str], shown
) -> None:
    log_agent_read(
        request,
        request.agent,  # type: ignore[attr-defined]
        holder=holder,
        licence=licence,
        purpose=purpose[0],
        purpose_detail=purpose[1],
        shown=shown,
    )


def _licence_for(request: HttpRequest, pk: int) -> Licence:
    """The licence, if the agent may see its file (else 404 outside the file, 403 outside the départements)."""
    licence = get_object_or_404(Licence.objects.select_related("holder"), pk=pk)
    if not can_see(request.agent, licence.holder):  # type: ignore[attr-defined]
        raise PermissionDenied("this file is not one of your départements")
    return licence


def file_page(shown: tuple[str, ...]) -> Callable:
    """A page of a file: the agent may see it, a purpose is stated (else the purpose page), the read is logged
    with `shown` on every GET that shows it. The view gets the licence and the purpose.

    The entry is written once the view has answered 200 and before the page is sent: a 404 (no such letter or
    event) or an error shows nothing of the file and leaves no entry, and if the entry cannot be written the
    request fails and nothing is shown."""

    def decorator(view: Callable) -> Callable:
        def wrapper(request: HttpRequest, pk: int, *args: Any, **kwargs: Any) -> HttpResponse:
            licence = _licence_for(request, pk)
            purpose = _purpose_for(request, licence)
            if purpose is None:
                target = urlencode({"next": request.get_full_path()})
                return redirect(f"{reverse('backoffice:purpose', args=[licence.pk])}?{target}")
            response = view(request, licence, purpose, pk, *args, **kwargs)
            if request.method == "GET" and response.status_code == 200:
                _log(request, licence.holder, licence, purpose, shown)
            return response

        wrapper.__name__ = view.__name__
        wrapper.__doc__ = view.__doc__
        return wrapper

    return decorator


# -- home and search ----------------------------------------------------------------------------------------------
@require_GET
@role_required("agent", "supervisor", "auditor")
def home(request: HttpRequest) -> HttpResponse:
    agent: AgentProfile = request.agent  # type: ignore[attr-defined]
    if agent.role == AgentRole.AUDITOR:
        return redirect("backoffice:journal")
    if agent.role == AgentRole.SUPERVISOR:
        return redirect("backoffice:dashboard")
    return redirect("backoffice:search")


def name_key(name: str) -> str:
    """A name as an agent may type it: "André", "andre" and "ANDRÉ" are one name, and so are "Jean-Pierre",
    "JEAN PIERRE" and "jeanpierre", or "D’Artagnan" and "d'artagnan" (Unicode NFKD without its combining marks,
    case folded, œ and æ spelt out, only the letters and digits kept)."""
    folded = unicodedata.normalize("NFKD", name).casefold().replace("œ", "oe").replace("æ", "ae")
    return "".join(char for char in folded if char.isalnum() and not unicodedata.combining(char))


def _search(agent: AgentProfile, data: dict[str, Any]) -> list[Licence]:
    licences = Licence.objects.filter(holder__in=Holder.objects.filter(holders_visible_to(agent)))
    if data["licence_number"]:
        licences = licences.filter(number=data["licence_number"])
    if data["dossier_number"]:
        licences = licences.filter(dossier_number=data["dossier_number"])
    licences = licences.order_by("holder__birth_name", "number")
    if data["birth_name"]:
        # The database narrows to the birth date (about 1,500 holders nationally, fewer in a département); the
        # names are compared here, without case or accents, which no database compares alike. The limit
        # applies to the names that match.
        wanted = name_key(data["birth_name"])
        candidates = licences.filter(holder__birth_date=data["birth_date"]).values_list(
            "pk", "holder__birth_name", "holder__used_name"
        )
        ids = [
            pk
            for pk, birth, used in candidates.iterator()
            if wanted and wanted in (name_key(birth), name_key(used))
        ]
        licences = licences.filter(pk__in=ids[: MAX_RESULTS + 1])
    return [
        lic
        for lic in licences.select_related("holder", "projection")[: MAX_RESULTS + 1]
        if can_see(agent, lic.holder)
    ]


@require_GET
@role_required(*STAFF)
def search(request: HttpRequest) -> HttpResponse:
    """Find a file by licence number, dossier number, or name and birth date, with the purpose stated."""
    agent: AgentProfile = request.agent  # type: ignore[attr-defined]
    form = SearchForm(request.GET or None)
    results: list[Licence] | None = None
    more = False
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        found = _search(agent, data)
        more = len(found) > MAX_RESULTS
        results = found[:MAX_RESULTS]
        purpose = (data["purpose"], data["purpose_detail"].strip())
        request.session[SESSION_SEARCH] = {
            "purpose": purpose[0],
            "detail": purpose[1],
            "ids": [lic.pk for lic in results],
        }
        # Seeing a result is already reading a file: its identity and numbers.
        for lic in results:
            _log(request, lic.holder, lic, purpose, ["résultat de recherche : identité, numéros du permis"])
    return render(
        request,
        "backoffice/search.html",
        {"form": form, "results": results, "more": more, "agent": agent, "max_results": MAX_RESULTS},
    )


def _page_of(licence: Licence, target: str) -> bool:
    """Whether `target` (the purpose page's ``next``) is a page of this file: one under its address, or the
    review of one of its corrections."""
    if target.startswith(reverse("backoffice:file", args=[licence.pk])):
        return True
    path = target.split("?", 1)[0]
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return (
        match.view_name == "backoffice:review"
        and CorrectionRequest.objects.filter(pk=match.kwargs["pk"], licence=licence).exists()
    )


@require_http_methods(["GET", "POST"])
@role_required(*STAFF)
def purpose(request: HttpRequest, pk: int) -> HttpResponse:
    """State the purpose before opening a file reached otherwise than through a search."""
    licence = _licence_for(request, pk)
    form = PurposeForm(request.POST if request.method == "POST" else None)
    target = request.GET.get("next", "")
    if not _page_of(licence, target):
        target = reverse("backoffice:file", args=[licence.pk])
    if request.method == "POST" and form.is_valid():
        _pin_purpose(
            request, licence.pk, form.cleaned_data["purpose"], form.cleaned_data["purpose_detail"].strip()
        )
        return redirect(target)
    return render(request, "backoffice/purpose.html", {"form": form, "licence": licence, "next": target})


# -- the file -----------------------------------------------------------------------------------------------------
FILE_SHOWN = (
    "identité",
    "adresse",
    "permis et catégories",
    "solde et statut",
    "historique et mouvements",
    "lettres et envois",
    "documents imprimés et codes de partage",
)
# How many of the holder's latest access-log entries are searched for the documents printed for the file.
PRINTED_SCAN = 500


def _printed(licence: Licence) -> list[dict[str, Any]]:
    """The documents the service printed for this licence (the RII and attestations at the counter, by
    ``permis document``), newest first, found in the access log where each print is recorded. A document the
    holder downloads in their space is theirs and is not recorded."""
    labels = {text: kind for kind, text in PRINTED.items()}
    found = []
    for entry in accesses_of(licence.holder_id).filter(licence=licence)[:PRINTED_SCAN]:
        for item in entry.shown:
            if item in labels:
                found.append({"at": entry.at, "kind": labels[item], "by": entry.actor_label})
    return found


def _history(licence: Licence) -> list[dict[str, Any]]:
    events = list(licence.events.order_by("seq"))
    corrected: dict[int, Event] = {}
    for event in events:
        if event.kind == EventKind.CORRECTION:
            corrected[event.data["replaces"]] = event
    pending = set(
        CorrectionRequest.objects.filter(licence=licence, status=CorrectionStatus.PENDING).values_list(
            "target_id", flat=True
        )
    )
    rows = []
    for event in events:
        rows.append(
            {
                "event": event,
                "values": flatten(event.data) if event.kind != EventKind.CORRECTION else {},
                "corrected_by": corrected.get(event.seq),
                "pending": event.pk in pending,
                "correctable": event.kind != EventKind.CORRECTION,
            }
        )
    return rows


@require_GET
@role_required(*STAFF)
@file_page(FILE_SHOWN)
def file(request: HttpRequest, licence: Licence, purpose: tuple[str, str], pk: int) -> HttpResponse:
    """The whole file: identity, licence, categories, history with movements and their basis, letters and their
    deliveries, documents."""
    projection = Projection.objects.filter(licence=licence).first()
    notices = list(
        Notice.objects.filter(licence=licence).prefetch_related("deliveries").order_by("-due_on", "-pk")
    )
    return render(
        request,
        "backoffice/file.html",
        {
            "licence": licence,
            "holder": licence.holder,
            "departement": departement_of(licence.holder.postal_code),
            "birth_place": place_label(licence.holder.birth_place),
            "projection": projection,
            "categories": licence.categories.order_by("obtained_on", "code"),
            "category_changes": CategoryChange.objects.filter(licence=licence)[:20],
            "history": _history(licence),
            "movements": Movement.objects.filter(licence=licence).order_by("position"),
            "notices": notices,
            "purpose": Purpose(purpose[0]).label,
            "purpose_detail": purpose[1],
            "corrections": CorrectionRequest.objects.filter(licence=licence).select_related(
                "target", "requested_by", "reviewed_by"
            ),
            "printed": _printed(licence),
            "shares": shares_of(licence.holder_id),
        },
    )


@require_GET
@role_required(*STAFF)
@file_page((PRINTED["rii"],))
def rii(request: HttpRequest, licence: Licence, purpose: tuple[str, str], pk: int) -> HttpResponse:
    """The relevé d'information intégral, printed at the counter (logged like any read of the file)."""
    pdf = render_rii(licence, today())
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="RII-{licence.number}.pdf"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@role_required(*STAFF)
@file_page((PRINTED["attestation"],))
def attestation(request: HttpRequest, licence: Licence, purpose: tuple[str, str], pk: int) -> HttpResponse:
    """The attestation of driving rights (validity and categories, no points: L223-7), printed at the counter
    for the holder, the document the holder downloads from their space (logged like the RII)."""
    on = today()
    response = HttpResponse(render_attestation(licence, on), content_type="application/pdf")
    response["Content-Disposition"] = (
        f'inline; filename="attestation-droits-a-conduire-{licence.number}-{on.isoformat()}.pdf"'
    )
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@role_required(*STAFF)
@file_page(("lettre envoyée (PDF)",))
def letter(request: HttpRequest, licence: Licence, purpose: tuple[str, str], pk: int) -> HttpResponse:
    """A letter of the file as the holder received it (``?lettre=<notice id>``), e.g. to send a copy."""
    notice_id = request.GET.get("lettre", "")
    if not ascii_id(notice_id):
        raise Http404("no such letter")
    notice = get_object_or_404(Notice, pk=int(notice_id), licence=licence)
    response = HttpResponse(render_letter(notice), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{notice.code}-{licence.number}-{notice.pk}.pdf"'
    response["Cache-Control"] = "no-store"
    return response


# -- recording ----------------------------------------------------------------------------------------------------
RECORD_FORMS: dict[str, tuple[type, Any]] = {
    "avis-48si": (ReceiptForm, _("Avis de réception de la lettre 48SI")),
    "remise": (SurrenderForm, _("Remise du permis")),
    "suspension": (SuspensionForm, _("Suspension du permis")),
    "annulation": (AnnulmentForm, _("Annulation judiciaire")),
    "nouveau-permis": (NewLicenceForm, _("Nouveau permis après invalidation ou annulation")),
    "categorie": (CategoryForm, _("Catégorie et validité médicale")),
}


def _receipt_choices(licence: Licence) -> list[tuple[int, str]]:
    choices = []
    for delivery in services.registered_48si(licence):
        if delivery.sent_at is None or delivery.receipt_on is not None:
            continue
        sent = timezone.localtime(delivery.sent_at).strftime("%d/%m/%Y")
        choices.append(
            (delivery.pk, gettext("Envoi n° %(pk)s, envoyé le %(sent)s") % {"pk": delivery.pk, "sent": sent})
        )
    return choices


def _save(agent: AgentProfile, licence: Licence, kind: str, data: dict[str, Any]) -> None:
    reason = data.get("reason", "")
    if kind == "avis-48si":
        delivery = services.registered_48si(licence).filter(pk=data["delivery"]).first()
        if delivery is None:
            raise services.BackofficeError(["delivery: this letter is not a 48SI of this licence"])
        services.record_48si_receipt(agent, delivery, data["kind"], data["on"])
    elif kind == "remise":
        services.record_surrender(agent, licence, data["on"], reason)
    elif kind == "suspension":
        services.record_suspension(agent, licence, data["start"], data["end"], reason)
    elif kind == "annulation":
        services.record_annulment(agent, licence, data["on"], data.get("ban_until"), reason)
    elif kind == "nouveau-permis":
        services.record_new_licence(agent, licence, data["obtained_on"], data["route"], reason)
    elif kind == "categorie":
        services.record_category(
            agent,
            licence,
            code=data["code"],
            obtained_on=data["obtained_on"],
            expires_on=data.get("expires_on"),
            restrictions=data.get("restrictions", ""),
        )


# The registry names the engine's fields; the forms name theirs.
FIELD_NAMES = {"from": "start", "to": "end", "kind": "kind"}


@require_http_methods(["GET", "POST"])
@role_required(*STAFF)
@file_page(("identité", "numéros du permis", "lettres 48SI et leurs envois"))
def record(
    request: HttpRequest, licence: Licence, purpose: tuple[str, str], pk: int, kind: str
) -> HttpResponse:
    """One of the agent's decisions, recorded through the registry's services with the agent's identity."""
    if kind not in RECORD_FORMS:
        raise Http404("no such form")
    form_class, title = RECORD_FORMS[kind]
    extra = {"deliveries": _receipt_choices(licence)} if kind == "avis-48si" else {}
    form = form_class(request.POST if request.method == "POST" else None, **extra)
    refused = False
    if request.method == "POST" and form.is_valid():
        try:
            _save(request.agent, licence, kind, form.cleaned_data)  # type: ignore[attr-defined]
        except RegistryError as error:
            problems = [p.split(": ", 1)[1] if p.startswith("delivery ") else p for p in error.problems]
            form.add_problems(problems, FIELD_NAMES)
            refused = True
        else:
            messages.success(request, gettext("%(what)s : enregistré.") % {"what": title})
            return redirect("backoffice:file", licence.pk)
    return render(
        request,
        "backoffice/record.html",
        {"form": form, "licence": licence, "title": title, "kind": kind},
        # A form that does not read: 400; a decision the national file refuses (the law, the file's state): 422.
        status=422 if refused else 400 if form.errors else 200,
    )


# -- corrections --------------------------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
@role_required(*STAFF)
@file_page(("identité", "numéros du permis", "historique"))
def correct(request: HttpRequest, licence: Licence, purpose: tuple[str, str], pk: int) -> HttpResponse:
    """Agent 1: the corrected values of an event (``?evenement=<seq>``) and the reason; a second agent decides.
    Without an event, the list of the events that can be corrected. ``?demande=<pk>``: started from a holder's
    request of this licence (``holder_request_views``), which the correction then answers."""
    seq = request.GET.get("evenement", "")
    asked = _holder_request_of(request, licence)
    if not seq:
        return render(
            request,
            "backoffice/correct_choose.html",
            {"licence": licence, "history": _history(licence), "asked": asked},
        )
    if not ascii_id(seq):
        raise Http404("no such event")
    target = get_object_or_404(Event, licence=licence, seq=int(seq))
    current = services.effective(target)
    if target.kind == EventKind.CORRECTION or current is None:
        raise Http404("this event cannot be corrected")
    initial = {}
    if asked is not None:
        initial["reason"] = gettext("Demande du titulaire %(ref)s du %(day)s") % {
            "ref": asked.reference,
            "day": timezone.localtime(asked.requested_at).strftime("%d/%m/%Y"),
        }
    form = CorrectionForm(
        request.POST if request.method == "POST" else None, values=current["data"], initial=initial
    )
    if request.method == "POST" and form.is_valid():
        replacement = (
            None if form.cleaned_data["void"] else {"kind": current["kind"], "data": form.corrected()}
        )
        if not form.errors:
            try:
                services.request_correction(
                    request.agent,  # type: ignore[attr-defined]
                    target,
                    replacement,
                    form.cleaned_data["reason"],
                    holder_request=asked,
                )
            except services.CorrectionRefused as error:
                form.add_problems(error.problems, source=None)
            except RegistryError as error:
                form.add_problems([form.on_field(problem) for problem in error.problems])
            else:
                messages.success(
                    request,
                    gettext(
                        "Demande de correction de l’événement %(seq)s enregistrée : un second agent doit l’examiner."
                    )
                    % {"seq": f"e{target.seq}"},
                )
                return redirect("backoffice:file", licence.pk)
    return render(
        request,
        "backoffice/correct.html",
        {"form": form, "licence": licence, "target": target, "current": current, "asked": asked},
    )


def _holder_request_of(request: HttpRequest, licence: Licence) -> HolderCorrectionRequest | None:
    """The holder's request named by ``?demande=<pk>``: one of this licence's (else 404), or None."""
    pk = request.GET.get("demande", "")
    if not pk:
        return None
    if not ascii_id(pk):
        raise Http404("no such request")
    return get_object_or_404(HolderCorrectionRequest, pk=int(pk), licence=licence)


@require_GET
@role_required(*STAFF)
def corrections(request: HttpRequest) -> HttpResponse:
    """The corrections waiting for a second agent (of the files the agent may see), and the last decided.

    A work queue, not a read of files: no licence number, event values or reasons (free text about the holder),
    so no purpose to state and no access-log entry; the file's data is on the review page, behind its purpose
    and logged (``review``)."""
    agent: AgentProfile = request.agent  # type: ignore[attr-defined]
    pending = (
        CorrectionRequest.objects.filter(status=CorrectionStatus.PENDING)
        .filter(licence__holder__in=Holder.objects.filter(holders_visible_to(agent)))
        .select_related("licence", "target", "requested_by", "holder_request")
        .order_by("requested_at")
    )
    decided = (
        CorrectionRequest.objects.exclude(status=CorrectionStatus.PENDING)
        .filter(licence__holder__in=Holder.objects.filter(holders_visible_to(agent)))
        .select_related("target", "requested_by", "reviewed_by")
        .order_by("-reviewed_at")[:20]
    )
    # The holders' requests of the agent's files waiting for an agent, or for the second agent's decision.
    from_holders = (
        HolderCorrectionRequest.objects.filter(
            status__in=[HolderRequestStatus.PENDING, HolderRequestStatus.IN_PROGRESS]
        )
        .filter(licence__holder__in=Holder.objects.filter(holders_visible_to(agent)))
        .select_related("licence")
        .order_by("requested_at")
    )
    return render(
        request,
        "backoffice/corrections.html",
        {"pending": pending, "decided": decided, "from_holders": from_holders},
    )


@require_http_methods(["GET", "POST"])
@role_required(*STAFF)
def review(request: HttpRequest, pk: int) -> HttpResponse:
    """Agent 2 approves (the correction event is appended) or rejects with the reason. The page shows the file's
    identity, number and event: the purpose is stated first (the purpose page, then back here), and each GET
    is logged with it."""
    correction = get_object_or_404(
        CorrectionRequest.objects.select_related(
            "licence__holder", "target", "requested_by", "holder_request"
        ),
        pk=pk,
    )
    licence = _licence_for(request, correction.licence_id)
    purpose = _purpose_for(request, licence)
    if purpose is None:  # the reviewer reads the file: they say why first, like any page of a file
        target = urlencode({"next": request.get_full_path()})
        return redirect(f"{reverse('backoffice:purpose', args=[licence.pk])}?{target}")
    form = ReviewForm(request.POST if request.method == "POST" else None)
    own = correction.requested_by_id == request.user.pk
    if request.method == "GET":
        _log(
            request,
            licence.holder,
            licence,
            purpose,
            ["identité", "numéros du permis", "correction demandée"],
        )
    if request.method == "POST" and form.is_valid():
        try:
            services.review_correction(
                request.agent,  # type: ignore[attr-defined]
                correction,
                approve=form.cleaned_data["decision"] == "approve",
                reason=form.cleaned_data["review_reason"],
            )
        except services.CorrectionRefused as error:
            form.add_problems(error.problems, source=None)
        except RegistryError as error:
            form.add_problems(error.problems)
        else:
            done = gettext("Correction approuvée : l’événement de correction est inscrit à l’historique.")
            if form.cleaned_data["decision"] != "approve":
                done = gettext("Demande de correction rejetée.")
            messages.success(request, done)
            return redirect("backoffice:corrections")
    before = flatten((services.effective(correction.target) or {"data": {}})["data"])
    after = flatten(correction.replacement["data"]) if correction.replacement else None
    keys = list(dict.fromkeys([*before, *(after or {})]))
    rows = [(key, before.get(key, "—"), (after or {}).get(key, "—")) for key in keys]
    return render(
        request,
        "backoffice/review.html",
        {
            "form": form,
            "correction": correction,
            "licence": licence,
            "own": own,
            "rows": rows,
            "void": after is None,
        },
    )


# -- course centres -----------------------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
@role_required(*STAFF)
def centres(request: HttpRequest) -> HttpResponse:
    """Approve a course centre, and see the approved and withdrawn ones."""
    agent: AgentProfile = request.agent  # type: ignore[attr-defined]
    form = CentreForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if not can_manage_centre(agent, data["departement"]):
            form.add_error("departement", _("Ce département n’est pas l’un des vôtres."))
        else:
            try:
                centre = approve_centre(**data)
            except CourseError as error:
                form.add_problems([f"{error.field}: {error.message}"], source=None)
            else:
                messages.success(request, gettext("Centre « %(name)s » agréé.") % {"name": centre.name})
                return redirect("backoffice:centres")
    rows = CourseCentre.objects.annotate(sessions_count=Count("sessions")).order_by("departement", "name")
    return render(
        request,
        "backoffice/centres.html",
        {
            "form": form,
            "centres": [(c, can_manage_centre(agent, c.departement)) for c in rows],
            "today": today(),
            "withdraw_form": WithdrawForm(initial={"on": today()}),
        },
    )


@require_http_methods(["GET", "POST"])
@role_required(*STAFF)
def withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    centre = get_object_or_404(CourseCentre, pk=pk)
    if not can_manage_centre(request.agent, centre.departement):  # type: ignore[attr-defined]
        raise PermissionDenied("this centre is not in one of your départements")
    form = WithdrawForm(request.POST if request.method == "POST" else None, initial={"on": today()})
    if request.method == "POST" and form.is_valid():
        try:
            withdraw_centre(centre, form.cleaned_data["on"])
        except CourseError as error:
            form.add_problems([f"{error.field}: {error.message}"], source=None)
        else:
            messages.success(
                request, gettext("Agrément du centre « %(name)s » retiré.") % {"name": centre.name}
            )
            return redirect("backoffice:centres")
    return render(request, "backoffice/withdraw.html", {"form": form, "centre": centre})


# -- supervisors --------------------------------------------------------------------------------------------------
@require_GET
@role_required("supervisor")
def dashboard(request: HttpRequest) -> HttpResponse:
    """Volumes of events, letters and deliveries; failed deliveries; pending corrections (numbered, without
    their files' data: like the corrections' list, see ``corrections``); integrity reports."""
    since = timezone.now() - dt.timedelta(days=30)
    events = dict(
        Event.objects.filter(recorded_at__gte=since).values_list("kind").annotate(n=Count("pk")).order_by()
    )
    event_rows = [(label, events.get(value, 0)) for value, label in EventKind.choices]
    notices = dict(Notice.objects.values_list("code").annotate(n=Count("pk")).order_by())
    figures = delivery_stats()
    return render(
        request,
        "backoffice/dashboard.html",
        {
            "event_rows": event_rows,
            "events_total": sum(events.values()),
            "notice_rows": sorted(notices.items()),
            "notices_pending": Notice.objects.filter(status="pending").count(),
            # Holders' correction requests no agent has taken up yet (all départements: the supervisor's view).
            "holder_requests_pending": HolderCorrectionRequest.objects.filter(
                status=HolderRequestStatus.PENDING
            ).count(),
            "figures": figures,
            "failed_statuses": [DeliveryStatus.FAILED.label],
            "pending": CorrectionRequest.objects.filter(status=CorrectionStatus.PENDING)
            .select_related("target", "requested_by")
            .order_by("requested_at")[:50],
            "reports": IntegrityReport.objects.all()[:5],
        },
    )


@require_GET
@role_required("supervisor", "auditor")
def integrity(request: HttpRequest) -> HttpResponse:
    """The reports of ``permis verify``: the supervisors' and the auditors' page."""
    return render(request, "backoffice/integrity.html", {"reports": IntegrityReport.objects.all()[:50]})


@require_POST
@role_required(*STAFF)
def forget_purpose(request: HttpRequest, pk: int) -> HttpResponse:
    """Close a file: its purpose is forgotten, opening it again asks for one."""
    _licence_for(request, pk)  # a file of the agent's départements only, like every page of a file
    purposes = _purposes(request)
    purposes.pop(str(pk), None)
    request.session[SESSION_PURPOSES] = purposes
    search = request.session.get(SESSION_SEARCH)
    if search and pk in search.get("ids", []):
        search["ids"] = [i for i in search["ids"] if i != pk]
        request.session[SESSION_SEARCH] = search
    return redirect("backoffice:search")
