"""The agents' sign-in under /gestion/connexion/: a password, then a second factor, which every agent must have.

1. ``AgentLoginView`` (/gestion/connexion/): Django's sign-in form, for agents only: a user with an
   ``AgentProfile`` and no holders' ``Account`` (anyone else, a holder's account included, gets the same
   "wrong login or password" as a wrong password). A right password signs nobody in: it leaves in the session
   who passed it, when, and where to go afterwards (``PENDING``), and sends to step 2.
2. ``code`` (/gestion/connexion/code/, within 5 minutes of the password): the 6-digit code of the agent's
   authenticator application, or one of their recovery codes (``permis.accounts.second_factor``, the holders'
   own: the current 30-second step or one either side, never a step already used). Only then ``login()``.
   ``enrol`` (/gestion/connexion/double-authentification/, within 15 minutes): an agent without a second
   factor gets a new secret instead, as a QR code and as text, and confirms it with a code and with the
   single-use enrolment code an administrator handed over (``permis.backoffice.enrolment``: the password
   alone never lets anyone choose an agent's second factor); the factor is saved, the enrolment code used up,
   the agent signed in and their recovery codes shown once. An agent is never signed in without it:
   there is no setting to turn the requirement off, not even in development (the demo's agents enrol too).

Throttling (``permis.accounts.throttle``, action ``agent_login``): a wrong password and a wrong code count alike,
for the login and for the client address, and only a complete sign-in clears the login's count, so knowing
the password buys no fresh tries at the code.

A lost phone: an administrator runs ``permis agent reset-2fa LOGIN``, which removes the factor and the recovery
codes and ends the agent's sessions; the agent enrols again at their next sign-in (docs/backoffice.md).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from permis.accounts import second_factor, throttle, totp
from permis.config.access import public
from permis.digits import ascii_digits
from permis.portal.forms import DsfrFormMixin

from . import enrolment
from .models import AgentProfile

logger = logging.getLogger(__name__)

# The throttle's counters of the agents' sign-in (password and code alike), apart from the holders' ("login").
LOGIN_ACTION = "agent_login"
PENDING = "permis_agent_sign_in"  # session: {"user", "at", "next", "hash"} between the password and the code
CODE_MAX_AGE = 5 * 60  # seconds from the password to the code
ENROL_MAX_AGE = 15 * 60  # enrolling may mean installing an application first
BACKEND = "django.contrib.auth.backends.ModelBackend"


def locked_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Trop de tentatives de connexion ont échoué : par sécurité, réessayez dans %(minutes)d minute.",
        "Trop de tentatives de connexion ont échoué : par sécurité, réessayez dans %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


def agents() -> Any:
    """The users who may sign in here: an agent's profile, an active user, never a holders' account."""
    return get_user_model().objects.filter(is_active=True, agent_profile__isnull=False, account__isnull=True)


# -- step 1: the password -----------------------------------------------------------------------------------------
class AgentLoginForm(AuthenticationForm):
    """Django's sign-in form, for agents only, with the holders' throttle: past the limit of failures for the
    login typed (whether it exists or not) or for the client address, every attempt is refused, even with the
    right password, until the window has passed."""

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not agents().filter(pk=user.pk).exists():
            # The same words as a wrong password: the page never tells which logins are holders' accounts.
            raise self.get_invalid_login_error()

    def clean(self) -> dict[str, Any]:
        username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if username is None or not password:
            return super().clean()  # a field is missing: nothing was tried, nothing is counted
        if throttle.locked(LOGIN_ACTION, self.request, username):
            raise forms.ValidationError(
                locked_message(throttle.wait(LOGIN_ACTION, self.request, username)), code="locked"
            )
        try:
            return super().clean()
        except forms.ValidationError:
            throttle.fail(LOGIN_ACTION, self.request, username)
            raise
        # No success is counted yet: the count is cleared once the second factor has passed too.


class AgentLoginView(auth_views.LoginView):
    """A right password leads to the second factor (``login()`` waits for it); a refused sign-in shows the form
    again with its error, status 400 (as the holders' sign-in)."""

    form_class = AgentLoginForm

    def form_valid(self, form: AgentLoginForm) -> HttpResponse:
        user = form.get_user()
        self.request.session[PENDING] = {
            "user": user.pk,
            "at": int(time.time()),
            "next": self.get_success_url(),
            # A password changed meanwhile (or the account reset) voids the step: the session's check of Django.
            "hash": user.get_session_auth_hash(),
        }
        enrolled = AgentProfile.objects.filter(user=user, totp_enabled=True).exists()
        return redirect("agent:login_code" if enrolled else "agent:login_enrol")

    def form_invalid(self, form: AgentLoginForm) -> HttpResponse:
        response = super().form_invalid(form)
        response.status_code = 400
        return response


# -- step 2: the code ---------------------------------------------------------------------------------------------
class AgentCodeForm(DsfrFormMixin, forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code à 6 chiffres"),
        help_text=gettext_lazy(
            "Affiché par votre application d’authentification ; il change toutes les 30 secondes."
        ),
        error_messages={
            "required": gettext_lazy("Saisissez le code à 6 chiffres affiché par votre application.")
        },
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autocapitalize": "none",
                "spellcheck": "false",
            }
        ),
    )

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split())
        if not (ascii_digits(code) and len(code) == totp.DIGITS):
            raise forms.ValidationError(
                _(
                    "Le code comporte 6 chiffres, sans lettre ni autre signe : saisissez-le tel que l’application l’affiche."
                )
            )
        return code


