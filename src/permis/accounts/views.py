"""The accounts' pages: sign in (FranceConnect or a local account), sign up, verify, second factor, link the
licence, security (TOTP, recovery codes, connected applications, log out everywhere), log out. docs/accounts.md
tells the flows."""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.models import User
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from permis.config.access import public
from permis.digits import ascii_id
from permis.registry.models import Licence

from . import app_sessions, linking, oidc, second_factor, sessions, throttle, totp
from .access import account_required, holder_required
from .forms import CodeForm, LinkForm, LoginForm, ResendForm, SignupForm
from .models import Account, HolderLink, LinkMethod, RecoveryCode

logger = logging.getLogger(__name__)

VERIFY_SALT = "permis.accounts.verify-email"
VERIFY_MAX_AGE = 24 * 3600  # seconds: the verification link works for 24 hours
PENDING = "permis_2fa_pending"  # session: {"user": id, "at": time, "next": url} between password and code
PENDING_MAX_AGE = 300


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


def _locked(seconds: int) -> str:
    """The first words of every lockout: what happened and the minutes actually left (``throttle.wait``)."""
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Trop de tentatives ont échoué : par sécurité, réessayez dans %(minutes)d minute.",
        "Trop de tentatives ont échoué : par sécurité, réessayez dans %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


def _login_locked_message(request: HttpRequest, email: str) -> str:
    """The sign-in's lockout. A password reset lifts the account's lock (``PasswordResetConfirmView``), so the
    advice is given only when that lock is the one in the way, not the client address's (many failures from one
    address: another password would not help)."""
    text = _locked(throttle.wait("login", request, email))
    if throttle.address_locked("login", request):
        return text
    return " ".join(
        (
            text,
            _(
                "Si vous avez oublié votre mot de passe, réinitialisez-le : vous pourrez vous connecter aussitôt "
                "avec le nouveau."
            ),
        )
    )


def _code_locked_message(seconds: int) -> str:
    """The second factor's lockout: a new password would not lift it (the code is what failed)."""
    return " ".join(
        (
            _locked(seconds),
            _(
                "Vous pourrez alors saisir le code affiché par votre application ou l’un de vos codes de secours."
            ),
        )
    )


def _link_locked_message(seconds: int) -> str:
    """The linking's lockout, for every account (a FranceConnect account has no password)."""
    return " ".join(
        (
            _locked(seconds),
            _("Vous pourrez alors saisir de nouveau les numéros tels qu’ils figurent sur votre permis."),
        )
    )


# --- sign in -----------------------------------------------------------------------------------------------------


@public
@sensitive_post_parameters("password")
@never_cache
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = _next_url(request)
    if request.user.is_authenticated and request.method == "GET":
        return redirect(next_url or "accounts:home")
    form = LoginForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"].strip().lower()
        if throttle.locked("login", request, email):
            error = _login_locked_message(request, email)
        else:
            user = authenticate(request, username=email, password=form.cleaned_data["password"])
            if user is None or not Account.objects.filter(user=user).exists():
                throttle.fail("login", request, email)
                error = _(
                    "Adresse électronique ou mot de passe incorrect, ou adresse pas encore vérifiée. "
                    "Vérifiez votre saisie ou le lien reçu par courriel."
                )
            else:
                throttle.succeed("login", request, email)
                if user.account.totp_enabled:
                    request.session[PENDING] = {"user": user.pk, "at": int(time.time()), "next": next_url}
                    return redirect("accounts:totp_login")
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                return redirect(next_url or "accounts:home")
    return render(
        request,
        "accounts/login.html",
        {"form": form, "error": error, "next": next_url, "franceconnect": oidc.enabled()},
        status=400 if error or form.errors else 200,
    )


@public
@never_cache
def totp_login(request: HttpRequest) -> HttpResponse:
    pending = request.session.get(PENDING)
    user = None
    if pending and time.time() - pending["at"] <= PENDING_MAX_AGE:
        user = User.objects.select_related("account").filter(pk=pending["user"], is_active=True).first()
    if user is None:
        request.session.pop(PENDING, None)
        messages.info(request, _("Identifiez-vous de nouveau : la saisie du code a expiré."))
        return redirect("accounts:login")
    form = CodeForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        account_key = f"user-{user.pk}"
        if throttle.locked("totp", request, account_key):
            error = _code_locked_message(throttle.wait("totp", request, account_key))
        elif _check_second_factor(user, form.cleaned_data["code"]):
            throttle.succeed("totp", request, account_key)
            del request.session[PENDING]
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(pending.get("next") or "accounts:home")
        else:
            throttle.fail("totp", request, account_key)
            error = _(
                "Ce code n’est pas valable. Saisissez le code affiché maintenant par votre application."
            )
    return render(
        request,
        "accounts/totp_login.html",
        {"form": form, "error": error},
        status=400 if error or form.errors else 200,
    )


