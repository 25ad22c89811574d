"""`permis agent create|list|disable|reset-2fa|enrolment-code`: the préfecture agents, supervisors and auditors of the back office.

An agent signs in at /gestion/connexion/ with their email and password, then the code of their authenticator
application (the second factor, set up at their first sign-in; ``permis.backoffice.sign_in``). ``create`` sets the password from
standard input (``--password-from-stdin``, one line: never on the command line, where ``ps`` and the shell's
history would show it) or leaves the account without one until ``permis changepassword EMAIL``. An agent
(role ``agent``) needs their départements: they only see the files of holders living there; a supervisor
sees every file and an auditor none (PRODUCT.md, the actors table). ``disable`` closes the account at once
(an inactive account's sessions no longer sign in); nothing is deleted, since the access log names the agent.
``reset-2fa`` is for an agent who lost their phone: it removes their second factor and recovery codes and ends
their sessions, and is written to the logs (``permis.backoffice``, with the system user who ran it); the agent
sets up a new factor at their next sign-in, so check first that the request really comes from them.

Setting up a second factor takes, besides the password, a single-use enrolment code (``permis.backoffice.
enrolment``, valid 7 days): ``create`` and ``reset-2fa`` print one, ``enrolment-code`` issues a new one (an
expired code, an agent created before the codes existed). Hand it to the agent apart from the password.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from permis.accounts import second_factor, sessions
from permis.backoffice import enrolment
from permis.backoffice.access import normalise_departement, valid_departement
from permis.backoffice.models import AgentProfile, AgentRole
from permis.backoffice.roles import assign_role

logger = logging.getLogger("permis.backoffice")


def parse_departements(text: str) -> list[str]:
    """ "75,92, 2a" → ["75", "92", "2A"]; an unknown code is an error that names it."""
    codes = [normalise_departement(part) for part in text.split(",") if part.strip()]
    wrong = [code for code in codes if not valid_departement(code)]
    if wrong:
        raise CommandError(
            f"--departements: {', '.join(wrong)} is not a département code (two digits, 2A/2B, or three "
            "digits overseas, e.g. 75,92,971)",
            returncode=2,
        )
    return sorted(set(codes), key=codes.index)


class Command(BaseCommand):
    help = (
        "Create, list or disable the back office's agents (roles agent, supervisor, auditor), or reset an "
        "agent's second factor."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        action = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        create = action.add_parser("create", help="create an agent's account and profile")
        create.add_argument("--email", required=True, help="the agent's email, also their login")
        create.add_argument("--role", required=True, choices=AgentRole.values)
        create.add_argument(
            "--departements",
            default="",
            help="the départements whose files the agent sees, comma-separated (e.g. 75,92); role agent only",
        )
        create.add_argument("--first-name", default="")
        create.add_argument("--last-name", default="")
        create.add_argument("--service", default="", help="e.g. 'Préfecture de police, bureau des permis'")
        create.add_argument(
            "--password-from-stdin", action="store_true", help="read the password from standard input"
        )
        action.add_parser("list", help="list the agents, their role and départements")
        disable = action.add_parser(
            "disable", help="disable an agent's account (it is kept: the log names it)"
        )
        disable.add_argument("email")
        reset = action.add_parser(
            "reset-2fa",
            help="remove an agent's second factor (a lost phone): they set up a new one at their next sign-in",
        )
        reset.add_argument("email", help="the agent's login")
        code = action.add_parser(
            "enrolment-code",
            help="issue a new single-use enrolment code for an agent without a second factor (it replaces any "
            "former one)",
        )
        code.add_argument("email", help="the agent's login")

    def handle(self, *args, action: str, **options) -> None:
        getattr(self, f"_{action.replace('-', '_')}")(**options)

    @transaction.atomic
    def _create(
        self,
        *,
        email: str,
        role: str,
        departements: str,
        first_name: str,
        last_name: str,
        service: str,
        password_from_stdin: bool,
        **options,
    ) -> None:
        email = email.strip().lower()
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"--email: {email!r} is not an email address", returncode=2) from None
        codes = parse_departements(departements)
        if role == AgentRole.AGENT and not codes:
            raise CommandError(
                "--departements: an agent needs at least one département (e.g. 75,92)", returncode=2
            )
        if role != AgentRole.AGENT and codes:
            raise CommandError(
                f"--departements: a {role} has no départements (a supervisor sees every file, an auditor none)",
                returncode=2,
            )
        User = get_user_model()
        if User.objects.filter(username__iexact=email).exists():
            raise CommandError(f"an account {email} already exists (permis agent list)", returncode=2)
        user = User(username=email, email=email, first_name=first_name, last_name=last_name)
        if password_from_stdin:
            password = sys.stdin.readline().rstrip("\n")
            try:
                validate_password(password, user)
            except ValidationError as error:
                raise CommandError("the password: " + " ".join(error.messages), returncode=2) from None
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
        profile = assign_role(user, role, codes, service=service)
        where = ", ".join(profile.departements) or (
            "every file" if role == AgentRole.SUPERVISOR else "no file"
        )
        self.stdout.write(f"agent {email} created: role {role}, départements {where}")
        if not password_from_stdin:
            self.stdout.write(f"no password yet: set it with `permis changepassword {email}`")
        self._hand_over(profile)

    def _list(self, **options) -> None:
        rows = AgentProfile.objects.select_related("user").order_by("role", "user__username")
        count = 0
        for profile in rows:
            user = profile.user
            state = "active" if user.is_active else "disabled"
            factor = enrolment.state(profile)
            self.stdout.write(
                f"{user.get_username():40} {profile.role:10} {','.join(profile.departements) or '-':20} "
                f"{state:9} {factor}"
            )
            count += 1
        self.stdout.write(f"{count} agent(s)")

    def _disable(self, *, email: str, **options) -> None:
        updated = (
            get_user_model()
            .objects.filter(username__iexact=email.strip(), agent_profile__isnull=False, is_active=True)
            .update(is_active=False)
        )
        if not updated:
            raise CommandError(f"no active agent {email!r} (permis agent list)", returncode=2)
        self.stdout.write(f"agent {email} disabled")

    def _reset_2fa(self, *, email: str, **options) -> None:
        profile = (
            AgentProfile.objects.select_related("user").filter(user__username__iexact=email.strip()).first()
        )
        if profile is None:
            raise CommandError(f"no agent {email!r} (permis agent list)", returncode=2)
        user = profile.user
        had = profile.totp_enabled
        with transaction.atomic():
            codes = second_factor.remove(profile, user)
        # Whoever holds the lost phone and the password must not keep a session open either.
        ended = sessions.end_all(user)
        logger.warning(
            "agent %s: second factor reset by system user %s (permis agent reset-2fa); %s recovery code(s) "
            "deleted, %s session(s) ended",
            user.get_username(),
            _system_user(),
            codes,
            ended,
        )
        state = "second factor removed" if had else "no second factor was set"
        self.stdout.write(
            f"agent {user.get_username()}: {state}, {codes} recovery code(s) deleted, {ended} session(s) ended"
        )
        self._hand_over(profile)

    def _enrolment_code(self, *, email: str, **options) -> None:
        profile = (
            AgentProfile.objects.select_related("user").filter(user__username__iexact=email.strip()).first()
        )
        if profile is None:
            raise CommandError(f"no agent {email!r} (permis agent list)", returncode=2)
        if profile.totp_enabled:
            raise CommandError(
                f"agent {profile.user.get_username()} already has a second factor; to replace it (a lost "
                "phone), run `permis agent reset-2fa`, which issues an enrolment code",
                returncode=2,
            )
        logger.warning(
            "agent %s: enrolment code issued by system user %s (permis agent enrolment-code)",
            profile.user.get_username(),
            _system_user(),
        )
        self._hand_over(profile)

    def _hand_over(self, profile: AgentProfile) -> None:
        """Issue an enrolment code and print it, with what to do with it."""
        code, expires = enrolment.issue(profile)
        self.stdout.write(
            f"enrolment code for {profile.user.get_username()}: {code} (single use, valid until "
            f"{timezone.localtime(expires):%Y-%m-%d %H:%M}); hand it to the agent apart from the password "
            "(in person or by another channel): with it they set up their second factor at their next sign-in"
        )


def _system_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return "unknown"
