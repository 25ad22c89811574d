"""The public page that checks a document of the service (``/verifier/``): paste the QR text or upload the PDF.

Anyone may use it (an employer, a rental firm, a police officer, the holder): it says whether the document is
genuine, in date and still true, and shows the signed facts. An attestation's facts never include points
(L223-7); the page only shows what the document itself carries. A check that consulted the file (whether the
document still matches it) is written to the holder's access log, as the API's check is
(``permis.notices.documents.access.log_check``).
"""

from __future__ import annotations

from django import forms
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from permis.audit.models import Channel
from permis.config.access import public
from permis.notices import signing
from permis.notices.documents.access import log_check
from permis.portal.forms import DsfrFormMixin

MAX_UPLOAD = 5 * 1024 * 1024  # a signed letter is about 40 kB, an RII of 50 lines about 100 kB
MAX_TEXT = 4000  # a QR code holds at most 2,953 bytes
PDF_TYPES = {"application/pdf", "application/x-pdf"}

VERDICT_STYLE = {
    signing.Outcome.VALID: "success",
    signing.Outcome.EXPIRED: "warning",
    signing.Outcome.REVOKED: "warning",
    signing.Outcome.TAMPERED: "error",
    signing.Outcome.UNSIGNED: "error",
    signing.Outcome.UNKNOWN_KEY: "error",
}


class VerifyForm(DsfrFormMixin, forms.Form):
    qr_text = forms.CharField(
        label=_("Texte du code QR"),
        help_text=_("Le texte lu par votre application de lecture de codes QR ; il commence par PERMIS1."),
        required=False,
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "autocomplete": "off"}),
        error_messages={
            "max_length": _(
                "Ce texte est trop long pour venir d’un code QR (%(limit_value)d caractères au plus)."
            )
        },
    )
    document = forms.FileField(
        label=_("Ou le fichier PDF du document"),
        help_text=_("Format PDF, 5 Mo au plus."),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,.pdf"}),
    )

    def __init__(self, *args, too_large: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.too_large = too_large  # the request's size, when it was refused before being read
        self.fields["qr_text"].widget.attrs["class"] = "fr-input"
        self.fields["document"].widget.attrs["class"] = "fr-upload"

    def clean_qr_text(self) -> str:
        text = "".join(self.cleaned_data.get("qr_text", "").split())
        if text and not text.startswith(signing.PREFIX):
            raise forms.ValidationError(
                _("Ce texte ne vient pas d’un document de ce service : il devrait commencer par PERMIS1.")
            )
        if text and not text.startswith(signing.PREFIX + "."):
            # It does start with PERMIS1: say what is really wrong (the dot that follows it).
            raise forms.ValidationError(
                _(
                    "Ce texte est mal formé : le texte d’un code QR de ce service commence par « PERMIS1. », "
                    "avec un point après PERMIS1. Copiez-le de nouveau depuis votre application de lecture de "
                    "codes QR."
                )
            )
        return text

    def clean_document(self):
        upload = self.cleaned_data.get("document")
        if not upload:
            return None
        if upload.size > MAX_UPLOAD:
            raise forms.ValidationError(
                _("Ce fichier pèse %(size)s Mo ; la limite est de 5 Mo.")
                % {"size": f"{upload.size / 1048576:.1f}"}
            )
        if upload.size == 0:
            raise forms.ValidationError(_("Ce fichier est vide."))
        content_type = (upload.content_type or "").split(";")[0].strip().lower()
        head = upload.read(5)
        upload.seek(0)
        if content_type not in PDF_TYPES or head != b"%PDF-":
            raise forms.ValidationError(_("Ce fichier n’est pas un PDF. Déposez le fichier PDF du document."))
        return upload

    def clean(self):
        data = super().clean()
        if self.too_large:
            self.add_error(
                "document",
                _("Ce fichier pèse %(size)s Mo ; la limite est de 5 Mo.")
                % {"size": f"{self.too_large / 1048576:.1f}"},
            )
            return data
        if not self.errors and not data.get("qr_text") and not data.get("document"):
            raise forms.ValidationError(
                _("Collez le texte du code QR ou déposez le fichier PDF du document."), code="empty"
            )
        if data.get("qr_text") and data.get("document"):
            raise forms.ValidationError(
                _("Donnez soit le texte du code QR, soit le fichier PDF, pas les deux."), code="both"
            )
        return data


class LimitedUpload(FileUploadHandler):
    """Drops an uploaded file as soon as it exceeds MAX_UPLOAD, and notes its size on the request."""

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if start + len(raw_data) > MAX_UPLOAD:
            self.request.upload_too_large = max(
                start + len(raw_data), int(self.request.META.get("CONTENT_LENGTH") or 0)
            )
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handlers (memory or temporary file) keep the file


@public
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """Check a document; the answer comes on the same page, above the form, and works without JavaScript."""
    if request.method == "POST":
        # Installed before anything reads the body (hence csrf_exempt outside, csrf_protect inside, as Django's
        # documentation on upload handlers says): a file over the limit is dropped as it arrives, never stored.
        request.upload_handlers.insert(0, LimitedUpload(request))
    return _verify(request)


@csrf_protect
def _verify(request: HttpRequest) -> HttpResponse:
    verdict = None
    posted = request.POST if request.method == "POST" else None  # parse the body (LimitedUpload runs now)
    too_large = getattr(request, "upload_too_large", 0)
    if request.method == "POST" and too_large:
        form = VerifyForm({}, {}, too_large=too_large)
        form.is_valid()
    elif request.method == "POST":
        form = VerifyForm(posted, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data.get("document")
            if upload:
                verdict = signing.verify_pdf(upload.read())
            else:
                verdict = signing.verify(form.cleaned_data["qr_text"])
            log_check(
                verdict, channel=Channel.VERIFIER, request_id=request.headers.get("X-Request-Id", "")[:64]
            )
    else:
        form = VerifyForm()
    status = 400 if request.method == "POST" and form.errors else 200
    return render(
        request,
        "notices/verifier/verify.html",
        {
            "form": form,
            "verdict": verdict,
            "style": VERDICT_STYLE.get(verdict.outcome) if verdict else "",
            "errors": [
                {"anchor": f"id_{name}" if name != "__all__" else "verifier-form", "message": message}
                for name, messages in form.errors.items()
                for message in messages
            ],
        },
        status=status,
    )