def _check_second_factor(user: User, code: str) -> bool:
    """The app's code or a recovery code (``permis.accounts.second_factor``, shared with the agents' sign-in)."""
    return second_factor.check_code(user.account, code) or second_factor.use_recovery_code(user, code)


# --- sign up and verify --------------------------------------------------------------------------------------------


def _send(request: HttpRequest, to: str, subject: str, template: str, context: dict[str, Any]) -> None:
    body = render_to_string(template, {**context, "site": request.build_absolute_uri("/")}, request=request)
    send_mail(subject, body, None, [to])


def _address_digest(email: str) -> str:
    """What a verification link carries of the address: a digest, so that the address is never in a URL (web
    server logs, browser history, a link forwarded), while a link made for another address still fails."""
    return hashlib.sha256(email.casefold().encode()).hexdigest()[:24]


def _send_verification(request: HttpRequest, user: User) -> None:
    token = signing.TimestampSigner(salt=VERIFY_SALT).sign(f"{user.pk}:{_address_digest(user.email)}")
    link = request.build_absolute_uri(reverse("accounts:verify", args=[token]))
    _send(
        request,
        user.email,
        _("Vérifiez votre adresse électronique"),
        "accounts/email/verify.txt",
        {"link": link},
    )


@public
@sensitive_post_parameters("password1", "password2")
@never_cache
def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        existing = User.objects.filter(username=email).first()
        if existing is None:
            with transaction.atomic():
                user = User.objects.create_user(
                    username=email, email=email, password=form.cleaned_data["password1"], is_active=False
                )
                Account.objects.create(user=user)
            _send_verification(request, user)
        elif (
            not existing.is_active
            and Account.objects.filter(user=existing, email_verified_at__isnull=True).exists()
        ):
            _send_verification(request, existing)
        else:
            # The page says the same thing either way: whether an address has an account stays private.
            _send(
                request,
                email,
                _("Votre compte existe déjà"),
                "accounts/email/exists.txt",
                {
                    "login": request.build_absolute_uri(reverse("accounts:login")),
                    "reset": request.build_absolute_uri(reverse("accounts:password_reset")),
                },
            )
        return render(request, "accounts/signup_done.html", {"email": email})
    return render(request, "accounts/signup.html", {"form": form}, status=400 if form.errors else 200)


@public
@never_cache
def verify(request: HttpRequest, token: str) -> HttpResponse:
    try:
        value = signing.TimestampSigner(salt=VERIFY_SALT).unsign(token, max_age=VERIFY_MAX_AGE)
    except signing.SignatureExpired:
        return render(
            request, "accounts/verify_failed.html", {"expired": True, "form": ResendForm()}, status=400
        )
    except signing.BadSignature:
        return render(
            request, "accounts/verify_failed.html", {"expired": False, "form": ResendForm()}, status=400
        )
    pk, _sep, address = value.partition(":")
    user = User.objects.filter(pk=pk).first() if ascii_id(pk) else None
    # The address's digest; links sent before the digest carried the address itself (valid three days).
    if user is not None and not constant_time_compare(
        _address_digest(user.email) if "@" not in address else user.email, address
    ):
        user = None
    if user is None:
        return render(
            request, "accounts/verify_failed.html", {"expired": False, "form": ResendForm()}, status=400
        )
    if not user.is_active:
        with transaction.atomic():
            user.is_active = True
            user.save(update_fields=["is_active"])
            Account.objects.filter(user=user, email_verified_at__isnull=True).update(
                email_verified_at=timezone.now()
            )
    messages.success(request, _("Votre adresse électronique est vérifiée : vous pouvez vous connecter."))
    return redirect("accounts:login")


@public
@never_cache
def resend(request: HttpRequest) -> HttpResponse:
    form = ResendForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"].strip().lower()
        if not throttle.locked("resend", request, email):
            throttle.fail(
                "resend", request, email
            )  # counts sends, so the link cannot be used to flood a mailbox
            user = User.objects.filter(
                username=email, is_active=False, account__email_verified_at__isnull=True
            ).first()
            if user is not None:
                _send_verification(request, user)
        return render(request, "accounts/signup_done.html", {"email": email})
    return render(
        request,
        "accounts/verify_failed.html",
        {"expired": False, "form": form, "resend": True},
        status=400 if form.errors else 200,
    )