class RecoveryCodeForm(DsfrFormMixin, forms.Form):
    recovery = forms.CharField(
        label=gettext_lazy("Code de secours"),
        help_text=gettext_lazy(
            "L’un des codes notés à l’activation, par exemple 1A2B3-C4D5E ; chacun ne sert qu’une fois."
        ),
        max_length=20,
        error_messages={
            "required": gettext_lazy("Saisissez l’un de vos codes de secours."),
            "max_length": gettext_lazy(
                "Un code de secours compte 10 caractères et un tiret : vérifiez votre saisie."
            ),
        },
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )


class EnrolForm(AgentCodeForm):
    """The first sign-in: the enrolment code handed over by the administrator, then the application's code."""

    enrolment_code = forms.CharField(
        label=gettext_lazy("Code d’activation"),
        help_text=gettext_lazy(
            "Remis par l’administrateur de l’espace de gestion avec votre compte, par exemple ABCD-EFGH-JKMN ; "
            "il ne sert qu’une fois."
        ),
        max_length=30,
        error_messages={
            "required": gettext_lazy("Saisissez le code d’activation remis par l’administrateur."),
            "max_length": gettext_lazy("Un code d’activation compte 12 caractères : vérifiez votre saisie."),
        },
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )
    field_order = ("enrolment_code", "code")


def _pending(request: HttpRequest, max_age: int) -> tuple[Any, dict[str, Any]] | None:
    """The agent whose password was accepted in this session less than `max_age` seconds ago, and the step's
    state; None when there is none, it is too old, or the agent has changed since (disabled, new password)."""
    pending = request.session.get(PENDING)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > max_age:
        return None
    user = agents().select_related("agent_profile").filter(pk=pending.get("user")).first()
    if user is None or not constant_time_compare(user.get_session_auth_hash(), pending.get("hash", "")):
        return None
    return user, pending


def _start_again(request: HttpRequest) -> HttpResponse:
    request.session.pop(PENDING, None)
    if not request.user.is_authenticated:  # signed in already: the login page sends on, with nothing to say
        messages.info(request, _("Identifiez-vous de nouveau : la saisie du code a expiré."))
    return redirect("agent:login")


def _sign_in(request: HttpRequest, user: Any, pending: dict[str, Any]) -> None:
    """The second factor has passed: clear the login's failures, then sign in (a new session key)."""
    throttle.succeed(LOGIN_ACTION, request, user.get_username())
    request.session.pop(PENDING, None)
    login(request, user, backend=BACKEND)


