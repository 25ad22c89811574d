"""The holder's errands in the personal space: letters, how they arrive, documents, courses, share codes, and
who consulted the file.

Every view is declared ``@holder_required`` and reads ``request.holder``'s data only: an id in the URL (a
letter, a licence, a share code) is looked up *within* the holder's rows, so another holder's id is a 404 that
says nothing about whether it exists (ARCHITECTURE.md, rule 8).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.mail import send_mail
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from permis.accounts.access import holder_required
from permis.accounts.models import Account
from permis.audit import services as audit
from permis.courses import services as course_services
from permis.notices import confirmation, legal, preferences
from permis.notices.documents import render_attestation, render_letter, render_rii
from permis.notices.models import AddressConfirmation, Channel, Delivery, DeliveryStatus
from permis.portal.dates import long_date, long_datetime
from permis.portal.labels import letter_label
from permis.registry.models import CURRENT_LICENCE_FIRST, Holder, Licence, Movement, Notice, NoticeChannel
from permis.registry.services import today

from .forms import PostcodeForm, PreferencesForm, ShareForm

logger = logging.getLogger(__name__)

NOTICES_PER_PAGE = 20
ACCESS_PER_PAGE = 25


def _pdf(content: bytes, filename: str, *, download: bool) -> HttpResponse:
    """A PDF for the holder only: never cached by a shared cache or kept by the browser, named safely."""
    response = HttpResponse(content, content_type="application/pdf")
    disposition = "attachment" if download else "inline"
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in filename)
    response["Content-Disposition"] = f'{disposition}; filename="{safe}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _language() -> str:
    language = (get_language() or "fr")[:2]
    return language if language in preferences.LANGUAGES else "fr"


# -- letters ---------------------------------------------------------------------------------------------------
@dataclass
class Letter:
    """A letter as the holder sees it: what it is about, how it came, and the dates the law reads."""

    notice: Notice
    label: str
    deliveries: list[Delivery]
    account: Delivery | None = None
    registered: Delivery | None = None
    received_on: dt.date | None = None
    legal_channel: str = ""

    @property
    def notified_later(self) -> bool:
        """Not notified yet: the date is the day the law will deem it received, unless opened before."""
        return self.received_on is not None and self.received_on > today()

    @property
    def rows(self) -> list[tuple[Delivery, str]]:
        """Each delivery with its state as the holder reads it (``delivery_state``)."""
        return [(delivery, delivery_state(delivery)) for delivery in self.deliveries]

    @property
    def opening_notifies(self) -> bool:
        """Opening the letter (its PDF) will be its notification: an electronic notice not opened yet."""
        return (
            self.legal_channel == Channel.ACCOUNT
            and self.account is not None
            and self.account.made_available_at is not None
            and self.account.first_opened_at is None
        )

    @property
    def sent_by_post_instead(self) -> bool:
        """The email alert failed for good before the letter was opened: it went by post instead
        (``permis.notices.services.fall_back_to_post``), and the account no longer dates it."""
        return (
            self.account is not None
            and self.legal_channel != Channel.ACCOUNT
            and self.notice.code not in legal.REGISTERED_CODES
        )

    @property
    def filename(self) -> str:
        return f"lettre-{self.notice.code}-{self.notice.due_on.isoformat()}-{self.notice.pk}.pdf"


# A delivery that is done, as the holder reads it on each channel: a letter by post is only handed to the printer
# and the post (its arrival is the registered letter's receipt, or unknown for a simple letter).
DONE_LABELS = {
    Channel.POST: gettext_lazy("Confiée à l’imprimeur pour envoi par la poste"),
    Channel.REGISTERED: gettext_lazy("Confiée à l’imprimeur pour envoi par la poste"),
    Channel.ACCOUNT: gettext_lazy("Mise à disposition"),
    Channel.EMAIL: gettext_lazy("Envoyé"),
    Channel.SMS: gettext_lazy("Envoyé"),
}


def delivery_state(delivery: Delivery) -> str:
    if delivery.status == DeliveryStatus.DELIVERED:
        return str(DONE_LABELS.get(delivery.channel, delivery.get_status_display()))
    return str(delivery.get_status_display())


def _invalidations_notified(notices: list[Notice]) -> dict[int, dt.date]:
    """Each 48SI of `notices` -> the day the file says it was notified (the licence's invalidation).

    The notification is in the file as an event (``invalidation_notified``, written by the postal receipt or
    recorded by an agent), and the engine dates the invalidation from it: its ``invalidation`` movement. Each
    such day belongs to the latest 48SI of the licence dated on or before it. One query for a page of letters.
    """
    letters = [notice for notice in notices if notice.code == "48SI"]
    if not letters:
        return {}
    days = Movement.objects.filter(
        licence_id__in={notice.licence_id for notice in letters}, kind="invalidation"
    ).values_list("licence_id", "on")
    all_48si = Notice.objects.filter(
        licence_id__in={notice.licence_id for notice in letters}, code="48SI"
    ).values_list("pk", "licence_id", "due_on")
    notified: dict[int, dt.date] = {}
    for licence_id, day in days:
        dated = [(due_on, pk) for pk, lic, due_on in all_48si if lic == licence_id and due_on <= day]
        if dated:
            pk = max(dated)[1]
            notified[pk] = min(day, notified.get(pk, day))
    return notified


def _letter(notice: Notice, notified: dict[int, dt.date] | None = None) -> Letter:
    """`notified`: the 48SI notification days the file records (``_invalidations_notified``), if read already."""
    deliveries = sorted(notice.deliveries.all(), key=lambda d: list(Channel.values).index(d.channel))
    by_channel = {d.channel: d for d in deliveries}
    legal_channel = legal.legal_channel(notice.code, by_channel)  # a 48M by post: its registered letter
    legal_delivery = by_channel.get(legal_channel) if legal_channel else None
    received = legal.received_on(legal_delivery) if legal_delivery is not None else None
    if received is None and notice.code == "48SI":
        # The notification recorded in the file (an agent's entry, or a receipt before any delivery row).
        if notified is None:
            notified = _invalidations_notified([notice])
        received = notified.get(notice.pk)
    return Letter(
        notice=notice,
        label=letter_label(notice.code),
        deliveries=deliveries,
        account=by_channel.get(Channel.ACCOUNT),
        registered=by_channel.get(Channel.REGISTERED),
        received_on=received,
        # A registered letter (48N, 48SI) always has a legal date, its receipt, even before it is sent.
        legal_channel=legal_channel,
    )


def _holder_notices(holder: Holder):
    """The holder's letters that exist (due today or before), whatever licence of the holder they concern."""
    return (
        Notice.objects.filter(licence__holder=holder, due_on__lte=today())
        .select_related("licence")
        .prefetch_related("deliveries")
        .order_by("-due_on", "-pk")
    )


def _own_notice(request: HttpRequest, notice_id: int) -> Notice:
    return get_object_or_404(_holder_notices(request.holder), pk=notice_id)  # type: ignore[attr-defined]


def _record_opening(notice: Notice) -> None:
    """The holder opened the letter in the account: the first opening is its notification (R223-3-1)."""
    delivery = Delivery.objects.filter(
        notice=notice, channel=Channel.ACCOUNT, made_available_at__isnull=False, first_opened_at__isnull=True
    ).first()
    if delivery is None:
        return
    try:
        legal.open_notice(delivery, timezone.now())
    except legal.LegalError:
        # Only a clock behind the worker's makes "now" earlier than the making available; the letter is shown
        # anyway, and the next opening records it.
        return


@require_safe
@holder_required
def notices(request: HttpRequest) -> HttpResponse:
    page = Paginator(_holder_notices(request.holder), NOTICES_PER_PAGE).get_page(request.GET.get("page"))  # type: ignore[attr-defined]
    notified = _invalidations_notified(list(page.object_list))
    letters = [_letter(notice, notified) for notice in page.object_list]
    return render(
        request,
        "portal/demarches/notices.html",
        {"letters": letters, "page": page, "holder": request.holder},  # type: ignore[attr-defined]
    )


@require_safe
@holder_required
def notice(request: HttpRequest, notice_id: int) -> HttpResponse:
    # This page shows the letter's title and its deliveries, not the letter: seeing it is not consulting the
    # letter (R223-3-1: the decision is notified when the holder first consults it), so it records no opening;
    # only the letter itself does (``notice_pdf``), and the page says so before the holder opens it.
    item = _own_notice(request, notice_id)
    return render(request, "portal/demarches/notice.html", {"letter": _letter(item)})


@require_safe
@holder_required
def notice_pdf(request: HttpRequest, notice_id: int) -> HttpResponse:
    item = _own_notice(request, notice_id)
    # The letter itself, read or downloaded: its first opening is its notification (R223-3-1). A HEAD is not one.
    # Made before the opening is recorded: a letter that could not be produced has not been opened.
    document = render_letter(item, language=_language())
    if request.method == "GET":
        _record_opening(item)
    letter = _letter(item)
    return _pdf(document, letter.filename, download="download" in request.GET)


# -- preferences -----------------------------------------------------------------------------------------------
def _recorded_by_label(recorded_by: str) -> str:
    if recorded_by.startswith("holder"):
        return _("Vous, dans votre espace personnel")
    if recorded_by.startswith("agent"):
        return _("Un agent de la préfecture, à votre demande")
    return _("Le service")


def _text_language(version: str, language: str) -> str:
    """`language` if the consent text `version` exists in it, else French (every version has its French text)."""
    try:
        preferences.consent_text(version, language)
    except preferences.PreferenceError:
        return "fr"
    return language


def _verified_addresses(request: HttpRequest) -> list[str]:
    """The signed-in local account's address, proven by the account's verification link. A FranceConnect
    account's address is the identity provider's, never checked (permis.notices.confirmation says why)."""
    verified = Account.objects.filter(
        user_id=request.user.pk, franceconnect_sub__isnull=True, email_verified_at__isnull=False
    ).exists()
    return [request.user.email] if verified and request.user.email else []


def _send_confirmation(request: HttpRequest, row: AddressConfirmation, token: str) -> None:
    """The email with the link, to the address to confirm, in the page's language. It names no holder: it may
    reach a stranger, whose one safe course is to ignore it (the link needs the holder's account)."""
    link = request.build_absolute_uri(reverse("demarches:preferences_confirm", args=[token]))
    body = render_to_string(
        "portal/demarches/email/confirm_address.txt",
        {"link": link, "expires_at": row.expires_at, "site": request.build_absolute_uri("/")},
        request=request,
    )
    send_mail(_("Confirmez votre adresse pour recevoir vos lettres en ligne"), body, None, [row.email])


def _pending_message(holder: Holder, row: AddressConfirmation) -> str:
    """What the holder reads after asking: where the link went, and that nothing changes until it is followed."""
    sent = _(
        "Un courriel vient d’être envoyé à %(email)s : ouvrez le lien qu’il contient pour confirmer cette adresse "
        "(il est valable jusqu’au %(date)s)."
    ) % {"email": row.email, "date": long_datetime(row.expires_at)}
    if holder.notice_channel == NoticeChannel.ELECTRONIC:
        return " ".join(
            (
                sent,
                _(
                    "D’ici là, rien ne change : vos lettres arrivent dans votre espace personnel, signalées à "
                    "votre adresse actuelle."
                ),
            )
        )
    return " ".join((sent, _("D’ici là, vos lettres continuent d’arriver par la poste.")))


@require_http_methods(["GET", "HEAD", "POST"])
@holder_required
def preferences_view(request: HttpRequest) -> HttpResponse:
    holder: Holder = request.holder  # type: ignore[attr-defined]
    language = _language()
    versions = {kind: preferences.current_version(kind) for kind in preferences.KINDS}
    # Each consent text is a versioned legal document: shown in the page's language when that version exists
    # in it, else in French, marked so (a screen reader switches voice), and accepted in the language shown.
    text_languages = {kind: _text_language(versions[kind], language) for kind in preferences.KINDS}
    texts = {
        kind: preferences.consent_text(versions[kind], text_languages[kind]) for kind in preferences.KINDS
    }
    initial = {
        "channel": holder.notice_channel,
        "email": holder.email,
        "sms": holder.sms_alerts,
        "phone": holder.phone,
    }
    unsent = False
    if request.method == "POST":
        form = PreferencesForm(request.POST, initial=initial)
        valid = form.is_valid()
        data = form.cleaned_data
        # The service's checks (email, phone, SMS) run even when the form has errors of its own (the consent box
        # not ticked), checking only then: every problem is reported at once, not in two rounds.
        if all(name in data for name in ("channel", "email", "phone")):
            electronic = data["channel"] == "electronic"
            kind = "electronic" if electronic else "post"
            choice = {
                "sms": bool(data.get("sms")),
                "email": data["email"],
                "phone": data["phone"],
                "accepted_text_version": versions[kind],
                "recorded_by": f"holder:{holder.pk}",
                "language": text_languages[kind],
            }
            try:
                # Letters deemed received at an address typed wrong: an address not proven to be the holder's
                # waits for its confirmation link (permis.notices.confirmation); nothing changes before.
                if (
                    valid
                    and electronic
                    and not confirmation.is_proven(holder, data["email"], _verified_addresses(request))
                ):
                    try:
                        row, _token = confirmation.request(
                            holder, **choice, mail=lambda row, token: _send_confirmation(request, row, token)
                        )
                    except preferences.PreferenceError:
                        raise
                    except Exception:
                        # No mail server: the new request is closed (its link exists nowhere); an earlier one,
                        # already mailed, still works.
                        logger.exception(
                            "the confirmation link of holder %s's address could not be mailed", holder.pk
                        )
                        unsent = True
                        form.add_error(
                            None,
                            _(
                                "Le courriel de confirmation n’a pas pu être envoyé : rien n’a changé. Réessayez "
                                "dans quelques minutes."
                            ),
                        )
                    else:
                        messages.success(request, _pending_message(holder, row))
                        return redirect("demarches:preferences")
                else:
                    preferences.set_preferences(holder, electronic=electronic, check_only=not valid, **choice)
            except preferences.PreferenceError as error:
                form.add_problems(error.by_field)
            else:
                if valid and not unsent:
                    if electronic:
                        messages.success(
                            request,
                            _(
                                "Votre choix est enregistré : vos prochaines lettres arriveront dans votre espace "
                                "personnel."
                            ),
                        )
                    else:
                        messages.success(
                            request,
                            _("Votre choix est enregistré : vos prochaines lettres arriveront par la poste."),
                        )
                    return redirect("demarches:preferences")
    else:
        form = PreferencesForm(initial=initial)
    history = [
        {"row": row, "by": _recorded_by_label(row.recorded_by)}
        for row in reversed(preferences.history(holder))
    ]
    waiting = confirmation.pending(holder)
    return render(
        request,
        "portal/demarches/preferences.html",
        {
            "form": form,
            "holder": holder,
            "texts": texts,
            # The language of each text when it is not the page's (a French-only version on an English page).
            "text_lang": {kind: lang for kind, lang in text_languages.items() if lang != language},
            "versions": versions,
            "history": history,
            "pending": waiting,
            "deemed_after_days": legal.deemed_after_days(today()),
        },
        # A choice refused: the page again, with its errors; the mail server down: 503, nothing changed.
        status=503 if unsent else 400 if form.errors else 200,
    )


@require_http_methods(["GET", "HEAD", "POST"])
@holder_required
def preferences_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The link of the confirmation email: the choice waiting for it, and a button that records it (a GET
    changes nothing: mail filters open links, and the holder sees what they confirm). Only the holder who asked,
    signed in, can confirm (permis.notices.confirmation): another holder's link is as unknown as a damaged one."""
    holder: Holder = request.holder  # type: ignore[attr-defined]
    try:
        row = confirmation.find(token, holder)
        if request.method == "POST":
            confirmation.confirm(token, holder)
            messages.success(
                request,
                _(
                    "Votre adresse est confirmée et votre choix est enregistré : vos prochaines lettres arriveront "
                    "dans votre espace personnel."
                ),
            )
            return redirect("demarches:preferences")
    except confirmation.ConfirmationError as error:
        # Unknown: 400; a link that was good and no longer is (expired, used, replaced): 410 Gone.
        status = 400 if error.reason == "invalid" else 410
        return render(
            request, "portal/demarches/preferences_confirm.html", {"failed": error.reason}, status=status
        )
    except preferences.PreferenceError as error:
        return render(
            request,
            "portal/demarches/preferences_confirm.html",
            {
                "failed": "refused",
                "problems": [reason for reasons in error.by_field.values() for reason in reasons],
            },
            status=400,
        )
    return render(request, "portal/demarches/preferences_confirm.html", {"row": row, "holder": holder})


# -- documents -------------------------------------------------------------------------------------------------
def _holder_licences(holder: Holder):
    return Licence.objects.filter(holder=holder).order_by(*CURRENT_LICENCE_FIRST)


@require_safe
@holder_required
def documents(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "portal/demarches/documents.html",
        {"licences": list(_holder_licences(request.holder)), "today": today()},  # type: ignore[attr-defined]
    )


@require_safe
@holder_required
def document_pdf(request: HttpRequest, licence_id: int, kind: str) -> HttpResponse:
    licence = get_object_or_404(_holder_licences(request.holder), pk=licence_id)  # type: ignore[attr-defined]
    on = today()
    if kind == "attestation":
        content, name = render_attestation(licence, on), "attestation-droits-a-conduire"
    elif kind == "rii":
        content, name = render_rii(licence, on), "releve-integral"
    else:
        raise Http404
    return _pdf(content, f"{name}-{licence.number}-{on.isoformat()}.pdf", download=True)


# -- courses ---------------------------------------------------------------------------------------------------
def _euros(cents: int) -> str:
    euros, rest = divmod(cents, 100)
    return f"{euros} €" if rest == 0 else f"{euros},{rest:02d} €"


def _about_km(km: float | None) -> str:
    """A distance between two départements' préfectures as a reader takes it: to 5 km under 100 km, to 10 km
    beyond (never 0: another département is never "0 km" away), grouped as the language writes thousands;
    "" when the centre's département has no reference point."""
    if km is None:
        return ""
    step = 5 if km < 100 else 10
    return number_format(max(step, round(km / step) * step), force_grouping=True)


def _eligibility_reason(eligibility: course_services.Eligibility, on: dt.date) -> str:
    """The service's reason with its day written as the pages write dates (``long_date``: 3 décembre 2026,
    December 3, 2026), not 03/12/2026, which an English reader takes for March 12."""
    reasons = course_services.REASONS
    day = {"eligible": on, "yearly_limit": eligibility.from_date}.get(eligibility.code)
    if eligibility.code not in reasons or (eligibility.code in ("eligible", "yearly_limit") and day is None):
        return eligibility.reason
    reason = str(reasons[eligibility.code]).format(day=long_date(day) if day else "")
    if eligibility.mandatory_48n:
        reason = f"{reasons['mandatory']} {reason}"
    return reason


@require_safe
@holder_required
def courses(request: HttpRequest) -> HttpResponse:
    holder: Holder = request.holder  # type: ignore[attr-defined]
    on = today()
    licence = _holder_licences(holder).first()
    eligibility = course_services.eligibility(licence, on) if licence is not None else None
    searched = "postcode" in request.GET
    if searched:
        form = PostcodeForm(request.GET)
        postcode = form.cleaned_data["postcode"] if form.is_valid() else None
    else:
        form = PostcodeForm(initial={"postcode": holder.postal_code})
        postcode = holder.postal_code if PostcodeForm({"postcode": holder.postal_code}).is_valid() else None
    nearby: list[dict[str, Any]] = []
    elsewhere: list[dict[str, Any]] = []
    departement = ""
    if postcode:
        try:
            departement = course_services.departement_of(postcode)
            sessions = course_services.sessions_near(postcode, on, limit=30)
        except course_services.CourseError as error:
            form.add_error("postcode", error.message)
            sessions = []
        for session in sessions:
            here = session.centre.departement == departement
            row = {
                "session": session,
                "centre": session.centre,
                "price": _euros(session.price_cents),
                "here": here,
                "km": "" if here else _about_km(session.distance_km),
            }
            (nearby if here else elsewhere).append(row)
    return render(
        request,
        "portal/demarches/courses.html",
        {
            "licence": licence,
            "eligibility": eligibility,
            "eligibility_reason": _eligibility_reason(eligibility, on) if eligibility is not None else "",
            "form": form,
            "postcode": postcode,
            "departement": departement,
            "nearby": nearby,
            "elsewhere": elsewhere,
        },
        # A searched postcode that is not one, or of no département: 400. The file's own postcode is not a search.
        status=400 if searched and form.errors else 200,
    )


# -- share codes -----------------------------------------------------------------------------------------------
def _share_page(request: HttpRequest, form: ShareForm, created: dict[str, Any] | None = None) -> HttpResponse:
    """The page of share codes; 400 when ``form`` comes back with errors (a code refused)."""
    holder: Holder = request.holder  # type: ignore[attr-defined]
    summaries = audit.shares_of(holder)
    shares = [
        {"summary": summary, "uses": list(audit.share_uses(holder, summary.share.pk)[:20])}
        for summary in summaries
    ]
    response = render(
        request,
        "portal/demarches/share.html",
        {"form": form, "shares": shares, "created": created, "max_days": audit.MAX_SHARE_DAYS},
        status=400 if form.errors else 200,
    )
    response["Cache-Control"] = "private, no-store"  # the new code is on this page, once
    return response


@require_http_methods(["GET", "HEAD", "POST"])
@holder_required
def share(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = ShareForm(request.POST)
        if form.is_valid():
            try:
                row, code = audit.create_share(
                    request.holder,  # type: ignore[attr-defined]
                    form.cleaned_data["days"],
                    form.cleaned_data["label"],
                )
            except audit.AuditError as error:
                form.add_error("days" if error.field == "days" else None, error.message)
            else:
                return _share_page(request, ShareForm(), {"share": row, "code": code})
        return _share_page(request, form)
    return _share_page(request, ShareForm())


@require_POST
@holder_required
def share_revoke(request: HttpRequest, share_id: int) -> HttpResponse:
    try:
        row = audit.revoke_share(request.holder, share_id)  # type: ignore[attr-defined]
    except audit.AuditError:
        raise Http404 from None  # another holder's code, or none: the same answer
    messages.success(request, _("Le code se terminant par « %(hint)s » est révoqué.") % {"hint": row.hint})
    return redirect("demarches:share")


# -- who consulted the file ------------------------------------------------------------------------------------
# What each entry says was shown, as stored (French, by each door that reads the file) -> in the page's language.
SHOWN_LABELS = {
    "identité": gettext_lazy("identité"),
    "numéro de permis": gettext_lazy("numéro de permis"),
    "numéros du permis": gettext_lazy("numéros du permis"),
    "catégories": gettext_lazy("catégories"),
    "validité": gettext_lazy("validité"),
    "suspension": gettext_lazy("suspension"),
    "solde": gettext_lazy("solde de points"),
    "solde de points": gettext_lazy("solde de points"),
    "historique": gettext_lazy("historique"),
    "adresse": gettext_lazy("adresse"),
    "code QR": gettext_lazy("code QR"),
    "attestation (code QR)": gettext_lazy("attestation (code QR)"),
    "éligibilité au stage": gettext_lazy("éligibilité au stage"),
    "déclaration de présence": gettext_lazy("déclaration de présence à un stage"),
    "demande de correction du titulaire": gettext_lazy("votre demande de correction"),
    "permis et catégories": gettext_lazy("permis et catégories"),
    "solde et statut": gettext_lazy("solde et état du permis"),
    "historique et mouvements": gettext_lazy("historique et mouvements"),
    "lettres et envois": gettext_lazy("lettres et envois"),
    "documents imprimés et codes de partage": gettext_lazy("documents imprimés et codes de partage"),
    "relevé d'information intégral (RII) imprimé": gettext_lazy(
        "relevé d’information intégral (RII) imprimé"
    ),
    "lettre envoyée (PDF)": gettext_lazy("lettre envoyée (PDF)"),
    "attestation des droits à conduire imprimée": gettext_lazy("attestation des droits à conduire imprimée"),
    "concordance du document avec le dossier actuel": gettext_lazy(
        "concordance du document avec le dossier actuel"
    ),
    "journal des consultations du dossier (qui, quand, pourquoi, ce qui a été vu)": gettext_lazy(
        "journal des consultations du dossier (qui, quand, pourquoi, ce qui a été vu)"
    ),
    "dossier complet": gettext_lazy("tout le dossier (compte rattaché)"),  # permis.accounts.linking
}

# The authors' labels are stored in French when the entry is written (the log is append-only and hash-chained,
# never rewritten): the ones the service writes itself are said again in the page's language; any other (a
# person's or an organisation's name) is shown as stored, marked French for screen readers (WCAG 3.1.2).
_ACTOR_PATTERNS = [
    (
        re.compile(r"Compte FranceConnect de (?P<name>.*) \(rattaché automatiquement, identité vérifiée\)"),
        gettext_lazy("Compte FranceConnect de %(name)s (rattaché automatiquement, identité vérifiée)"),
    ),
    (
        re.compile(r"Compte FranceConnect de (?P<name>.*) \(numéros du permis saisis, identité vérifiée\)"),
        gettext_lazy("Compte FranceConnect de %(name)s (numéros du permis saisis, identité vérifiée)"),
    ),
    (
        re.compile(r"Compte personnel (?P<name>.*) \(numéros du permis saisis, adresse vérifiée\)"),
        gettext_lazy("Compte personnel %(name)s (numéros du permis saisis, adresse vérifiée)"),
    ),
    (
        re.compile(r"Personne non identifiée ayant vérifié un document sur la page publique de vérification"),
        gettext_lazy(
            "Personne non identifiée ayant vérifié un document sur la page publique de vérification"
        ),
    ),
    (
        re.compile(
            r"Opérateur du service des permis de conduire \((?P<name>[^)]*)\), "
            r"(?:document édité par la )?commande « (?P<command>permis [^»]*) »"
        ),
        gettext_lazy("Opérateur du service des permis de conduire (%(name)s), commande « %(command)s »"),
    ),
    (
        re.compile(r"(?P<name>.*) \(agrément (?P<number>[^)]*)\)"),
        gettext_lazy("%(name)s (agrément %(number)s)"),
    ),
]


# An agent: "Name (role, service)" (permis.backoffice.models.Agent.label), the role one of AgentRole's labels.
_AGENT = re.compile(
    r"(?P<name>.*) \((?P<role>Agent de préfecture|Responsable de service|Auditeur)(?P<where>, .*)?\)"
)


def actor_in_words(label: str) -> tuple[str, str]:
    """An entry's stored author label in the page's language: (text, its language if it is not the page's)."""
    if _language() == "fr":
        return label, ""
    for pattern, words in _ACTOR_PATTERNS:
        match = pattern.fullmatch(label)
        if match is not None:
            return str(words) % match.groupdict(), ""
    agent = _AGENT.fullmatch(label)
    if agent is not None:
        role = _(agent["role"])  # AgentRole's label, a msgid of the catalogue
        return "%s (%s%s)" % (agent["name"], role, agent["where"] or ""), ""  # noqa: UP031
    return label, "fr"


@require_safe
@holder_required
def access_log(request: HttpRequest) -> HttpResponse:
    entries = audit.accesses_of(request.holder).select_related("licence")  # type: ignore[attr-defined]
    page = Paginator(entries, ACCESS_PER_PAGE).get_page(request.GET.get("page"))
    french = _language() != "fr"  # the stored texts left as they are are French on another language's page
    rows = [
        {
            "entry": entry,
            "shown": ", ".join(str(SHOWN_LABELS.get(item, item)) for item in entry.shown),
            "shown_lang": "fr" if french and any(item not in SHOWN_LABELS for item in entry.shown) else "",
            "actor": actor_in_words(entry.actor_label),
            # What the person typed or the service wrote as the reason's details: stored in French.
            "detail_lang": "fr" if french else "",
        }
        for entry in page.object_list
    ]
    return render(
        request,
        "portal/demarches/access_log.html",
        {"rows": rows, "page": page},
    )