# --- after login --------------------------------------------------------------------------------------------------


@account_required
def home(request: HttpRequest) -> HttpResponse:
    """Where a holder lands after signing in: the file's dashboard when linked, the linking page otherwise."""
    if not HolderLink.objects.filter(user=request.user).exists():
        return redirect("accounts:link")
    try:
        return redirect(reverse("dossier:dashboard"))
    except NoReverseMatch:
        return render(request, "accounts/home.html")


@account_required
@never_cache
def link(request: HttpRequest) -> HttpResponse:
    """Link the account to the file the licence's numbers designate, if the account proves it is the holder's
    (``linking.refusal``: FranceConnect's certified identity, or the verified address the file holds)."""
    if HolderLink.objects.filter(user=request.user).exists():
        return redirect("accounts:home")
    reason = request.session.get(oidc.LINK_REASON)
    form = LinkForm(request.POST or None)
    error = ""
    account_key = f"user-{request.user.pk}"
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        account = request.user.account
        if throttle.locked("link", request, account_key):
            error = _link_locked_message(throttle.wait("link", request, account_key))
        else:
            licences = list(
                Licence.objects.filter(
                    number=data["number"],
                    dossier_number=data["dossier_number"],
                    format=data["format"],
                    holder__birth_date=data["birth_date"],
                ).select_related("holder")[:2]
            )
            licence = licences[0] if len(licences) == 1 else None
            # One path whatever the numbers: wrong numbers, and right numbers of a file the account does not prove
            # is its own, get the same message from the same work (linking.refusal), so that the page never tells
            # whether a licence exists.
            error = linking.refusal(request, account, licence.holder if licence is not None else None)
            if not error and licence is not None:
                throttle.succeed("link", request, account_key)
                made, _new = linking.link(
                    request, request.user, licence.holder, LinkMethod.LICENCE_FORM, licence=licence
                )
                request.session.pop(oidc.LINK_REASON, None)
                if made.holder_id == licence.holder_id:
                    # Made now, or by a concurrent request of this account (a double click): the same answer.
                    messages.success(request, _("Votre permis est rattaché à votre compte."))
                else:
                    # A concurrent request (another tab) linked another file first: it stays.
                    messages.info(
                        request,
                        _(
                            "Votre compte est déjà rattaché à un permis : un compte ne peut être rattaché "
                            "qu’à un seul permis, les numéros saisis n’ont donc pas été pris en compte."
                        ),
                    )
                return redirect("accounts:home")
            throttle.fail("link", request, account_key)
    return render(
        request,
        "accounts/link.html",
        {"form": form, "error": error, "reason": reason},
        status=400 if error or form.errors else 200,
    )


# --- security: TOTP, recovery codes, sessions ------------------------------------------------------------------


def _account(user: User) -> Account:
    return Account.objects.get(user=user)  # @account_required: only holders' accounts get here


@account_required
@never_cache
def security(request: HttpRequest) -> HttpResponse:
    account = _account(request.user)
    return render(
        request,
        "accounts/security.html",
        {
            "account": account,
            "local": request.user.has_usable_password(),
            "recovery_left": RecoveryCode.objects.filter(user=request.user, used_at__isnull=True).count(),
            "app_sessions": list(app_sessions.active(request.user.pk)),
        },
    )


@require_POST
@holder_required  # a session works only while its account is linked: an unlinked account has none to end
def app_session_revoke(request: HttpRequest, session_id: int) -> HttpResponse:
    """Ends one of the account's application sessions; another account's answers as an unknown one."""
    row = app_sessions.revoke(request.user.pk, session_id)
    if row is None:
        raise Http404
    logger.info("account %s: application session %s ended from the security page", request.user.pk, row.pk)
    messages.success(request, _("L’application « %(device)s » est déconnectée.") % {"device": row.device})
    return redirect("accounts:security")