@public
@sensitive_post_parameters("code", "recovery")
@never_cache
def code(request: HttpRequest) -> HttpResponse:
    found = _pending(request, CODE_MAX_AGE)
    if found is None:
        return _start_again(request)
    user, pending = found
    profile = user.agent_profile
    if not profile.totp_enabled:  # reset since the password: enrol again
        return redirect("agent:login_enrol")
    use_recovery = request.method == "POST" and "recovery" in request.POST
    code_form = AgentCodeForm(request.POST if request.method == "POST" and not use_recovery else None)
    recovery_form = RecoveryCodeForm(request.POST if use_recovery else None)
    form, field = (recovery_form, "recovery") if use_recovery else (code_form, "code")
    error = ""
    if request.method == "POST" and form.is_valid():
        login_name = user.get_username()
        value = form.cleaned_data[field]
        if throttle.locked(LOGIN_ACTION, request, login_name):
            error = locked_message(throttle.wait(LOGIN_ACTION, request, login_name))
        elif use_recovery and second_factor.use_recovery_code(user, value):
            _sign_in(request, user, pending)
            left = second_factor.recovery_codes_left(user)
            logger.warning("agent %s signed in with a recovery code (%s left)", login_name, left)
            messages.info(
                request,
                _(
                    "Connexion faite avec un code de secours (codes de secours restants : %(left)d). Si vous "
                    "avez perdu votre téléphone, demandez à l’administrateur de l’espace de gestion de "
                    "réinitialiser votre validation en deux étapes."
                )
                % {"left": left},
            )
            return redirect(pending["next"])
        elif not use_recovery and second_factor.check_code(profile, value):
            _sign_in(request, user, pending)
            logger.info("agent %s signed in", login_name)
            return redirect(pending["next"])
        else:
            throttle.fail(LOGIN_ACTION, request, login_name)
            form.add_error(
                field,
                _("Ce code de secours n’est pas valable ou a déjà servi : vérifiez votre saisie.")
                if use_recovery
                else _(
                    "Ce code n’est pas valable : saisissez le code affiché maintenant par votre application "
                    "(un code ne sert qu’une fois ; s’il vient de servir, attendez le suivant)."
                ),
            )
    return render(
        request,
        "backoffice/sign_in/code.html",
        {"code_form": code_form, "recovery_form": recovery_form, "error": error},
        status=400 if error or form.errors else 200,
    )


@public
@sensitive_post_parameters("code", "enrolment_code")
@never_cache
def enrol(request: HttpRequest) -> HttpResponse:
    found = _pending(request, ENROL_MAX_AGE)
    if found is None:
        return _start_again(request)
    user, pending = found
    profile = user.agent_profile
    if profile.totp_enabled:  # enrolled meanwhile (another window): the code, not a second secret
        return redirect("agent:login_code")
    secret = pending.get("secret")
    if not secret:
        pending["secret"] = secret = totp.new_secret()
        request.session[PENDING] = pending
    form = EnrolForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        login_name = user.get_username()
        step = totp.matching_step(secret, form.cleaned_data["code"])
        if throttle.locked(LOGIN_ACTION, request, login_name):
            error = locked_message(throttle.wait(LOGIN_ACTION, request, login_name))
        elif not enrolment.valid(profile, form.cleaned_data["enrolment_code"]):
            # Counted like a wrong password: the code is what stands between a known password and the account.
            throttle.fail(LOGIN_ACTION, request, login_name)
            logger.warning("agent %s: enrolment refused, wrong or expired enrolment code", login_name)
            form.add_error(
                "enrolment_code",
                _(
                    "Ce code d’activation n’est pas valable ou a expiré (un code est valable %(days)d jours) : vérifiez "
                    "votre saisie, ou demandez un nouveau code à l’administrateur de l’espace de gestion."
                )
                % {"days": enrolment.VALID_DAYS},
            )
        elif step is not None:
            with transaction.atomic():
                if not second_factor.enable(profile, secret, step):
                    return redirect("agent:login_code")
                enrolment.use(profile)
                codes = second_factor.issue_recovery_codes(user)
            _sign_in(request, user, pending)
            logger.info("agent %s enrolled a second factor and signed in", login_name)
            return render(
                request, "backoffice/sign_in/recovery_codes.html", {"codes": codes, "next": pending["next"]}
            )
        else:
            form.add_error(
                "code",
                _(
                    "Ce code n’est pas valable : vérifiez que l’application a bien enregistré la clé ci-dessus, "
                    "puis saisissez le code qu’elle affiche maintenant."
                ),
            )
    return render(
        request,
        "backoffice/sign_in/enrol.html",
        {"form": form, "error": error, **second_factor.setup_display(secret, user.get_username())},
        status=400 if error or form.errors else 200,
    )