@account_required
@never_cache
def totp_setup(request: HttpRequest) -> HttpResponse:
    account = _account(request.user)
    if account.totp_enabled:
        return redirect("accounts:security")
    secret = request.session.get("permis_totp_secret")
    if not secret:
        secret = request.session["permis_totp_secret"] = totp.new_secret()
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        step = totp.matching_step(secret, form.cleaned_data["code"])
        if step is not None:
            with transaction.atomic():
                account.totp_secret, account.totp_enabled, account.totp_last_step = secret, True, step
                account.save(update_fields=["totp_secret", "totp_enabled", "totp_last_step"])
                codes = second_factor.issue_recovery_codes(request.user)
            del request.session["permis_totp_secret"]
            return render(request, "accounts/recovery_codes.html", {"codes": codes})
        form.add_error(
            "code", _("Ce code n’est pas valable : saisissez le code affiché maintenant par l’application.")
        )
    uri = totp.provisioning_uri(secret, request.user.email or request.user.username)
    qr = segno.make(uri, error="m").svg_inline(scale=5, title=_("Code QR à scanner avec votre application"))
    return render(
        request,
        "accounts/totp_setup.html",
        {"form": form, "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)), "qr": qr},
        status=400 if form.errors else 200,
    )


@account_required
@require_POST
def totp_disable(request: HttpRequest) -> HttpResponse:
    account = _account(request.user)
    form = CodeForm(request.POST)
    if (
        form.is_valid()
        and account.totp_enabled
        and _check_second_factor(request.user, form.cleaned_data["code"])
    ):
        account.totp_enabled, account.totp_secret = False, ""
        account.save(update_fields=["totp_enabled", "totp_secret"])
        RecoveryCode.objects.filter(user=request.user).delete()
        messages.success(request, _("La validation en deux étapes est désactivée."))
    else:
        messages.error(request, _("Code non valable : la validation en deux étapes reste active."))
    return redirect("accounts:security")


def _leave(request: HttpRequest, id_token: str | None) -> HttpResponse:
    """After Django's logout: end FranceConnect's session too when it signed this one in."""
    if id_token and oidc.enabled():
        query = urlencode(
            {
                "id_token_hint": id_token,
                "state": secrets.token_urlsafe(16),
                "post_logout_redirect_uri": request.build_absolute_uri(reverse("accounts:logged_out")),
            }
        )
        return HttpResponseRedirect(f"{settings.OIDC_OP_LOGOUT_ENDPOINT}?{query}")
    return redirect("accounts:logged_out")


@public
@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    id_token = request.session.get("oidc_id_token")
    logout(request)
    return _leave(request, id_token)


@account_required
@require_POST
def logout_everywhere(request: HttpRequest) -> HttpResponse:
    """Ends every session of the account (other browsers, other devices), this one included."""
    user = request.user
    id_token = request.session.get("oidc_id_token")
    ended = sessions.end_all(user)
    logger.info("account %s: %s session(s) ended (log out everywhere)", user.pk, ended)
    logout(request)
    return _leave(request, id_token)


# --- password reset: Django's views, an invalid form answered 400 like every form of the site -------------------


class _InvalidFormIs400:
    """Django's form views answer an invalid form with 200; the site's pages answer 400 (the same page, with its
    errors), so that a form's failure is one status everywhere (tests/portal/test_form_statuses.py)."""

    def form_invalid(self, form: Any) -> HttpResponse:
        response = super().form_invalid(form)  # type: ignore[misc]
        response.status_code = 400
        return response


class HolderPasswordResetForm(PasswordResetForm):
    """Django's form, for holders' accounts only: an agent's password is never reset from the holders' pages
    (an agent asks an administrator: ``permis changepassword``), so the e-mail goes to no one else."""

    def get_users(self, email: str) -> Any:
        return (user for user in super().get_users(email) if Account.objects.filter(user=user).exists())


class PasswordResetView(_InvalidFormIs400, auth_views.PasswordResetView):
    form_class = HolderPasswordResetForm


class PasswordResetConfirmView(_InvalidFormIs400, auth_views.PasswordResetConfirmView):
    def form_valid(self, form: Any) -> HttpResponse:
        """A new password ends the account's sign-in lockout: the failures were guesses of the old one, and the
        lockout message sends here. The client address's count stays (a spray from one address goes on)."""
        response = super().form_valid(form)
        throttle.succeed("login", self.request, form.user.username)
        # The new password ends the browsers' sessions (Django's session hash): the applications' end with them.
        ended = app_sessions.revoke_all(form.user.pk)
        logger.info(
            "account %s: password reset, its sign-in failures cleared, %s application session(s) ended",
            form.user.pk,
            ended,
        )
        return response

    def get_user(self, uidb64: str) -> Any:
        """A link for anyone but a holders' account is an invalid link (as an unknown or used one)."""
        user = super().get_user(uidb64)
        return user if user is not None and Account.objects.filter(user=user).exists() else None


@public
def logged_out(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/logged_out.html")


@public
def franceconnect_failed(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/franceconnect_failed.html", status=400)
